# The watchdog: with the test-only failpoint that blocks the pipeline at
# its first record (SECCOMPWATCH_FAILPOINT=stall-on-record, unset in the
# shipped unit), the watchdog pings stop, systemd's watchdog fires and
# Restart= starts a new process. That the failpoint is off by default is
# 20-service's check: a denial handled, NRestarts 0.
#
# The restart is taken as done when systemd has started the new process
# (a new MainPID after "Failed with result 'watchdog'"), not when it is
# READY again: under emulation on a loaded host the daemon's start (mostly
# loading its eBPF programs) was seen to take 80 s and more, and waiting
# for a second READY made this scenario fail at 120 s while the restart
# itself had happened (NRestarts read 0 in an earlier run while the
# journal said "restart counter is at 1": the journal is what is checked).
. "$E2E/lib.sh"
cleanup() { rm -f /etc/systemd/system/victim50.service; purge_deb; }
trap cleanup EXIT
# (The drop-in before the install: the package's postinst reloads.)
mkdir -p /etc/systemd/system/seccompwatch.service.d
printf '[Service]\nEnvironment=SECCOMPWATCH_FAILPOINT=stall-on-record\nWatchdogSec=6s\n' \
	>/etc/systemd/system/seccompwatch.service.d/stall.conf
install_deb
systemctl start seccompwatch.service
pid=$(prop seccompwatch.service MainPID)
[[ "$(prop seccompwatch.service WatchdogUSec)" == 6s ]] || fail "WatchdogUSec=$(prop seccompwatch.service WatchdogUSec)"
victim victim50 330 'SystemCallFilter=@system-service'
t0=$SECONDS
systemctl start victim50.service 2>/dev/null || true
fired() { journalctl -u seccompwatch.service -b --no-pager -o cat | grep -q "Failed with result 'watchdog'"; }
if ! (wait_for 300 fired); then
	journalctl -u seccompwatch.service -b --no-pager -o cat | grep -v '^[[:space:]]\|^goroutine\|^$' | tail -n 40 >&2
	fail "the watchdog did not fire on the stalled service"
fi
t1=$SECONDS
restarted() {
	local p
	p=$(prop seccompwatch.service MainPID)
	[[ "$p" != 0 && "$p" != "$pid" ]]
}
wait_for 120 restarted
journalctl -u seccompwatch.service -b --no-pager -o short-monotonic >"$E2E_OUT/journal.txt"
grep -q 'Watchdog timeout (limit 6s)' "$E2E_OUT/journal.txt" || fail "no watchdog timeout in the journal"
grep -q 'Scheduled restart job, restart counter is at 1' "$E2E_OUT/journal.txt" || fail "no restart scheduled"
grep -E 'Watchdog timeout|Killing process|Failed with result|Scheduled restart|Starting seccompwatch' "$E2E_OUT/journal.txt" | grep -v '^[[:space:]]' >&2 || true
echo "ok: the watchdog fired $((t1 - t0)) s after the stalling record and systemd started a new process (pid $pid -> $(prop seccompwatch.service MainPID)) $((SECONDS - t1)) s later"
