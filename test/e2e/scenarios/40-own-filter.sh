# The unit's own filter is what the daemon needs, shown with the tool
# itself: a second seccompwatch (root, unconfined) watches while the
# service, whose denials kill it (no SystemCallErrorNumber=), goes through
# start, scrapes, API calls, a denial to handle, reload and stop: no
# denial of seccompwatch.service. Then without the one call the unit adds
# beyond @system-service (bpf), the watcher sees the kill and proposes
# exactly the unit's line back.
. "$E2E/lib.sh"
W=http://127.0.0.1:9873
cleanup() {
	systemctl stop sw-watcher.service 2>/dev/null || true
	rm -f /etc/systemd/system/victim40.service
	purge_deb
}
trap cleanup EXIT
install_deb
systemd-run --quiet --unit=sw-watcher -p Type=notify /usr/bin/seccompwatch run \
	--web.listen-address=127.0.0.1:9873 --state.dir= --log.format=console
own() { curl -fsS "$W/api/v1/denials?unit=seccompwatch.service&limit=10000" | json '.denials | length'; }

# Everything the service does in normal life, under its filter.
systemctl start seccompwatch.service
http /healthz >/dev/null && http /metrics >/dev/null && http / >/dev/null && http /api/v1/suggestions >/dev/null
victim victim40 330 'SystemCallFilter=@system-service'
systemctl start victim40.service || true
wait_for 60 test "$(denials_of victim40.service)" -ge 1
http '/api/v1/suggestions/victim40.service?format=diff' >/dev/null
systemctl reload seccompwatch.service
sleep 1
http /healthz >/dev/null
systemctl stop seccompwatch.service
[[ "$(prop seccompwatch.service Result)" == success ]] || fail "Result=$(prop seccompwatch.service Result)"
# The watcher saw the victim, so it was reading; and nothing of the service.
wait_for 60 test "$(curl -fsS "$W/api/v1/denials?unit=victim40.service" | json '.denials | length')" -ge 1
[[ "$(own)" == 0 ]] || fail "the service was denied under its own filter: $(curl -fsS "$W/api/v1/denials?unit=seccompwatch.service")"
echo "under its own filter: no denial of seccompwatch.service"

# Take bpf away: the daemon is killed loading its eBPF programs, and the
# watcher proposes SystemCallFilter=bpf (risky: in @privileged, so only
# with allow_risky), the very line the unit carries; installed as the
# watcher renders it, the service starts again.
mkdir -p /etc/systemd/system/seccompwatch.service.d
# (@system-service alone: the unit's `~@privileged` line would make the
# denial a deliberate removal, which the watcher rightly refuses to undo.)
printf '[Service]\nSystemCallFilter=\nSystemCallFilter=@system-service\nRestart=no\n' \
	>/etc/systemd/system/seccompwatch.service.d/10-no-bpf.conf
systemctl daemon-reload
systemctl start seccompwatch.service && fail "started without bpf"
[[ "$(prop seccompwatch.service ExecMainStatus)" == 31 ]] || fail "status $(prop seccompwatch.service ExecMainStatus), want 31 (SYS)"
wait_for 60 test "$(own)" -ge 1
curl -fsS "$W/api/v1/denials?unit=seccompwatch.service" >"$E2E_OUT/own-denials.json"
[[ "$(json '[.denials[].syscall] | unique | join(",")' <"$E2E_OUT/own-denials.json")" == bpf ]] ||
	fail "denied: $(cat "$E2E_OUT/own-denials.json")"
curl -fsS "$W/api/v1/suggestions/seccompwatch.service?format=dropin&allow_risky=1" >"$E2E_OUT/own.conf"
cat "$E2E_OUT/own.conf"
grep -qx 'SystemCallFilter=bpf' "$E2E_OUT/own.conf" || fail "the watcher does not propose SystemCallFilter=bpf"
cp "$E2E_OUT/own.conf" /etc/systemd/system/seccompwatch.service.d/50-seccompwatch.conf
systemctl daemon-reload
systemctl reset-failed seccompwatch.service
systemctl start seccompwatch.service || fail "the proposal did not lift the denial: $(systemctl status --no-pager seccompwatch 2>&1 | tail -n 5)"
http /healthz >/dev/null
echo "ok: the unit's filter is what the daemon needs (nothing denied; without bpf it dies, seccompwatch proposes SystemCallFilter=bpf, and with that drop-in it runs)"
