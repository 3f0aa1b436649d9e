# deploy/seccompwatch.service in unicast mode, killed where Go runs no
# clean-up (SIGKILL; SIGABRT, what the watchdog sends): systemd runs the
# unit's ExecStopPost= (seccompwatch audit-restore), which puts enabled,
# backlog_limit and backlog_wait_time back and unregisters the dead pid.
. "$E2E/lib.sh"

install -m 0755 "$E2E/bin/seccompwatch" /usr/bin/seccompwatch
install -m 0644 "$E2E/seccompwatch.service" /etc/systemd/system/seccompwatch.service
sysusers_add # the unit's User=seccompwatch, as the README says to without the package
mkdir -p /etc/systemd/system/seccompwatch.service.d
cat >/etc/systemd/system/seccompwatch.service.d/unicast.conf <<'CONF'
[Service]
ExecStart=
ExecStart=/usr/bin/seccompwatch run --audit.mode=unicast --audit.backlog-limit=5555 --audit.backlog-wait-time=777 --state.dir=${STATE_DIRECTORY} --log.format=json --attribution.no-bpf
AmbientCapabilities=CAP_AUDIT_CONTROL
CapabilityBoundingSet=CAP_AUDIT_CONTROL
Restart=no
CONF
systemctl daemon-reload
trap 'systemctl stop seccompwatch.service || true; rm -rf /etc/systemd/system/seccompwatch.service*; systemctl daemon-reload; sysusers_del' EXIT

# field NAME: the kernel's audit setting NAME (auditctl -s).
field() { auditctl -s | awk -v k="$1" '$1 == k { print $2 }'; }
state() { echo "enabled=$(field enabled) pid=$(field pid) backlog_limit=$(field backlog_limit) backlog_wait_time=$(field backlog_wait_time)"; }

# stopped: the unit is failed or inactive (ExecStopPost= done).
stopped() {
	local s
	s=$(systemctl show -p ActiveState --value seccompwatch.service)
	[[ $s == failed || $s == inactive ]]
}

before=$(state)
echo "before: $before"
[[ "$(field pid)" == 0 ]] || fail "an audit daemon is registered: $before"

for sig in SIGKILL SIGABRT; do
	systemctl start seccompwatch.service || { journalctl -u seccompwatch.service --no-pager | tail -n 30; fail "start"; }
	main=$(systemctl show -p MainPID --value seccompwatch.service)
	during=$(state)
	[[ "$during" == "enabled=1 pid=$main backlog_limit=5555 backlog_wait_time=777" ]] ||
		fail "unicast not registered: $during (main pid $main)"
	systemctl kill --kill-whom=main -s "$sig" seccompwatch.service
	# Until ExecStopPost= has run: "deactivating" is not active either.
	wait_for 60 stopped
	after=$(state)
	echo "$sig: during: $during; after ExecStopPost: $after"
	[[ "$after" == "$before" ]] || {
		journalctl -u seccompwatch.service --no-pager | tail -n 30
		fail "after $sig the kernel has $after, before the run $before"
	}
	journalctl -u seccompwatch.service --no-pager -o cat | grep -q "restored backlog_limit, backlog_wait_time, pid, enabled left by pid $main" ||
		fail "no ExecStopPost restore line for pid $main in the journal"
	systemctl reset-failed seccompwatch.service || true
done

# A clean stop restores by itself; ExecStopPost then finds nothing.
systemctl start seccompwatch.service
systemctl stop seccompwatch.service
after=$(state)
[[ "$after" == "$before" ]] || fail "after a clean stop the kernel has $after, before $before"
journalctl -u seccompwatch.service --no-pager -o cat | tail -n 5 | grep -q "no unrestored kernel audit state recorded" ||
	fail "ExecStopPost after a clean stop did not report an empty record"
echo "ok: SIGKILL and SIGABRT under systemd: ExecStopPost restored $before"
