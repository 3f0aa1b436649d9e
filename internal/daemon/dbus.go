package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
)

// noDBusCost says what reading unit files instead of asking systemd costs.
const noDBusCost = "Cost: unit properties come from the unit files on disk, not from the running systemd: " +
	"a change not yet daemon-reloaded is taken as in force, transient units (systemd-run) and " +
	"properties set at run time are unknown, and whether the manager logs errno denials " +
	"(SYSTEMD_LOG_SECCOMP) cannot be checked."

// setDBus records the D-Bus entry of /healthz and the HTML page from the
// last check's result: connected, or why not and what that costs.
func (d *Daemon) setDBus(err error) {
	c := httpapi.Check{OK: true, Status: "connected to " + d.bus.Address()}
	if err != nil {
		c = httpapi.Check{OK: false, Status: "unavailable: unit files used", Detail: dbusWhy(err, os.Getuid()) + " " + noDBusCost}
	}
	d.dbusState.Store(&c)
}

// dbusCheck is the D-Bus entry of /healthz.
func (d *Daemon) dbusCheck() httpapi.Check {
	if d.bus == nil {
		return httpapi.Check{OK: true, Status: "disabled (--dbus.address=none): unit files only", Detail: noDBusCost}
	}
	if c := d.dbusState.Load(); c != nil {
		return *c
	}
	return httpapi.Check{OK: true, Status: "not checked yet (" + d.bus.Address() + ")"}
}

// dbusWhy explains a failed connection attempt. The one seen on real
// hosts that is not "no bus": dbus-daemon closes the connection at Hello
// when it cannot resolve the peer's uid to a user name (a DynamicUser= uid
// on a host without libnss-systemd).
func dbusWhy(err error, uid int) string {
	if he := (*unitprops.HelloError)(nil); errors.As(err, &he) {
		who := fmt.Sprintf("uid %d", uid)
		if _, lerr := user.LookupId(strconv.Itoa(uid)); lerr != nil {
			who += " (not in /etc/passwd: a DynamicUser= uid?)"
		}
		return fmt.Sprintf("The system bus refused the connection at Hello (%v): dbus-daemon closes it when it cannot "+
			"resolve the peer's %s to a user. Run the service as a user in /etc/passwd (the packaged unit's "+
			"User=seccompwatch, created by systemd-sysusers from /usr/lib/sysusers.d/seccompwatch.conf) or install "+
			"libnss-systemd.", he.Err, who)
	}
	return fmt.Sprintf("No systemd on D-Bus: %v.", err)
}
