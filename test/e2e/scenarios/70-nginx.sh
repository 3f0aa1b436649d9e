# nginx (Debian's nginx-light) hardened by the common checklist, under a
# request loop: `seccompwatch learn nginx.service --for 1m` (eBPF, the
# default) watches it without restarting it and proposes the whole
# sandbox; `seccompwatch apply --learned` installs that, nginx restarted
# runs with no SECCOMP record (errno denials made visible) and serves; the
# exposure before and after (issue 16's done-when; issue 13's daemons).
. "$E2E/lib.sh"
SW=$E2E/bin/seccompwatch
URL=http://127.0.0.1/
loop=
cleanup() {
	[[ -n "$loop" ]] && kill "$loop" 2>/dev/null
	systemctl stop nginx.service 2>/dev/null || true
	rm -rf /etc/systemd/system/nginx.service.d
	systemctl daemon-reload
}
trap cleanup EXIT
seccomp_log_on
vendor=$(systemd-analyze security --offline=true --no-pager /lib/systemd/system/nginx.service | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
harden nginx.service
systemctl daemon-reload
systemctl start nginx.service
curl -fsS -o /dev/null "$URL" || fail "nginx does not serve under the checklist"
hardened=$(exposure_of nginx.service)
echo "exposure: vendor unit $vendor, with the checklist $hardened"

# The request loop, then learn for a minute: nginx is not restarted.
(while :; do curl -fsS -o /dev/null "$URL" || echo "request failed" >&2; sleep 0.1; done) &
loop=$!
life=$(unit_life nginx.service)
t0=$SECONDS
"$SW" learn nginx.service --for 1m --format json >"$E2E_OUT/learn.json" 2>"$E2E_OUT/learn.err" ||
	fail "learn: $(cat "$E2E_OUT/learn.err")"
echo "learn --for 1m took $((SECONDS - t0)) s"
[[ "$(unit_life nginx.service)" == "$life" ]] || fail "learn restarted nginx: $life -> $(unit_life nginx.service)"
json .dropin <"$E2E_OUT/learn.json" | tee "$E2E_OUT/learned.conf"
json '"seen: \(.calls) calls from \(.processes) processes; events lost \(.events_lost); exposure \(.exposure_before) -> \(.exposure_after)"' <"$E2E_OUT/learn.json"
[[ "$(json .events_lost <"$E2E_OUT/learn.json")" == 0 ]] || fail "events lost"
(( $(json .calls <"$E2E_OUT/learn.json") > 1000 )) || fail "too few calls seen: $(json .calls <"$E2E_OUT/learn.json")"
