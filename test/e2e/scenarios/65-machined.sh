# A machine systemd-machined registered outside machine.slice is a container
# boundary (issue 12, defect 1): a Delegate=yes service ct65.service builds
# nspawn's --keep-unit layout in its own cgroup (supervisor/, payload/
# init.scope with the leader, payload/system.slice/inner65.service) and root
# registers the leader with RegisterMachine over D-Bus. A real SIGSYS
# denial from payload/system.slice/inner65.service is then machine=ct65
# unit=inner65.service, in the metrics and the API, never ct65.service; one
# made before the registration, or after the machine is unregistered, is
# ct65.service's (the delegated subtree of its owner). Only root can
# register (machined's bus policy); after a daemon restart the machine
# comes from ListMachines, not from the MachineNew signal.
. "$E2E/lib.sh"
cleanup() {
	busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager UnregisterMachine s ct65 2>/dev/null || true
	systemctl stop ct65.service 2>/dev/null || true
	rm -f /etc/systemd/system/ct65.service /usr/local/bin/ct65.sh /run/ct65.*
	purge_deb
}
trap cleanup EXIT
command -v machinectl >/dev/null || fail "no systemd-container in the image"
install_deb
install -m 0755 "$E2E/bin/sysc" /usr/local/bin/sysc

# The service: moves itself to supervisor/, its leader (a sleep) to
# payload/init.scope, and on each /run/ct65.go runs sysc 330 (pkey_alloc,
# denied by the unit's filter: SIGSYS, logged) in
# payload/system.slice/inner65.service.
cat >/usr/local/bin/ct65.sh <<'EOF'
#!/bin/bash
set -eu
root=/sys/fs/cgroup
[[ -d $root/unified ]] && root=$root/unified
cg=$root$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir -p "$cg/supervisor" "$cg/payload/init.scope" "$cg/payload/system.slice/inner65.service"
echo $$ >"$cg/supervisor/cgroup.procs"
sleep infinity &
echo $! >"$cg/payload/init.scope/cgroup.procs"
echo $! >/run/ct65.leader
n=0
while :; do
	if [[ -e /run/ct65.go ]]; then
		rm -f /run/ct65.go
		sh -c "echo \$\$ >$cg/payload/system.slice/inner65.service/cgroup.procs && exec /usr/local/bin/sysc 330" || true
		n=$((n + 1))
		echo $n >/run/ct65.done
	fi
	sleep 0.1
done
EOF
chmod 0755 /usr/local/bin/ct65.sh
printf '[Service]\nExecStart=/usr/local/bin/ct65.sh\nDelegate=yes\nSystemCallFilter=~pkey_alloc\n' >/etc/systemd/system/ct65.service

# wait_for runs its command again and again: conditions are functions, a
# "$(...)" in its arguments would be evaluated once.
status_set() { prop seccompwatch.service StatusText | grep -q '^multicast: '; }
done_is() { [[ "$(cat /run/ct65.done 2>/dev/null)" == "$1" ]]; }
systemctl start seccompwatch.service
wait_for 60 status_set
systemctl start ct65.service
wait_for 30 test -s /run/ct65.leader
leader=$(cat /run/ct65.leader)
cat /proc/"$leader"/cgroup

