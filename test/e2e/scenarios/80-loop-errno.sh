# Closing the loop with errno denials, which leave no record unless the
# service manager loads filters with the log flag:
#   - a SystemCallFilter=@system-service unit with SystemCallErrorNumber=EPERM
#     and a call outside it is first invisible (no record, in the API or the
#     journal); /healthz's visibility check names it and says how to see
#     it;
#   - logging arranged as that check says (ManagerEnvironment=
#     SYSTEMD_LOG_SECCOMP=1 in /etc/systemd/system.conf.d/, never the kernel
#     command line) and the unit restarted: seen, attributed, applied, clean;
#   - MemoryDenyWriteExecute=yes and an mmap W+X (another seccomp-backed
#     directive): verdict directive, apply proposes MemoryDenyWriteExecute=no
#     (with --allow MemoryDenyWriteExecute, not a SystemCallFilter= line),
#     and it runs clean.
# daemon-reload is enough (PID 1 applies ManagerEnvironment= then, though
# /proc/1/environ keeps showing what it was started with). Last of the
# suite by name: the manager's environment keeps what ManagerEnvironment=
# set until it is set again (reset to 0 at the end, then the file goes).
. "$E2E/lib.sh"
CONF=/etc/systemd/system.conf.d/50-log-seccomp.conf
cleanup() {
	if [[ -e $CONF ]]; then
		printf '[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=0\n' >"$CONF"
		systemctl daemon-reload
		rm -f "$CONF"
	fi
	rm -rf /etc/systemd/system/{errno80,mdwe80}.service /etc/systemd/system/{errno80,mdwe80}.service.d
	purge_deb
}
trap cleanup EXIT
[[ ! -e $CONF ]] || fail "$CONF exists before the scenario"
grep -q SYSTEMD_LOG_SECCOMP /proc/cmdline && fail "SYSTEMD_LOG_SECCOMP on the kernel command line"
loop_unit errno80.service sysc 330 'SystemCallFilter=@system-service' 'SystemCallErrorNumber=EPERM'
e_errno=$LOOP_EXE
# mmap(NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
loop_unit mdwe80.service sysc '9 0 0 4096 7 0x22 -1 0' 'MemoryDenyWriteExecute=yes'
e_mdwe=$LOOP_EXE
install_deb
systemctl start seccompwatch.service

# Invisible: the call fails (EPERM), nothing is recorded.
systemctl start errno80.service mdwe80.service
journalctl -u errno80.service -b --no-pager -o cat | grep -q '^syscall 330 returned -1, errno 1$' || fail "errno80 was not denied: $(journalctl -u errno80.service -b --no-pager -o cat)"
journalctl -u mdwe80.service -b --no-pager -o cat | grep -q '^syscall 9 returned -1, errno 1$' || fail "mdwe80 was not denied: $(journalctl -u mdwe80.service -b --no-pager -o cat)"
sync_daemon
[[ "$(denials_of errno80.service)/$(denials_of mdwe80.service)" == 0/0 ]] || fail "errno denials seen without logging"
[[ "$(journal_records "$e_errno")/$(journal_records "$e_mdwe")" == 0/0 ]] || fail "errno records in the journal without logging"
# ... and seccompwatch says why and how to see them.
curl -sS "$API/healthz" >"$E2E_OUT/healthz-before.json"
vis=$(json .checks.visibility <"$E2E_OUT/healthz-before.json")
echo "visibility before: $vis"
[[ "$(json .ok <<<"$vis")" == false ]] || fail "the visibility check sees no problem: $vis"
for want in errno80.service mdwe80.service 'ManagerEnvironment=SYSTEMD_LOG_SECCOMP=1' system.conf.d; do
	grep -qF -- "$want" <<<"$vis" || fail "the visibility check does not say $want: $vis"
done
http /metrics | grep -E '^seccompwatch_visibility' >"$E2E_OUT/visibility-before.txt" || true

# Logging arranged as the check says.
mkdir -p /etc/systemd/system.conf.d
printf '[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n' >"$CONF"
t0=$SECONDS
systemctl daemon-reload
echo "daemon-reload: $((SECONDS - t0)) s; PID 1's environ has SYSTEMD_LOG_SECCOMP: $(tr '\0' '\n' </proc/1/environ | grep -c SYSTEMD_LOG_SECCOMP || true)"
systemctl start errno80.service
sync_daemon
[[ "$(denials_of errno80.service)" -ge 1 ]] || fail "errno80 still invisible after daemon-reload"
systemctl reload seccompwatch.service
sleep 1
curl -sS "$API/healthz" >"$E2E_OUT/healthz-after.json"
echo "visibility after: $(json .checks.visibility <"$E2E_OUT/healthz-after.json")"

closes_loop errno80.service "$e_errno" filter pkey_alloc
[[ "$(http '/api/v1/denials?unit=errno80.service' | json '.denials[0].action')" == errno ]] || fail "errno80: $(http '/api/v1/denials?unit=errno80.service')"
journalctl -u errno80.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1 | grep -v -q 'errno 1$' || fail "errno80 still denied: $(journalctl -u errno80.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1)"

systemctl start mdwe80.service
wait_for 60 test "$(denials_of mdwe80.service)" -ge 1
http '/api/v1/suggestions/mdwe80.service?format=dropin' >"$E2E_OUT/mdwe80.conf"
grep -q '^SystemCallFilter=' "$E2E_OUT/mdwe80.conf" && fail "a SystemCallFilter= line for a directive's denial: $(cat "$E2E_OUT/mdwe80.conf")"
if /usr/bin/seccompwatch apply --yes mdwe80.service >"$E2E_OUT/mdwe80.held.txt" 2>&1; then
	fail "apply undid MemoryDenyWriteExecute= without --allow: $(cat "$E2E_OUT/mdwe80.held.txt")"
fi
grep -q 'needs --allow MemoryDenyWriteExecute' "$E2E_OUT/mdwe80.held.txt" || fail "mdwe80: $(cat "$E2E_OUT/mdwe80.held.txt")"
LOOP_STARTED=1 closes_loop mdwe80.service "$e_mdwe" directive mmap --allow MemoryDenyWriteExecute
grep -qx 'MemoryDenyWriteExecute=no' /etc/systemd/system/mdwe80.service.d/50-seccompwatch.conf || fail "mdwe80: $(cat /etc/systemd/system/mdwe80.service.d/50-seccompwatch.conf)"
grep -q '^SystemCallFilter' /etc/systemd/system/mdwe80.service.d/50-seccompwatch.conf && fail "mdwe80: a SystemCallFilter= line was applied"
journalctl -u mdwe80.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1 | grep -v -q 'errno 1$' || fail "mdwe80 still denied: $(journalctl -u mdwe80.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1)"
echo "ok: errno denials invisible and explained, then seen with the manager logging, applied, clean (filter and MemoryDenyWriteExecute=)"
