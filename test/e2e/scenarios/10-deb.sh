# The .deb: dpkg -i installs the files, creates the system user, enables
# and starts nothing; remove stops the service and keeps the conffile;
# purge leaves nothing behind (files, user, state, enablement symlinks).
. "$E2E/lib.sh"

# What the package may touch, before it exists. dpkg's own database,
# journals and logs change by design; shadow's backup files (passwd- …)
# are rewritten by userdel.
snapshot() {
	find /etc /usr /var/lib /opt /srv -xdev \
		\( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/systemd/timers \
		-o -path /var/lib/systemd/random-seed -o -path /var/lib/systemd/catalog -o -path /var/lib/ucf \) -prune \
		-o \! -name '*-' -print | sort
	getent passwd | cut -d: -f1 | sort
	getent group | cut -d: -f1 | sort
}
snapshot >/tmp/before

install_deb
for f in /usr/bin/seccompwatch /usr/lib/systemd/system/seccompwatch.service /usr/lib/sysusers.d/seccompwatch.conf \
	/etc/default/seccompwatch /usr/share/man/man1/seccompwatch.1.gz /usr/share/bash-completion/completions/seccompwatch \
	/usr/share/zsh/vendor-completions/_seccompwatch /usr/share/doc/seccompwatch/README.md; do
	[[ -f "$f" ]] || fail "not installed: $f"
done
dpkg-query -W -f='${Conffiles}\n' seccompwatch | grep -q /etc/default/seccompwatch || fail "/etc/default/seccompwatch is not a conffile"
zcat /usr/share/man/man1/seccompwatch.1.gz | grep -q '^\.TH' || fail "man page is not roff"
grep -q seccompwatch /usr/share/bash-completion/completions/seccompwatch || fail "bash completion"
/usr/bin/seccompwatch version | grep -q "0\.1\.0" || fail "version: $(/usr/bin/seccompwatch version)"

# The system user (sysusers.d), a system uid, no login shell.
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd seccompwatch) || fail "no user seccompwatch"
((uid < 1000)) || fail "uid $uid is not a system uid"
[[ "$shell" == */nologin ]] || fail "shell $shell"

# Nothing enabled or started behind the admin's back; systemd knows the unit.
[[ "$(prop seccompwatch.service LoadState)" == loaded ]] || fail "unit not loaded (no daemon-reload?)"
[[ "$(systemctl is-enabled seccompwatch.service || true)" == disabled ]] || fail "enabled by the package"
[[ "$(prop seccompwatch.service ActiveState)" == inactive ]] || fail "started by the package"

# Reinstalling (an upgrade to the same version) changes nothing of that.
install_deb
[[ "$(prop seccompwatch.service ActiveState)" == inactive ]] || fail "started by an upgrade"

# What an admin does; then remove: stopped, conffile kept, binary gone.
systemctl enable --now seccompwatch.service
[[ "$(prop seccompwatch.service ActiveState)" == active ]] || fail "does not start: $(systemctl status --no-pager seccompwatch 2>&1 | tail -n 20)"
[[ -d /var/lib/seccompwatch ]] || fail "no state directory"
# An upgrade restarts a running service (try-restart), and only that.
pid=$(prop seccompwatch.service MainPID)
install_deb
wait_for 120 test "$(prop seccompwatch.service ActiveState)" = active
[[ "$(prop seccompwatch.service MainPID)" != "$pid" ]] || fail "not restarted by the upgrade"
[[ "$(systemctl is-enabled seccompwatch.service)" == enabled ]] || fail "the upgrade dropped the admin's enablement"

dpkg -r seccompwatch >/dev/null
[[ ! -e /usr/bin/seccompwatch ]] || fail "binary left after remove"
[[ -f /etc/default/seccompwatch ]] || fail "remove deleted the conffile (purge's job)"
pgrep -x seccompwatch >/dev/null && fail "still running after remove"

dpkg -P seccompwatch >/dev/null
snapshot >/tmp/after
if ! diff -u /tmp/before /tmp/after >"$E2E_OUT/purge.diff"; then
	cat "$E2E_OUT/purge.diff"
	fail "purge left something behind"
fi
dpkg-query -W seccompwatch >/dev/null 2>&1 && fail "dpkg still knows the package"
echo "ok: installed, nothing enabled or started, upgrade restarts only a running service, purge leaves nothing"
