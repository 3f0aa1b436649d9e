# Beside journald's audit reader and a running auditd (Debian's, as
# installed): a burst of kill records reaches all three, none lost.
. "$E2E/lib.sh"
N=200
cleanup() {
	systemctl stop auditd.service 2>/dev/null || true
	rm -f /etc/systemd/system/storm.service
	purge_deb
}
trap cleanup EXIT
systemctl is-active systemd-journald-audit.socket >/dev/null || fail "journald's audit socket is not active"
systemctl start auditd.service
auditctl -s | grep -q "pid $(pidof auditd)" || fail "auditd is not the audit daemon: $(auditctl -s)"
install_deb
systemctl start seccompwatch.service
t0=$(date +%s)

# pkey_free (331), a call no other scenario makes.
victim storm "331 $N" 'SystemCallFilter=@system-service'
systemctl start storm.service
journalctl -u storm.service -b --no-pager -o cat | grep -q "$N of $N children killed" || fail "storm: $(journalctl -u storm.service -b --no-pager -o cat)"

# Every record read (pkey_free denials of any unit: attribution may say
# unknown under load, never another unit), none lost.
seen() { http /metrics | awk '/^seccompwatch_denials_total\{/ && /syscall="pkey_free"/ { n += $2 } END { print n + 0 }'; }
if ! (wait_for 90 test "$(seen)" -ge "$N"); then
	http /metrics | grep -E '^seccompwatch_(records_lost|audit_records|denials_total|attribution_failures)' >&2 || true
	fail "seccompwatch read $(seen) of $N"
fi
http /metrics | grep -E '^seccompwatch_(denials_total\{.*pkey_free|attribution_failures_total)' >"$E2E_OUT/metrics.txt" || true
other=$(http /metrics | awk '/^seccompwatch_denials_total\{/ && /syscall="pkey_free"/ && !/unit="(storm.service|unknown)"/')
[[ -z "$other" ]] || fail "denials of storm.service given to another unit: $other"
ours=$(seen)
unknown=$(http /metrics | awk '/^seccompwatch_denials_total\{/ && /syscall="pkey_free"/ && /unit="unknown"/ { n += $2 } END { print n + 0 }')
wait_for 30 test "$(grep -c 'type=SECCOMP .* syscall=331 ' /var/log/audit/audit.log)" -ge "$N"
auditd=$(grep -c 'type=SECCOMP .* syscall=331 ' /var/log/audit/audit.log)
journal=$(journalctl -b --since "@$t0" _TRANSPORT=audit --no-pager -o cat | grep -c ' syscall=331 ' || true)
echo "records: seccompwatch $ours ($unknown attributed unknown), auditd $auditd, journald $journal (of $N)"
[[ "$ours" == "$N" && "$auditd" == "$N" && "$journal" == "$N" ]] || fail "a reader lost or doubled records"
lost=$(http /metrics | awk '/^seccompwatch_records_lost_total/ && $2 != 0' )
[[ -z "$lost" ]] || fail "seccompwatch counted losses: $lost"
[[ "$(prop seccompwatch.service NRestarts)" == 0 ]] || fail "restarted"
echo "ok: $N of $N records in seccompwatch, auditd and the journal"
