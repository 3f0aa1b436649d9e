# Closing the loop with kill filters, against the packaged daemon
# (seccompwatch.service, bpf attribution) and `seccompwatch apply` over its
# unix socket: each unit is killed (or its workers are), attributed to
# itself, proposed the right change, applied with --yes --restart, and
# then runs clean with no new record of it (API and journal):
#   - SystemCallFilter=@system-service needing one call outside it;
#   - a template instance (tmpl70@bar.service);
#   - forked workers making the denied call (the parent survives; not in
#     the template instance: a template instance that ended well was once
#     refused by apply as "configuration unknown" under load: the daemon's
#     D-Bus call had used up the look-up's 2 s, leaving none for the unit
#     files, and the timeout was cached as "unknown"; now the files answer,
#     and a look-up that could not be done says so and apply asks again);
#   - a "~" deny-list as the first assignment (filter-removed: only with
#     --allow NAME);
#   - SystemCallArchitectures=native and an i386 binary (architecture:
#     only with --allow SystemCallArchitectures);
#   - a risky call (swapoff, in @swap): held back without --allow-risky.
. "$E2E/lib.sh"
cleanup() {
	rm -rf /etc/systemd/system/{svc70,tmpl70@,fork70,deny70,arch70,risky70}.service \
		/etc/systemd/system/{svc70,tmpl70@bar,fork70,deny70,arch70,risky70}.service.d
	purge_deb
}
trap cleanup EXIT
loop_unit svc70.service sysc 330 'SystemCallFilter=@system-service' # 330: pkey_alloc
e_svc=$LOOP_EXE
loop_unit tmpl70@.service sysc 330 'SystemCallFilter=@system-service'
e_tmpl=$LOOP_EXE
loop_unit fork70.service sysc '330 3' 'SystemCallFilter=@system-service'
e_fork=$LOOP_EXE
loop_unit deny70.service sysc 330 'SystemCallFilter=~@obsolete pkey_alloc'
e_deny=$LOOP_EXE
loop_unit arch70.service sysc32 20 'SystemCallArchitectures=native' # i386 getpid; its first call (brk) is denied
e_arch=$LOOP_EXE
loop_unit risky70.service sysc 168 'SystemCallFilter=@system-service' # 168: swapoff(NULL): EFAULT when allowed
e_risky=$LOOP_EXE
install_deb
systemctl start seccompwatch.service

closes_loop svc70.service "$e_svc" filter pkey_alloc
closes_loop tmpl70@bar.service "$e_tmpl" filter pkey_alloc
[[ -e /etc/systemd/system/tmpl70@bar.service.d/50-seccompwatch.conf && ! -e /etc/systemd/system/tmpl70@.service.d ]] ||
	fail "the template's drop-in is not the instance's"

closes_loop fork70.service "$e_fork" filter pkey_alloc
out=$(journalctl -u fork70.service -b --no-pager -o cat | grep 'children killed')
[[ "$out" == $'3 of 3 children killed by a signal\n0 of 3 children killed by a signal' ]] || fail "fork70's workers: $out"

# A deny-list's entry is deliberate: without --allow pkey_alloc nothing is
# written.
systemctl start deny70.service 2>/dev/null && fail "deny70 survived its filter"
wait_for 60 test "$(denials_of deny70.service)" -ge 1
if /usr/bin/seccompwatch apply --yes deny70.service >"$E2E_OUT/deny70.held.txt" 2>&1; then
	fail "apply wrote a deny-list removal without --allow: $(cat "$E2E_OUT/deny70.held.txt")"
fi
grep -q 'needs --allow pkey_alloc' "$E2E_OUT/deny70.held.txt" || fail "deny70 held back without the reason: $(cat "$E2E_OUT/deny70.held.txt")"
[[ ! -e /etc/systemd/system/deny70.service.d ]] || fail "deny70: a drop-in was written"
LOOP_STARTED=1 closes_loop deny70.service "$e_deny" filter-removed pkey_alloc --allow pkey_alloc

systemctl start arch70.service 2>/dev/null && fail "arch70 survived SystemCallArchitectures=native"
wait_for 60 test "$(denials_of arch70.service)" -ge 1
[[ "$(http '/api/v1/denials?unit=arch70.service' | json '.denials[0].arch')" == i386 ]] ||
	fail "arch70: $(http '/api/v1/denials?unit=arch70.service')"
if /usr/bin/seccompwatch apply --yes arch70.service >"$E2E_OUT/arch70.held.txt" 2>&1; then
	fail "apply widened SystemCallArchitectures= without --allow: $(cat "$E2E_OUT/arch70.held.txt")"
fi
LOOP_STARTED=1 closes_loop arch70.service "$e_arch" architecture brk --allow SystemCallArchitectures
grep -qx 'SystemCallArchitectures=.*x86.*' /etc/systemd/system/arch70.service.d/50-seccompwatch.conf || fail "arch70: no x86 ABI in the drop-in"

systemctl start risky70.service 2>/dev/null && fail "risky70 survived its filter"
wait_for 60 test "$(denials_of risky70.service)" -ge 1
if /usr/bin/seccompwatch apply --yes risky70.service >"$E2E_OUT/risky70.held.txt" 2>&1; then
	fail "apply wrote a risky call without --allow-risky: $(cat "$E2E_OUT/risky70.held.txt")"
fi
grep -q 'needs --allow-risky' "$E2E_OUT/risky70.held.txt" || fail "risky70 held back without the reason: $(cat "$E2E_OUT/risky70.held.txt")"
[[ ! -e /etc/systemd/system/risky70.service.d ]] || fail "risky70: a drop-in was written"
LOOP_STARTED=1 closes_loop risky70.service "$e_risky" filter swapoff --allow-risky
echo "ok: every kill scenario closed the loop"
