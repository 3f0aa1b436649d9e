# When the bus refuses anyway (here: DynamicUser= on a host without
# libnss-systemd, the unit as it was), the log, /healthz and the HTML page
# say why and what it costs, and the daemon still works from unit files.
. "$E2E/lib.sh"
trap purge_deb EXIT
# (Before the install: the package's postinst reloads systemd anyway. A
# name other than the packaged static user's: systemd uses a static user
# of the configured name rather than allocate a dynamic one.)
mkdir -p /etc/systemd/system/seccompwatch.service.d
printf '[Service]\nDynamicUser=yes\nUser=swdynamic\nGroup=swdynamic\n' >/etc/systemd/system/seccompwatch.service.d/dynamic.conf
install_deb
systemctl start seccompwatch.service
health=$(http /healthz)
echo "$health" >"$E2E_OUT/healthz.json"
[[ "$(json .healthy <<<"$health")" == true ]] || fail "unhealthy: $health"
check=$(json .checks.dbus <<<"$health")
echo "dbus check: $check"
grep -q "refused the connection at Hello" <<<"$check" || fail "healthz does not say why: $check"
grep -q "DynamicUser" <<<"$check" || fail "healthz does not name the cause: $check"
grep -q "Cost:" <<<"$check" || fail "healthz does not say what it costs: $check"
http / | grep -q "refused the connection at Hello" || fail "the HTML page does not say why"
journalctl -u seccompwatch.service -b --no-pager -o cat >"$E2E_OUT/journal.txt"
grep -q 'refused the connection at Hello' "$E2E_OUT/journal.txt" || fail "the log does not say why"
echo "ok: healthz, HTML and log explain the refused D-Bus connection"
