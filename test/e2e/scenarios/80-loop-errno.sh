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
# /proc/1/environ keeps showing what it was started with). The manager's
# environment keeps what ManagerEnvironment= set until it is set again: the
# scenario turns logging off first (a later-sorting file with =0) and
# leaves what it found (the other files' setting, else 0).
. "$E2E/lib.sh"
CONF=/etc/systemd/system.conf.d/50-log-seccomp.conf
OFF=/etc/systemd/system.conf.d/99-e2e-log-seccomp-off.conf
cleanup() {
	rm -f "$CONF" "$OFF"
	if compgen -G '/etc/systemd/system.conf.d/*.conf' >/dev/null; then
		systemctl daemon-reload # what an earlier scenario set holds again
	else
		printf '[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=0\n' >"$OFF"
		systemctl daemon-reload
		rm -f "$OFF"
	fi
	rm -rf /etc/systemd/system/{a80-errno,a80-mdwe}.service /etc/systemd/system/{a80-errno,a80-mdwe}.service.d
	purge_deb
}
trap cleanup EXIT
[[ ! -e $CONF ]] || fail "$CONF exists before the scenario"
grep -q SYSTEMD_LOG_SECCOMP /proc/cmdline && fail "SYSTEMD_LOG_SECCOMP on the kernel command line"
# (Names that sort first: /healthz lists the first 10 errno units.)
loop_unit a80-errno.service sysc 330 'SystemCallFilter=@system-service' 'SystemCallErrorNumber=EPERM'
e_errno=$LOOP_EXE
# mmap(NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
loop_unit a80-mdwe.service sysc '9 0 0 4096 7 0x22 -1 0' 'MemoryDenyWriteExecute=yes'
e_mdwe=$LOOP_EXE
# Logging off, whatever an earlier scenario left on for the boot (a
# system.conf.d file of its own, or the manager's environment that keeps
# what ManagerEnvironment= set): a file that sorts after every other.
mkdir -p /etc/systemd/system.conf.d
printf '[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=0\n' >"$OFF"
systemctl daemon-reload
install_deb
systemctl start seccompwatch.service

# Invisible: the call fails (EPERM), nothing is recorded.
systemctl start a80-errno.service a80-mdwe.service
journalctl -u a80-errno.service -b --no-pager -o cat | grep -q '^syscall 330 returned -1, errno 1$' || fail "a80-errno was not denied: $(journalctl -u a80-errno.service -b --no-pager -o cat)"
journalctl -u a80-mdwe.service -b --no-pager -o cat | grep -q '^syscall 9 returned -1, errno 1$' || fail "a80-mdwe was not denied: $(journalctl -u a80-mdwe.service -b --no-pager -o cat)"
sync_daemon
[[ "$(denials_of a80-errno.service)/$(denials_of a80-mdwe.service)" == 0/0 ]] || fail "errno denials seen without logging"
[[ "$(journal_records "$e_errno")/$(journal_records "$e_mdwe")" == 0/0 ]] || fail "errno records in the journal without logging"
# ... and seccompwatch says why and how to see them.
curl -sS "$API/healthz" >"$E2E_OUT/healthz-before.json"
vis=$(json .checks.visibility <"$E2E_OUT/healthz-before.json")
echo "visibility before: $vis"
[[ "$(json .ok <<<"$vis")" == false ]] || fail "the visibility check sees no problem: $vis"
for want in a80-errno.service a80-mdwe.service 'ManagerEnvironment=SYSTEMD_LOG_SECCOMP=1' system.conf.d; do
	grep -qF -- "$want" <<<"$vis" || fail "the visibility check does not say $want: $vis"
done
http /metrics | grep -E '^seccompwatch_visibility' >"$E2E_OUT/visibility-before.txt" || true

# Logging arranged as the check says.
rm -f "$OFF"
printf '[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n' >"$CONF"
t0=$SECONDS
systemctl daemon-reload
echo "daemon-reload: $((SECONDS - t0)) s; PID 1's environ has SYSTEMD_LOG_SECCOMP: $(tr '\0' '\n' </proc/1/environ | grep -c SYSTEMD_LOG_SECCOMP || true)"
systemctl start a80-errno.service
sync_daemon
[[ "$(denials_of a80-errno.service)" -ge 1 ]] || fail "a80-errno still invisible after daemon-reload"
systemctl reload seccompwatch.service
sleep 1
curl -sS "$API/healthz" >"$E2E_OUT/healthz-after.json"
echo "visibility after: $(json .checks.visibility <"$E2E_OUT/healthz-after.json")"

closes_loop a80-errno.service "$e_errno" filter pkey_alloc
[[ "$(http '/api/v1/denials?unit=a80-errno.service' | json '.denials[0].action')" == errno ]] || fail "a80-errno: $(http '/api/v1/denials?unit=a80-errno.service')"
journalctl -u a80-errno.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1 | grep -v -q 'errno 1$' || fail "a80-errno still denied: $(journalctl -u a80-errno.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1)"

systemctl start a80-mdwe.service
wait_for 60 test "$(denials_of a80-mdwe.service)" -ge 1
http '/api/v1/suggestions/a80-mdwe.service?format=dropin' >"$E2E_OUT/a80-mdwe.conf"
grep -q '^SystemCallFilter=' "$E2E_OUT/a80-mdwe.conf" && fail "a SystemCallFilter= line for a directive's denial: $(cat "$E2E_OUT/a80-mdwe.conf")"
if /usr/bin/seccompwatch apply --yes a80-mdwe.service >"$E2E_OUT/a80-mdwe.held.txt" 2>&1; then
	fail "apply undid MemoryDenyWriteExecute= without --allow: $(cat "$E2E_OUT/a80-mdwe.held.txt")"
fi
grep -q 'needs --allow MemoryDenyWriteExecute' "$E2E_OUT/a80-mdwe.held.txt" || fail "a80-mdwe: $(cat "$E2E_OUT/a80-mdwe.held.txt")"
LOOP_STARTED=1 closes_loop a80-mdwe.service "$e_mdwe" directive mmap --allow MemoryDenyWriteExecute
grep -qx 'MemoryDenyWriteExecute=no' /etc/systemd/system/a80-mdwe.service.d/50-seccompwatch.conf || fail "a80-mdwe: $(cat /etc/systemd/system/a80-mdwe.service.d/50-seccompwatch.conf)"
grep -q '^SystemCallFilter' /etc/systemd/system/a80-mdwe.service.d/50-seccompwatch.conf && fail "a80-mdwe: a SystemCallFilter= line was applied"
journalctl -u a80-mdwe.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1 | grep -v -q 'errno 1$' || fail "a80-mdwe still denied: $(journalctl -u a80-mdwe.service -b --no-pager -o cat | grep '^syscall ' | tail -n 1)"
echo "ok: errno denials invisible and explained, then seen with the manager logging, applied, clean (filter and MemoryDenyWriteExecute=)"
