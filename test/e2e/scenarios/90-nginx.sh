# nginx (Debian's nginx-light) hardened by the common checklist, under a
# request loop: `seccompwatch learn nginx.service --for 1m` (eBPF, the
# default) watches it without restarting it and proposes the whole
# sandbox; `seccompwatch apply --learned` installs it; nginx restarted runs
# with no SECCOMP record (errno denials made visible) and serves; the
# exposure goes down (issue 16's done-when; issue 13's real daemons).
. "$E2E/lib.sh"
SW=$E2E/bin/seccompwatch
URL=http://127.0.0.1/
loop=
cleanup() {
	audit_off
	[[ -z "$loop" ]] || kill "$loop" 2>/dev/null || true
	systemctl stop nginx.service 2>/dev/null || true
	rm -rf /etc/systemd/system/nginx.service.d
	systemctl daemon-reload
}
trap cleanup EXIT
audit_on
seccomp_log_on
errno_visible
vendor=$(systemd-analyze security --offline=true --no-pager /lib/systemd/system/nginx.service | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
harden nginx.service
systemctl daemon-reload
cur=$(audit_cursor)
systemctl start nginx.service
curl -fsS -o /dev/null "$URL" || fail "nginx does not serve under the checklist"
hardened=$(exposure_of nginx.service)

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
json '"seen: \(.calls) calls from \(.processes) processes; events lost \(.events_lost); exposure (offline) \(.exposure_before) -> \(.exposure_after)"' <"$E2E_OUT/learn.json"
[[ "$(json .events_lost <"$E2E_OUT/learn.json")" == 0 ]] || fail "events lost"
grep -q '^RestrictAddressFamilies=AF_INET' "$E2E_OUT/learned.conf" || fail "no RestrictAddressFamilies= with nginx's listening socket's family"
[[ -z "$(seccomp_records "$cur" /usr/sbin/nginx)" ]] || fail "nginx was denied under the checklist: $(seccomp_records "$cur" /usr/sbin/nginx)"

# Applied, restarted: serves, no record, lower exposure.
apply_learned nginx.service "$E2E_OUT/learn.json"
kill "$loop" 2>/dev/null || true; loop=
cur=$(audit_cursor)
systemctl restart nginx.service
for _ in $(seq 20); do curl -fsS -o /dev/null "$URL" || fail "nginx does not serve with the learned sandbox"; done
systemctl reload nginx.service
sleep 1
curl -fsS -o /dev/null "$URL" || fail "nginx does not serve after a reload"
sleep 2 # records in flight
rec=$(seccomp_records "$cur" /usr/sbin/nginx)
[[ -z "$rec" ]] || fail "nginx denied with the learned sandbox: $rec"
learned=$(exposure_of nginx.service)
echo "exposure (systemd-analyze security): vendor unit $vendor (offline), checklist $hardened, checklist + learned $learned"
lower "$learned" "$hardened" || fail "exposure not lower: $hardened -> $learned"

# Idempotent; --revert removes exactly that file.
"$SW" apply --learned "$E2E_OUT/learn.json" --yes nginx.service | grep -q 'nothing to do' || fail "a second apply changed something"
"$SW" apply --revert nginx.service | grep -qx "removed /etc/systemd/system/nginx.service.d/40-seccompwatch-learned.conf; systemd reloaded" || fail "revert"
[[ -e /etc/systemd/system/nginx.service.d/10-checklist.conf && ! -e /etc/systemd/system/nginx.service.d/40-seccompwatch-learned.conf ]] || fail "revert removed the wrong files"
echo "ok: learned for 1 min without a restart, applied, nginx serves with no denial; exposure $hardened -> $learned"
