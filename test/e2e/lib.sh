# Helpers for the e2e scenarios (sourced; bash, run as root in the VM).
set -euo pipefail
# Timestamps in the xtrace (bash takes no PS4 from the environment when
# run as root, so the runner's does not arrive).
PS4='+ ${EPOCHREALTIME} '

# fail MSG: print MSG and end the scenario with exit 1.
fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds or
# SECONDS pass (then fail).
wait_for() {
	local t=$1; shift
	local end=$((SECONDS + t))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || fail "timed out after ${t}s: $*"
		sleep 0.2
	done
}

# save FILE...: keep files in the scenario's output directory on the host.
save() { cp -a "$@" "$E2E_OUT/" 2>/dev/null || true; }

# The packaged daemon's API (the default --web.listen-address).
API=http://127.0.0.1:9872

# http PATH: GET from the daemon's API (fails on an HTTP error).
http() { curl -fsS --max-time 10 "$API$1"; }

# json FILTER: a jq filter over the JSON document on stdin, raw output.
json() { jq -r "$1"; }

# prop UNIT PROPERTY: one property's value, as systemctl shows it.
prop() { systemctl show -P "$2" "$1"; }

# install_deb: dpkg -i the package the host built.
install_deb() { dpkg -i "$E2E"/dist/*.deb >/dev/null; }

# purge_deb: stop, remove and purge the package (idempotent; the
# package's postrm reloads systemd).
purge_deb() {
	systemctl stop seccompwatch.service 2>/dev/null || true
	rm -rf /etc/systemd/system/seccompwatch.service.d
	dpkg -P seccompwatch >/dev/null 2>&1 || true
	systemctl reset-failed seccompwatch.service 2>/dev/null || true
}

# victim NAME NR [DIRECTIVE...]: a unit NAME.service that makes system
# call NR (with "NR FORKS", in FORKS children) via sysc, with the given
# [Service] lines (e.g. a filter), not started. NAME must be new to this
# boot: systemd loads a unit it never saw on demand, without the
# daemon-reload that costs seconds under emulation.
victim() {
	local name=$1 nr=$2; shift 2
	[[ ! -e "/etc/systemd/system/$name.service" ]] || fail "victim $name exists: use a new name"
	install -m 0755 "$E2E/bin/sysc" /usr/local/bin/sysc
	{
		printf '[Service]\nType=oneshot\nExecStart=/usr/local/bin/sysc %s\n' "$nr"
		printf '%s\n' "$@"
	} >"/etc/systemd/system/$name.service"
}

# denials_of UNIT: how many denials of UNIT the daemon's API lists.
denials_of() { http "/api/v1/denials?unit=$1&limit=10000" | json '.denials | length'; }

# started_at UNIT: the unit's active-enter time (monotonic µs).
started_at() { prop "$1" ActiveEnterTimestampMonotonic; }

# sysusers_add: the unit's system user from deploy/deb/sysusers.conf, as
# the README says to install it without the package (purge_deb or
# sysusers_del removes it).
sysusers_add() {
	install -m 0644 "$E2E/sysusers.conf" /usr/lib/sysusers.d/seccompwatch.conf
	systemd-sysusers seccompwatch.conf
}

# sysusers_del: undo sysusers_add.
sysusers_del() {
	userdel seccompwatch 2>/dev/null || true
	groupdel seccompwatch 2>/dev/null || true
	rm -f /usr/lib/sysusers.d/seccompwatch.conf
}

# --- Real daemons (scenarios 9x) ---

# seccomp_log_on: make errno denials visible from here on in this boot
# (ManagerEnvironment=SYSTEMD_LOG_SECCOMP=1 in a system.conf.d file and a
# daemon-reload, FACTS.md; removing the file does not unset it until a
# reboot, so it stays). Units started after it load their filters with
# the log flag.
seccomp_log_on() {
	local f=/etc/systemd/system.conf.d/90-e2e-log-seccomp.conf
	[[ -e "$f" ]] && return 0
	mkdir -p "${f%/*}"
	printf '[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n' >"$f"
	systemctl daemon-reload
}

# CHECKLIST: the common hardening checklist, as a drop-in's lines.
CHECKLIST='SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
MemoryDenyWriteExecute=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
ProtectClock=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectKernelTunables=yes
ProtectHostname=yes
PrivateDevices=yes
NoNewPrivileges=yes'

# harden UNIT [LINE...]: /etc/systemd/system/UNIT.d/10-checklist.conf
# with the given [Service] lines (default: $CHECKLIST); no reload.
harden() {
	local unit=$1; shift
	mkdir -p "/etc/systemd/system/$unit.d"
	{
		echo '[Service]'
		if (($#)); then printf '%s\n' "$@"; else echo "$CHECKLIST"; fi
	} >"/etc/systemd/system/$unit.d/10-checklist.conf"
}

# audit_on: auditd (Debian's, as installed) running: the SECCOMP records
# of the scenarios are read from /var/log/audit/audit.log. A scenario
# that calls it stops it at its end (audit_off).
audit_on() {
	systemctl start auditd.service
	wait_for 20 test -s /var/log/audit/audit.log
}
audit_off() { systemctl stop auditd.service 2>/dev/null || true; }

# audit_cursor: the current end of audit.log (for seccomp_records).
audit_cursor() { wc -l </var/log/audit/audit.log; }

# audit_since CURSOR: audit.log's lines after CURSOR.
audit_since() { tail -n "+$(($1 + 1))" /var/log/audit/audit.log; }

# seccomp_records CURSOR EXE [IGNORE_NR...]: the SECCOMP records of
# processes of EXE after CURSOR, less those of the syscall numbers
# IGNORE_NR (one per line).
seccomp_records() {
	local cur=$1 exe=$2; shift 2
	local out
	out=$(audit_since "$cur" | grep '^type=SECCOMP ' | grep -F "exe=\"$exe\"" || true)
	for nr in "$@"; do out=$(grep -v " syscall=$nr " <<<"$out" || true); done
	[[ -n "$out" ]] && echo "$out"
	return 0
}

# seccomp_seen CURSOR EXE: true when seccomp_records finds a record (for
# wait_for, which runs its command again each time).
seccomp_seen() { [[ -n "$(seccomp_records "$1" "$2")" ]]; }

# unit_life UNIT: MainPID, NRestarts and ActiveEnterTimestampMonotonic:
# unchanged means the unit was not restarted.
unit_life() { echo "$(prop "$1" MainPID)/$(prop "$1" NRestarts)/$(prop "$1" ActiveEnterTimestampMonotonic)"; }

# exposure_of UNIT: the overall exposure systemd-analyze security gives
# the loaded unit (as PID 1 sees it, after a daemon-reload).
exposure_of() { systemd-analyze security --no-pager "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }

# errno_visible: fail unless an errno denial of a transient unit leaves
# a SECCOMP record now (the positive control of "no record"). With
# seccomp_log_on's daemon-reload alone that was not seen in the VM: then
# daemon-reexec (PID 1 re-executes with ManagerEnvironment= in its
# environment), and the scenario says so.
errno_visible() {
	install -m 0755 "$E2E/bin/sysc" /usr/local/bin/sysc
	local cur try
	for try in reload reexec; do
		[[ "$try" == reexec ]] && systemctl daemon-reexec
		cur=$(audit_cursor)
		systemd-run --quiet --wait -p SystemCallFilter=@system-service -p SystemCallErrorNumber=EPERM /usr/local/bin/sysc 330 >/dev/null 2>&1 || true
		if (wait_for 10 seccomp_seen "$cur" /usr/local/bin/sysc); then
			echo "errno denials visible after daemon-$try"
			return 0
		fi
	done
	fail "errno denials stay invisible with ManagerEnvironment=SYSTEMD_LOG_SECCOMP=1, even after daemon-reexec"
}

# apply_learned UNIT JSON: seccompwatch apply --learned JSON --yes UNIT,
# its output kept as $E2E_OUT/apply-UNIT.txt; fails unless systemd's
# properties were checked.
apply_learned() {
	"$E2E/bin/seccompwatch" apply --learned "$2" --yes "$1" >"$E2E_OUT/apply-$1.txt" 2>&1 ||
		fail "apply --learned $1: $(cat "$E2E_OUT/apply-$1.txt")"
	cat "$E2E_OUT/apply-$1.txt"
	grep -q "properties now say what it says" "$E2E_OUT/apply-$1.txt" || fail "apply did not check $1's properties"
}

# lower A B: A < B (exposure scores).
lower() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# install_pyhttp: pyhttp.service, a tiny Python HTTP server on
# 127.0.0.1:8081 (DynamicUser=), not started.
install_pyhttp() {
	mkdir -p /usr/local/lib/e2e
	cat >/usr/local/lib/e2e/pyhttp.py <<'PY'
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
body = b"hello from python\n"
while True:
    c, _ = s.accept()
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    finally:
        c.close()
PY
	printf '[Unit]\nDescription=tiny Python HTTP service (e2e)\n[Service]\nExecStart=/usr/bin/python3 /usr/local/lib/e2e/pyhttp.py 8081\nDynamicUser=yes\n' \
		>/etc/systemd/system/pyhttp.service
}

# --- closing the loop (denied -> attributed -> suggested -> apply -> clean)

# loop_unit UNITFILE BIN ARGS [DIRECTIVE...]: a oneshot unit file
# /etc/systemd/system/UNITFILE (a template "name@.service" too) that runs
# /usr/local/bin/sysc-NAME ARGS, a copy of $E2E/bin/BIN (sysc or sysc32)
# of its own, so that its records can be told apart by exe in the
# journal; with the given [Service] lines. Not started. The exe's path is
# in $LOOP_EXE.
loop_unit() {
	local file=$1 bin=$2 args=$3; shift 3
	local name=${file%%@*}
	name=${name%.service}
	[[ ! -e "/etc/systemd/system/$file" ]] || fail "unit $file exists: use a new name"
	LOOP_EXE=/usr/local/bin/sysc-$name
	install -m 0755 "$E2E/bin/$bin" "$LOOP_EXE"
	{
		printf '[Service]\nType=oneshot\nExecStart=%s %s\n' "$LOOP_EXE" "$args"
		printf '%s\n' "$@"
	} >"/etc/systemd/system/$file"
}

# denied_total UNIT: the records of UNIT the daemon counted (its metric).
denied_total() {
	http /metrics | awk -v u="unit=\"$1\"" '/^seccompwatch_denials_total\{/ && index($0, u) { n += $2 } END { print n + 0 }'
}

# journal_records EXE: SECCOMP records of EXE in the journal (journald's
# audit reader and the kernel log), this boot.
journal_records() {
	journalctl -b --no-pager -o cat _TRANSPORT=audit _TRANSPORT=kernel | grep -F "exe=\"$1\"" | grep -c 'syscall=' || true
}

# sync_daemon: a new unit killed by its filter, waited for in the API: the
# daemon reads one stream in order, so every record before it has been
# read too.
sync_daemon() {
	local u
	u=sync$(date +%s%N)
	victim "$u" 330 'SystemCallFilter=@system-service'
	systemctl start "$u.service" 2>/dev/null || true
	wait_for 60 test "$(denials_of "$u.service")" -ge 1
	rm -f "/etc/systemd/system/$u.service"
}

# verdict_kinds: the verdict kinds of the proposed lines and architecture
# notes of the suggestion document on stdin, sorted, comma-separated.
verdict_kinds() {
	json '[.suggestions[0] | (.lines[]?, .arch_notes[]?) | .verdict.kind] | unique | join(",")'
}

# closes_loop UNIT EXE KIND SYSCALL [APPLY-FLAG...]: UNIT is started
# (unless LOOP_STARTED is set: the caller did) and denied SYSCALL; the daemon attributes it to UNIT (by $LOOP_ATTR, default
# bpf) and proposes lines of verdict KIND; `seccompwatch apply --yes
# --restart` over the daemon's unix socket writes the drop-in and restarts
# the unit, which then ends well with no new record of it (in the API and
# in the journal, after a later record was read).
closes_loop() {
	local unit=$1 exe=$2 kind=$3 sc=$4; shift 4
	local t0=$SECONDS
	[[ -n "${LOOP_STARTED:-}" ]] || systemctl start "$unit" 2>/dev/null || true
	wait_for 60 test "$(denials_of "$unit")" -ge 1
	local den
	den=$(http "/api/v1/denials?unit=$unit&limit=10000")
	echo "$den" >"$E2E_OUT/$unit.denials.json"
	[[ "$(json '[.denials[].syscall] | unique | join(",")' <<<"$den")" == "$sc" ]] || fail "$unit: denied $(json '[.denials[].syscall] | unique | join(",")' <<<"$den"), want $sc"
	[[ "$(json '[.denials[].attribution] | unique | join(",")' <<<"$den")" == "${LOOP_ATTR:-bpf}" ]] ||
		fail "$unit: attributed by $(json '[.denials[].attribution] | unique | join(",")' <<<"$den"), want ${LOOP_ATTR:-bpf}"
	http "/api/v1/suggestions/$unit" >"$E2E_OUT/$unit.suggestion.json"
	local kinds
	kinds=$(verdict_kinds <"$E2E_OUT/$unit.suggestion.json")
	[[ "$kinds" == "$kind" ]] || fail "$unit: verdicts $kinds, want $kind: $(cat "$E2E_OUT/$unit.suggestion.json")"
	wait_for 30 test "$(journal_records "$exe")" -ge 1
	local n0 j0
	n0=$(denied_total "$unit")
	j0=$(journal_records "$exe")
	/usr/bin/seccompwatch apply --yes --restart "$@" "$unit" >"$E2E_OUT/$unit.apply.txt" 2>&1 ||
		fail "$unit: apply $*: $(cat "$E2E_OUT/$unit.apply.txt")"
	[[ "$(prop "$unit" Result)/$(prop "$unit" ExecMainStatus)" == success/0 ]] ||
		fail "$unit after apply: Result=$(prop "$unit" Result) status $(prop "$unit" ExecMainStatus)"
	sync_daemon
	local n1 j1
	n1=$(denied_total "$unit")
	j1=$(journal_records "$exe")
	[[ "$n1" == "$n0" && "$j1" == "$j0" ]] || fail "$unit: new records after apply (API $n0 -> $n1, journal $j0 -> $j1)"
	echo "ok: $unit: $sc denied, attributed by ${LOOP_ATTR:-bpf}, verdict $kind; apply $* wrote $(grep -v '^#' "/etc/systemd/system/$unit.d/50-seccompwatch.conf" | grep = | tr '\n' ' ')and it runs clean (records: API $n0, journal $j0; none after) in $((SECONDS - t0)) s"
}
