# Closing the loop for a unit of a user's service manager, against the
# packaged daemon: user sw95's sw95.service (SystemCallFilter=@system-service,
# one call outside it) is killed, the daemon attributes the denial to
# user@UID.service/sw95.service and says why it cannot judge it (its
# User=seccompwatch cannot reach /run/user/UID, and a user manager answers
# only root and that user); `seccompwatch why` as root judges it against
# the unit's configuration read from that manager (verdict filter);
# `seccompwatch apply --yes --restart` as root writes the user's own
# ~/.config/systemd/user/sw95.service.d/50-seccompwatch.conf as that user,
# reloads that manager, checks its properties and restarts the unit, which
# then ends well with no new record (API and journal, after a later
# sentinel denial). Then apply again (nothing to do) and --revert.
#
# The user's manager is started with systemctl start user@UID.service, as
# logind does at boot for a user with enable-linger: the image masks
# systemd-logind (seconds of the boot under emulation) and has no
# libpam-systemd, so loginctl enable-linger is not there; without
# pam_systemd nothing sets XDG_RUNTIME_DIR for the manager, which a
# drop-in of user@.service does here.
. "$E2E/lib.sh"
U=sw95
cleanup() {
	[[ -n "${uid:-}" ]] && systemctl stop "user@$uid.service" 2>/dev/null || true
	userdel -r "$U" 2>/dev/null || true
	rm -rf /etc/systemd/system/user@.service.d/95-e2e.conf /usr/local/bin/sysc-sw95
	purge_deb
}
trap cleanup EXIT

useradd -m -s /bin/sh "$U"
uid=$(id -u "$U")
home=$(getent passwd "$U" | cut -d: -f6)
ref="user@$uid.service/sw95.service"
# usys CMD...: systemctl --user as the user, on its manager's private socket.
usys() { runuser -u "$U" -- env XDG_RUNTIME_DIR="/run/user/$uid" systemctl --user "$@"; }
uprop() { usys show -P "$2" "$1"; }

mkdir -p /etc/systemd/system/user@.service.d
printf '[Service]\nEnvironment=XDG_RUNTIME_DIR=/run/user/%%i\n' >/etc/systemd/system/user@.service.d/95-e2e.conf
systemctl daemon-reload
systemctl start "user@$uid.service"
wait_for 60 test -S "/run/user/$uid/systemd/private"

install -m 0755 "$E2E/bin/sysc" /usr/local/bin/sysc-sw95
exe=/usr/local/bin/sysc-sw95
runuser -u "$U" -- mkdir -p "$home/.config/systemd/user"
printf '[Service]\nType=oneshot\nExecStart=%s 330\nSystemCallFilter=@system-service\n' "$exe" |
	runuser -u "$U" -- tee "$home/.config/systemd/user/sw95.service" >/dev/null # 330: pkey_alloc

install_deb
systemctl start seccompwatch.service

t0=$SECONDS
usys start sw95.service 2>/dev/null && fail "sw95 survived its filter"
wait_for 60 test "$(denials_of "$ref")" -ge 1
den=$(http "/api/v1/denials?unit=$ref&limit=10000")
echo "$den" >"$E2E_OUT/sw95.denials.json"
[[ "$(json '[.denials[].syscall] | unique | join(",")' <<<"$den")" == pkey_alloc ]] || fail "sw95: denied $(json '[.denials[].syscall] | unique | join(",")' <<<"$den")"
[[ "$(json '[.denials[].attribution] | unique | join(",")' <<<"$den")" == bpf ]] || fail "sw95: attributed by $(json '[.denials[].attribution] | unique | join(",")' <<<"$den")"

# The daemon (User=seccompwatch, ProtectHome=yes) cannot ask user uid's
# manager: unknown, and it says why.
http "/api/v1/suggestions/$ref" >"$E2E_OUT/sw95.suggestion.json"
[[ "$(json '.suggestions[0].mode' <"$E2E_OUT/sw95.suggestion.json")" == unknown ]] || fail "the daemon judged a user unit it cannot read: $(cat "$E2E_OUT/sw95.suggestion.json")"
grep -q "only root or uid $uid can ask it" "$E2E_OUT/sw95.suggestion.json" || fail "no reason for unknown: $(cat "$E2E_OUT/sw95.suggestion.json")"