# deny N: one denial inside the payload, the N-th; waits for the service.
deny() {
	touch /run/ct65.go
	wait_for 30 done_is "$1"
}
# series MACHINE UNIT: the value of the pkey_alloc denial counter of UNIT
# in MACHINE ("" for the host), 0 when there is none.
series() {
	http /metrics | awk -v m="machine=\"$1\"" -v u="unit=\"$2\"" '
		/^seccompwatch_denials_total\{/ && index($0, m) && index($0, u) && index($0, "syscall=\"pkey_alloc\"") { v += $NF }
		END { print v + 0 }'
}
# series_gt MACHINE UNIT N: the series is above N.
series_gt() { (($(series "$1" "$2") > $3)); }
# api_has: the API lists a denial of inner65.service in machine ct65.
api_has() { [[ "$(http '/api/v1/denials?unit=inner65.service' | json '[.denials[] | select(.machine == "ct65")] | length')" -ge 1 ]]; }
register() {
	busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager \
		RegisterMachine sayssus ct65 0 e2e65 container "$leader" ""
}

# Before any registration the payload is the service's own subtree.
deny 1
wait_for 60 series_gt "" ct65.service 0

# Only root can register a machine.
if setpriv --reuid=65534 --regid=65534 --clear-groups busctl call org.freedesktop.machine1 /org/freedesktop/machine1 \
	org.freedesktop.machine1.Manager RegisterMachine sayssus ct65 0 e2e65 container "$leader" "" 2>"$E2E_OUT/nobody.err"; then
	fail "user nobody registered a machine"
fi
cat "$E2E_OUT/nobody.err"
grep -qi 'access denied\|AccessDenied\|not allowed' "$E2E_OUT/nobody.err" || fail "nobody's RegisterMachine failed otherwise: $(cat "$E2E_OUT/nobody.err")"

register
machinectl list --no-pager | tee "$E2E_OUT/machines.txt"
[[ "$(busctl get-property org.freedesktop.machine1 /org/freedesktop/machine1/machine/ct65 org.freedesktop.machine1.Machine Unit)" == 's "ct65.service"' ]] ||
	fail "machined's unit: $(busctl get-property org.freedesktop.machine1 /org/freedesktop/machine1/machine/ct65 org.freedesktop.machine1.Machine Unit)"

# Inside the registered machine: machine=ct65 unit=inner65.service.
deny 2
wait_for 60 series_gt ct65 inner65.service 0
[[ "$(series "" ct65.service)" == 1 ]] || fail "a machine's denial counted for the host unit: $(http /metrics | grep pkey_alloc)"
[[ "$(series "" inner65.service)" == 0 ]] || fail "a machine's unit counted as a host unit: $(http /metrics | grep pkey_alloc)"
wait_for 30 api_has
den=$(http '/api/v1/denials?unit=inner65.service')
echo "$den" >"$E2E_OUT/denials-machine.json"
[[ "$(json '.denials | length' <<<"$den")" -ge 1 ]] || fail "API: $den"
[[ "$(json '.denials[0].machine' <<<"$den")" == ct65 && "$(json '.denials[0].syscall' <<<"$den")" == pkey_alloc ]] || fail "API: $den"
http /metrics | grep pkey_alloc | tee "$E2E_OUT/metrics-registered.txt"

# A daemon started while the machine runs learns it from ListMachines.
systemctl restart seccompwatch.service
wait_for 60 status_set
journalctl -u seccompwatch.service -b --no-pager -o cat | grep -F 'container boundary' | tail -n 2
host0=$(denials_of ct65.service)
deny 3
wait_for 60 api_has
http '/api/v1/denials?limit=1000' >"$E2E_OUT/denials-restart.json"
[[ "$(denials_of ct65.service)" == "$host0" ]] || fail "after restart, a machine's denial as the host unit's: $(cat "$E2E_OUT/denials-restart.json")"
[[ "$(json '[.denials[] | select(.unit == "inner65.service" and (.machine // "") == "")] | length' <"$E2E_OUT/denials-restart.json")" == 0 ]] ||
	fail "after restart, a machine's unit as a host unit: $(cat "$E2E_OUT/denials-restart.json")"

# Unregistered: the machine's series stays, and the payload is again the
# service's subtree.
busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager UnregisterMachine s ct65
machinectl list --no-pager | grep -q ct65 && fail "still registered"
before=$(series ct65 inner65.service) host1=$(series "" ct65.service)
deny 4
wait_for 60 series_gt "" ct65.service "$host1"
[[ "$(series ct65 inner65.service)" == "$before" && "$before" -ge 1 ]] || fail "the machine's series after it is gone: $(http /metrics | grep pkey_alloc)"
api_has || fail "the machine's denials gone from the API: $(http '/api/v1/denials?unit=inner65.service')"
http /metrics | grep pkey_alloc | tee "$E2E_OUT/metrics-unregistered.txt"
journalctl -u seccompwatch.service -b --no-pager -o cat >"$E2E_OUT/daemon.log"
echo "ok: machined machine outside machine.slice: machine=ct65 unit=inner65.service (signal and list), host unit before and after, root-only registration"
