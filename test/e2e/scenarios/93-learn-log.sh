# learn --method log (SystemCallLog=: a runtime drop-in, the unit
# restarted under it and restored after) on the vendor units of nginx and
# of the Python service, under requests; apply --learned installs the
# proposed filter (@system-service plus what was logged outside it; kill
# on denial, so a denial could not hide); restarted, each serves and
# nothing is denied.
. "$E2E/lib.sh"
SW=$E2E/bin/seccompwatch
loop=
cleanup() {
	audit_off
	[[ -z "$loop" ]] || kill "$loop" 2>/dev/null || true
	systemctl stop nginx.service pyhttp.service 2>/dev/null || true
	rm -rf /etc/systemd/system/nginx.service.d /etc/systemd/system/pyhttp.service.d /etc/systemd/system/pyhttp.service
	systemctl daemon-reload
}
trap cleanup EXIT
audit_on
seccomp_log_on
errno_visible
install_pyhttp
systemctl daemon-reload

# learn_log UNIT EXE URL
learn_log() {
	local unit=$1 exe=$2 url=$3 before after cur
	systemctl start "$unit"
	wait_for 120 curl -fsS -o /dev/null "$url"
	before=$(exposure_of "$unit")
	(while :; do curl -fsS -o /dev/null "$url" 2>/dev/null || true; sleep 0.1; done) &
	loop=$!
	local t0=$SECONDS
	# (a stack dump if it hangs: it was seen silent for minutes once)
	timeout -s QUIT 300 "$SW" learn "$unit" --method log --for 10s --format json >"$E2E_OUT/learn-$unit.json" 2>"$E2E_OUT/learn-$unit.err" ||
		fail "learn --method log $unit: $(cat "$E2E_OUT/learn-$unit.err")"
	echo "learn --method log --for 10s $unit took $((SECONDS - t0)) s"
	kill "$loop" 2>/dev/null || true; loop=
	cat "$E2E_OUT/learn-$unit.err"
	grep -q "restored $unit: drop-in removed, restarted as it was" "$E2E_OUT/learn-$unit.err" || fail "$unit not restored"
	ls /run/systemd/system/"$unit".d/ 2>/dev/null | grep -q seccompwatch-learn && fail "a learning drop-in is left"
	json .dropin <"$E2E_OUT/learn-$unit.json"
	apply_learned "$unit" "$E2E_OUT/learn-$unit.json"
	cur=$(audit_cursor)
	systemctl restart "$unit"
	wait_for 120 curl -fsS -o /dev/null "$url"
	for _ in $(seq 10); do curl -fsS -o /dev/null "$url" || fail "$unit does not serve with the learned filter"; done
	sleep 2
	local rec
	rec=$(seccomp_records "$cur" "$exe")
	[[ -z "$rec" ]] || fail "$unit denied with the learned filter: $rec"
	[[ "$(prop "$unit" ActiveState)" == active ]] || fail "$unit is $(prop "$unit" ActiveState)"
	after=$(exposure_of "$unit")
	echo "exposure $unit (systemd-analyze security): vendor $before, + learned (log) $after"
	lower "$after" "$before" || fail "exposure not lower: $before -> $after"
	systemctl stop "$unit"
}
learn_log nginx.service /usr/sbin/nginx http://127.0.0.1/
learn_log pyhttp.service /usr/bin/python3.11 http://127.0.0.1:8081/
echo "ok: learn --method log then apply --learned: nginx and the Python service serve with no denial"
