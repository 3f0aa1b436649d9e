# A small Python HTTP service (python3-minimal has no http.server: a
# socket loop) as a DynamicUser= unit under the common checklist: learn
# (eBPF, no restart) under requests, apply --learned, restart: it serves
# and nothing is denied.
. "$E2E/lib.sh"
SW=$E2E/bin/seccompwatch
URL=http://127.0.0.1:8081/
loop=
cleanup() {
	audit_off
	[[ -z "$loop" ]] || kill "$loop" 2>/dev/null || true
	systemctl stop pyhttp.service 2>/dev/null || true
	rm -rf /etc/systemd/system/pyhttp.service.d /etc/systemd/system/pyhttp.service
	systemctl daemon-reload
}
trap cleanup EXIT
audit_on
seccomp_log_on
errno_visible
install_pyhttp
harden pyhttp.service
systemctl daemon-reload
cur=$(audit_cursor)
systemctl start pyhttp.service
wait_for 120 curl -fsS -o /dev/null "$URL"
hardened=$(exposure_of pyhttp.service)
(while :; do curl -fsS -o /dev/null "$URL" || echo "request failed" >&2; sleep 0.1; done) &
loop=$!
life=$(unit_life pyhttp.service)
t0=$SECONDS
"$SW" learn pyhttp.service --for 15s --format json >"$E2E_OUT/learn.json" 2>"$E2E_OUT/learn.err" || fail "learn: $(cat "$E2E_OUT/learn.err")"
echo "learn --for 15s took $((SECONDS - t0)) s"
[[ "$(unit_life pyhttp.service)" == "$life" ]] || fail "learn restarted the service"
json .dropin <"$E2E_OUT/learn.json" | tee "$E2E_OUT/learned.conf"
# AF_INET: the listening socket; AF_UNIX: stdout and stderr, journald's
# streams (made by systemd, wider than needed but never breaking).
grep -qx 'RestrictAddressFamilies=AF_INET AF_UNIX' "$E2E_OUT/learned.conf" || fail "RestrictAddressFamilies= is not the open sockets' AF_INET AF_UNIX"
[[ -z "$(seccomp_records "$cur" /usr/bin/python3.11)" ]] || fail "denied under the checklist: $(seccomp_records "$cur" /usr/bin/python3.11)"
apply_learned pyhttp.service "$E2E_OUT/learn.json"
kill "$loop" 2>/dev/null || true; loop=
cur=$(audit_cursor)
systemctl restart pyhttp.service
wait_for 120 curl -fsS -o /dev/null "$URL"
for _ in $(seq 10); do [[ "$(curl -fsS "$URL")" == "hello from python" ]] || fail "the service does not serve with the learned sandbox"; done
sleep 2
rec=$(seccomp_records "$cur" /usr/bin/python3.11)
[[ -z "$rec" ]] || fail "denied with the learned sandbox: $rec"
learned=$(exposure_of pyhttp.service)
echo "exposure (systemd-analyze security): checklist $hardened, checklist + learned $learned"
lower "$learned" "$hardened" || fail "exposure not lower: $hardened -> $learned"
echo "ok: learned without a restart, applied, the Python service serves with no denial; exposure $hardened -> $learned"
