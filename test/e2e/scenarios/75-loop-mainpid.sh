# The ExecMainPID fallback, with systemd as PID 1 in the records' pid
# namespace: the packaged daemon without eBPF (--attribution.no-bpf in
# /etc/default/seccompwatch, as a user would set it) is stopped (SIGSTOP)
# while a unit's main process is killed by its filter and reaped, so that
# when it reads the record the process is gone: no /proc, no history, and
# the exe index has no live process of the unit to confirm. systemd still
# has ExecMainPID (the record's pid) with ExecMainStatus=31: the denial is
# attributed by "execmainpid", and the loop closes. Forked workers killed
# the same way are no service's main process: unknown (with the exe's
# unit as candidate only), never a wrong unit.
. "$E2E/lib.sh"
cleanup() {
	[[ -n "${sw:-}" ]] && kill -CONT "$sw" 2>/dev/null
	rm -rf /etc/systemd/system/{main75,fork75}.service /etc/systemd/system/main75.service.d
	purge_deb
}
trap cleanup EXIT
loop_unit main75.service sysc 330 'SystemCallFilter=@system-service'
e_main=$LOOP_EXE
loop_unit fork75.service sysc '330 2' 'SystemCallFilter=@system-service'
install_deb
echo 'SECCOMPWATCH_ARGS="--attribution.no-bpf"' >/etc/default/seccompwatch
systemctl start seccompwatch.service
[[ "$(http /healthz | json .checks.attribution.status)" == proc ]] || fail "attribution: $(http /healthz)"

sw=$(prop seccompwatch.service MainPID)
kill -STOP "$sw"
systemctl start main75.service 2>/dev/null && fail "main75 survived its filter"
[[ "$(prop main75.service ExecMainStatus)" == 31 ]] || fail "main75: status $(prop main75.service ExecMainStatus)"
systemctl start fork75.service
pid=$(prop main75.service ExecMainPID)
[[ ! -e /proc/$pid ]] || fail "main75's process $pid is still there"
kill -CONT "$sw"
sw=

LOOP_ATTR=execmainpid LOOP_STARTED=1 closes_loop main75.service "$e_main" filter pkey_alloc
[[ "$(http '/api/v1/denials?unit=main75.service' | json '.denials[0].pid')" == "$pid" ]] || fail "main75: not the record of pid $pid"
http /metrics | grep -qE '^seccompwatch_attributions_total\{method="execmainpid"\} [1-9]' ||
	fail "no execmainpid attribution counted: $(http /metrics | grep -E '^seccompwatch_attribution')"

# The workers: no unit of theirs (each record is unknown, fork75.service a
# candidate at most).
wait_for 30 test "$(http '/api/v1/denials?unit=unknown&limit=10000' | json '[.denials[] | select(.exe == "/usr/local/bin/sysc-fork75")] | length')" -ge 2
[[ "$(denials_of fork75.service)" == 0 ]] || fail "fork75's workers attributed: $(http '/api/v1/denials?unit=fork75.service')"
http '/api/v1/denials?unit=unknown&limit=10000' | json '[.denials[] | select(.exe == "/usr/local/bin/sysc-fork75") | "\(.attribution) \(.candidate_unit // "")"] | unique | join(",")' >"$E2E_OUT/fork75.txt"
echo "fork75's workers: $(cat "$E2E_OUT/fork75.txt")"
grep -q '^failed:' "$E2E_OUT/fork75.txt" || fail "fork75: $(cat "$E2E_OUT/fork75.txt")"
echo "ok: a main process gone before its record was read is attributed by ExecMainPID; workers stay unknown"
