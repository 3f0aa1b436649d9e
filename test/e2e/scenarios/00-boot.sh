# The machine itself: systemd is PID 1, the boot finished without failed
# units, and the kernel pieces the daemon uses are there.
. "$E2E/lib.sh"

[[ "$(cat /proc/1/comm)" == systemd ]] || fail "PID 1 is $(cat /proc/1/comm)"
failed=$(systemctl --failed --no-legend --plain)
[[ -z "$failed" ]] || fail "failed units after boot: $failed"
[[ -e /sys/kernel/btf/vmlinux ]] || fail "no BTF"
[[ -d /sys/fs/cgroup/system.slice ]] || fail "no unified cgroup hierarchy"
# The daemon's D-Bus connection must work without libnss-systemd.
! dpkg-query -W -f='${Status}' libnss-systemd 2>/dev/null | grep -q "ok installed" || fail "libnss-systemd is installed: the image must lack it"
systemctl is-enabled auditd.service >/dev/null && fail "auditd is enabled"
pgrep -x auditd >/dev/null && fail "auditd runs"
echo "ok: $(uname -r), $(systemctl --version | head -n 1)"
