# chrony (Debian's chrony.service, which has its own deny-list filter)
# under the common checklist: chronyd needs the clock, so the checklist's
# ProtectClock=yes (and an @system-service allow-list, which lacks @clock)
# kill its start. seccompwatch tells that from the denial's record
# (suggest: the filter and ProtectClock=, held back as risky/deliberate),
# apply with the opt-ins lifts it, chronyd runs. Then learn (eBPF, no
# restart) proposes the rest of the sandbox and apply --learned installs
# it: chronyd restarted runs clean and answers chronyc.
. "$E2E/lib.sh"
SW=$E2E/bin/seccompwatch
EXE=/usr/sbin/chronyd
loop=
cleanup() {
	[[ -z "$loop" ]] || kill "$loop" 2>/dev/null || true
	audit_off
	systemctl stop chrony.service 2>/dev/null || true
	rm -rf /etc/systemd/system/chrony.service.d
	systemctl daemon-reload
	systemctl reset-failed chrony.service 2>/dev/null || true
}
trap cleanup EXIT
audit_on
seccomp_log_on
errno_visible
vendor=$(systemd-analyze security --offline=true --no-pager /lib/systemd/system/chrony.service | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
# The empty assignment first: Debian's unit starts a deny-list, after which
# @system-service would only be removed from it.
harden chrony.service 'SystemCallFilter=' "$CHECKLIST"
systemctl daemon-reload
hardened=$(exposure_of chrony.service)
cur=$(audit_cursor)
systemctl start chrony.service && fail "chronyd started under ProtectClock=yes"
wait_for 20 seccomp_seen "$cur" "$EXE"
seccomp_records "$cur" "$EXE" | tee "$E2E_OUT/denied.txt"
journalctl -u chrony.service -b -n 30 --no-pager -o cat | grep -i 'not permitted' || true

# The tool says why, from the records (auditd's audit.log lines of chronyd).
seccomp_records "$cur" "$EXE" >"$E2E_OUT/audit.log"
"$SW" suggest --replay "$E2E_OUT/audit.log" --unit chrony.service --root / | tee "$E2E_OUT/suggest.txt"
grep -q 'ProtectClock' "$E2E_OUT/suggest.txt" || fail "the suggestion does not name ProtectClock="
"$SW" apply --replay "$E2E_OUT/audit.log" --replay.attribute-all --yes chrony.service >"$E2E_OUT/apply-held.txt" 2>&1 &&
	fail "apply without the opt-ins wrote: $(cat "$E2E_OUT/apply-held.txt")"
cat "$E2E_OUT/apply-held.txt"
grep -q 'held back.*ProtectClock\|ProtectClock.*needs --allow ProtectClock' "$E2E_OUT/apply-held.txt" || fail "ProtectClock=no was not held back for its opt-in"
# With the opt-ins, round by round: apply what the last start's records
# show, restart, until a start leaves no record (clone3 aside: Debian's own
# RestrictNamespaces=yes answers it ENOSYS at every start, and glibc falls
# back to clone; FACTS.md).
for round in 1 2 3 4; do
	"$SW" apply --replay "$E2E_OUT/audit.log" --replay.attribute-all --allow-risky --allow ProtectClock --yes chrony.service |
		tee "$E2E_OUT/apply-$round.txt"
	systemctl reset-failed chrony.service
	cur=$(audit_cursor)
	systemctl restart chrony.service || true
	sleep 5
	rec=$(seccomp_records "$cur" "$EXE" 435)
	[[ -z "$rec" && "$(prop chrony.service ActiveState)" == active ]] && break
	((round < 4)) || fail "chronyd does not run clean after 4 rounds: $rec"
	[[ -n "$rec" ]] || fail "chronyd is $(prop chrony.service ActiveState) and left no record"
	echo "round $round: still denied: $rec"
	echo "$rec" >"$E2E_OUT/audit.log"
done
echo "chronyd runs after $round round(s); the drop-in:"
cat /etc/systemd/system/chrony.service.d/50-seccompwatch.conf
grep -qx 'ProtectClock=no' /etc/systemd/system/chrony.service.d/50-seccompwatch.conf || fail "no ProtectClock=no"
lifted=$(exposure_of chrony.service)

# Learn the running chronyd (no restart), apply, restart: clean, answers.
# With no time source reachable chronyd sleeps in one call for minutes
# (a learn of it then made no call in CI and, rightly, proposed nothing):
# chronyc's questions keep it working, as a learn needs.
(while :; do chronyc -n tracking >/dev/null 2>&1; sleep 0.3; done) &
loop=$!
life=$(unit_life chrony.service)
t0=$SECONDS
"$SW" learn chrony.service --for 15s --format json >"$E2E_OUT/learn.json" 2>"$E2E_OUT/learn.err" || fail "learn: $(cat "$E2E_OUT/learn.err")"
echo "learn --for 15s took $((SECONDS - t0)) s"
kill "$loop" 2>/dev/null || true; loop=
[[ "$(unit_life chrony.service)" == "$life" ]] || fail "learn restarted chronyd: $life -> $(unit_life chrony.service)"
json .dropin <"$E2E_OUT/learn.json" | tee "$E2E_OUT/learned.conf"
grep -q '^# ProtectClock: set to no by seccompwatch apply' "$E2E_OUT/learned.conf" && ! grep -q '^#*ProtectClock=yes' "$E2E_OUT/learned.conf" ||
	fail "learn proposes ProtectClock=yes back for chronyd"
"$SW" apply --learned "$E2E_OUT/learn.json" --yes chrony.service | tee "$E2E_OUT/apply-learned.txt"
cur=$(audit_cursor)
systemctl restart chrony.service
chronyc -n tracking >"$E2E_OUT/tracking.txt" || fail "chronyc tracking: $(cat "$E2E_OUT/tracking.txt")"
sleep 3
# clone3: Debian's own RestrictNamespaces=yes answers it ENOSYS at every
# start (glibc falls back to clone; FACTS.md): benign, not the sandbox's.
rec=$(seccomp_records "$cur" "$EXE" 435)
[[ -z "$rec" ]] || fail "chronyd denied with the learned sandbox: $rec"
learned=$(exposure_of chrony.service)
echo "exposure (systemd-analyze security): vendor unit $vendor (offline), checklist $hardened (chronyd cannot start), checklist + lifted $lifted, + learned $learned"
echo "ok: the checklist's ProtectClock= told and lifted with its opt-in; learned and applied; chronyd runs clean and answers"
