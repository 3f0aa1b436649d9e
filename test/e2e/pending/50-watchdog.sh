# The watchdog: with the test-only failpoint that blocks the pipeline at
# its first record, systemd's watchdog fires and Restart= brings the
# service back; without it the service stays up.
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
victim victim50 330 'SystemCallFilter=@system-service'
systemctl start victim50.service || true
[[ "$(prop seccompwatch.service WatchdogUSec)" == 6s ]] || fail "WatchdogUSec=$(prop seccompwatch.service WatchdogUSec)"
# (Not NRestarts: in a run here the journal said "restart counter is at
# 1" while systemctl show -P NRestarts kept reading 0.)
t0=$SECONDS
fired() { journalctl -u seccompwatch.service -b --no-pager -o cat | grep -q "Failed with result 'watchdog'"; }
if ! (wait_for 420 fired); then
	journalctl -u seccompwatch.service -b --no-pager -o cat | tail -n 40 >&2
	http /metrics | grep -E '^seccompwatch_(audit_records|denials_total)' >&2 || true
	fail "the watchdog did not fire on the stalled service"
fi
journalctl -u seccompwatch.service -b --no-pager -o cat >"$E2E_OUT/journal.txt"
grep -q 'Watchdog timeout' "$E2E_OUT/journal.txt" || fail "no watchdog timeout in the journal"
wait_for 120 test "$(prop seccompwatch.service ActiveState)" = active
[[ "$(prop seccompwatch.service MainPID)" != "$pid" ]] || fail "same pid after the restart"
echo "watchdog fired and the service was restarted $((SECONDS - t0)) s after the stalling record"
journalctl -u seccompwatch.service -u victim50.service -b --no-pager -o short-monotonic |
	grep -E 'Watchdog timeout|Scheduled restart|victim50.service: Main process exited|Started seccompwatch' >&2 || true

# The failpoint is off by default: the same denial, no stall.
rm -rf /etc/systemd/system/seccompwatch.service.d
systemctl daemon-reload
systemctl restart seccompwatch.service
pid=$(prop seccompwatch.service MainPID)
systemctl start victim50.service || true
wait_for 60 test "$(denials_of victim50.service)" -ge 1
sleep 8
[[ "$(prop seccompwatch.service MainPID)" == "$pid" && "$(prop seccompwatch.service ActiveState)" == active ]] ||
	fail "restarted without the failpoint"
echo "ok: watchdog restart on a stalled pipeline; none without the failpoint"