# why as root reads the unit from its own manager (timed: a connection
# that hangs shows as seconds here).
w0=$EPOCHREALTIME
/usr/bin/seccompwatch why "$ref" >"$E2E_OUT/sw95.why.txt" 2>&1 || fail "why: $(cat "$E2E_OUT/sw95.why.txt")"
echo "why as root took $(awk -v a="$w0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
cat "$E2E_OUT/sw95.why.txt"
grep -q '^  verdict: filter' "$E2E_OUT/sw95.why.txt" || fail "why as root: no filter verdict"
grep -qF "$home/.config/systemd/user/sw95.service" "$E2E_OUT/sw95.why.txt" || fail "why as root: the setting's place is not named"

wait_for 30 test "$(journal_records "$exe")" -ge 1
n0=$(denied_total "$ref")
j0=$(journal_records "$exe")
w0=$EPOCHREALTIME
/usr/bin/seccompwatch apply --yes --restart "$ref" >"$E2E_OUT/sw95.apply.txt" 2>&1 || fail "apply: $(cat "$E2E_OUT/sw95.apply.txt")"
cat "$E2E_OUT/sw95.apply.txt"
echo "apply --restart as root took $(awk -v a="$w0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
f=$home/.config/systemd/user/sw95.service.d/50-seccompwatch.conf
[[ "$(stat -c '%U %a' "$f")" == "$U 644" && "$(stat -c %U "${f%/*}")" == "$U" ]] || fail "the drop-in is not the user's, mode 0644: $(stat -c '%U %a %n' "$f" "${f%/*}")"
grep -qx 'SystemCallFilter=pkey_alloc' "$f" && grep -qF "apply --revert $ref " "$f" || fail "the drop-in: $(cat "$f")"
[[ ! -e /etc/systemd/user/sw95.service.d ]] || fail "apply wrote every user's drop-in"
grep -q "properties now say what it says" "$E2E_OUT/sw95.apply.txt" || fail "apply did not check the manager's properties"
[[ "$(uprop sw95.service Result)/$(uprop sw95.service ExecMainStatus)" == success/0 ]] ||
	fail "sw95 after apply: Result=$(uprop sw95.service Result) status $(uprop sw95.service ExecMainStatus)"
sync_daemon
n1=$(denied_total "$ref")
j1=$(journal_records "$exe")
[[ "$n1" == "$n0" && "$j1" == "$j0" ]] || fail "sw95: new records after apply (API $n0 -> $n1, journal $j0 -> $j1)"
echo "ok: $ref: pkey_alloc denied, attributed by bpf, verdict filter (why as root); apply wrote $f as $U and it runs clean (records: API $n0, journal $j0; none after) in $((SECONDS - t0)) s"

/usr/bin/seccompwatch apply --yes "$ref" >"$E2E_OUT/sw95.again.txt" 2>&1 || fail "apply again: $(cat "$E2E_OUT/sw95.again.txt")"
grep -q 'nothing to do' "$E2E_OUT/sw95.again.txt" || fail "apply again changed something: $(cat "$E2E_OUT/sw95.again.txt")"
/usr/bin/seccompwatch apply --revert "$ref" >"$E2E_OUT/sw95.revert.txt" 2>&1 || fail "revert: $(cat "$E2E_OUT/sw95.revert.txt")"
[[ ! -e "${f%/*}" ]] || fail "revert left ${f%/*}"
[[ -z "$(uprop sw95.service DropInPaths)" ]] || fail "after revert the manager still loads $(uprop sw95.service DropInPaths)"
echo "ok: apply again: nothing to do; --revert removed ${f%/*} and reloaded user $uid's manager"
