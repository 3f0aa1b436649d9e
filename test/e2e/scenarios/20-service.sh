# The daemon as a real service: systemctl start -> READY and STATUS seen by
# systemd; /healthz, /metrics, the API and the HTML page answer; D-Bus
# works without libnss-systemd (a static user); a victim unit's SIGSYS
# denial is attributed to it by bpf and suggested; stop is clean.
. "$E2E/lib.sh"
trap purge_deb EXIT
install_deb

systemctl start seccompwatch.service # Type=notify: returns at READY=1
[[ "$(prop seccompwatch.service ActiveState)/$(prop seccompwatch.service SubState)" == active/running ]] ||
	fail "not running: $(systemctl status --no-pager seccompwatch 2>&1 | tail -n 20)"
status_set() { prop seccompwatch.service StatusText | grep -q '^multicast: '; }
wait_for 60 status_set
echo "STATUS: $(prop seccompwatch.service StatusText)"
[[ "$(ps -o user= -p "$(prop seccompwatch.service MainPID)")" == seccompwatch ]] || fail "not running as user seccompwatch"

health=$(http /healthz)
echo "$health" >"$E2E_OUT/healthz.json"
[[ "$(json .healthy <<<"$health")" == true ]] || fail "unhealthy: $health"
[[ "$(json .checks.attribution.status <<<"$health")" == bpf ]] || fail "attribution: $health"
dbus=$(json .checks.dbus.status <<<"$health")
[[ "$dbus" == "connected to "* ]] || fail "D-Bus without libnss-systemd: $dbus"
journalctl -u seccompwatch.service -b --no-pager -o cat | grep -q 'no systemd on D-Bus' && fail "the daemon logged a D-Bus failure"
http /metrics | grep -q '^seccompwatch_build_info' || fail "no build_info in /metrics"
http / | grep -q '<h1>seccompwatch' || fail "no HTML index"

# A victim unit killed by its own filter: attributed by bpf, suggested.
victim victim20 330 'SystemCallFilter=@system-service' # 330: pkey_alloc on x86_64
systemctl start victim20.service && fail "the victim survived its filter"
[[ "$(prop victim20.service ExecMainStatus)" == 31 ]] || fail "victim status $(prop victim20.service ExecMainStatus), want 31 (SYS)"
wait_for 60 test "$(denials_of victim20.service)" -ge 1
den=$(http '/api/v1/denials?unit=victim20.service')
echo "$den" >"$E2E_OUT/denials.json"
[[ "$(json '.denials[0].syscall' <<<"$den")" == pkey_alloc ]] || fail "syscall: $den"
[[ "$(json '.denials[0].attribution' <<<"$den")" == bpf ]] || fail "attribution: $den"
[[ "$(json '.denials[0].action' <<<"$den")" == kill_process ]] || fail "action: $den"
http /metrics | grep -E '^seccompwatch_denials_total\{.*unit="victim20.service".*\} 1$' | grep -q 'syscall="pkey_alloc"' ||
	fail "metric: $(http /metrics | grep seccompwatch_denials_total)"
dropin=$(http '/api/v1/suggestions/victim20.service?format=dropin')
echo "$dropin" >"$E2E_OUT/victim.conf"
grep -qx 'SystemCallFilter=pkey_alloc' <<<"$dropin" || fail "suggestion: $dropin"

# reload (SIGHUP) keeps it running; stop is clean.
pid=$(prop seccompwatch.service MainPID)
systemctl reload seccompwatch.service
sleep 1
[[ "$(prop seccompwatch.service MainPID)" == "$pid" && "$(prop seccompwatch.service ActiveState)" == active ]] || fail "reload"
systemctl stop seccompwatch.service
[[ "$(prop seccompwatch.service Result)" == success ]] || fail "stop: Result=$(prop seccompwatch.service Result)"
[[ "$(prop seccompwatch.service ExecMainStatus)" == 0 ]] || fail "stop: exit $(prop seccompwatch.service ExecMainStatus)"
[[ "$(prop seccompwatch.service NRestarts)" == 0 ]] || fail "restarted $(prop seccompwatch.service NRestarts) times"
[[ -s /var/lib/seccompwatch/denials.json ]] || fail "no state saved at stop"
rm -f /etc/systemd/system/victim20.service
echo "ok: READY, STATUS, healthz/metrics/API/HTML, D-Bus connected, victim attributed by bpf, clean stop"
