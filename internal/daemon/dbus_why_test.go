package daemon

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/unitprops"
)

// TestDBusWhy: a connection the bus closed at Hello (what dbus-daemon does
// to a uid it cannot resolve, seen with DynamicUser= on a host without
// libnss-systemd, test/e2e 30-dbus-refused) is explained with its cause
// and fix; other failures say there is no systemd on the bus.
func TestDBusWhy(t *testing.T) {
	hello := fmt.Errorf("%w: connect unix:path=/run/dbus/system_bus_socket: %w", unitprops.ErrNoDBus,
		&unitprops.HelloError{Err: syscall.EPIPE})
	for _, tc := range []struct {
		name string
		err  error
		uid  int
		want []string
	}{
		{"hello refused, unknown uid", hello, 61234, []string{"refused the connection at Hello (broken pipe)", "uid 61234 (not in /etc/passwd: a DynamicUser= uid?)", "User=seccompwatch", "libnss-systemd"}},
		{"hello refused, root", hello, 0, []string{"refused the connection at Hello", "uid 0 to a user"}},
		{"no bus", fmt.Errorf("%w: stat /run/dbus/system_bus_socket: no such file", unitprops.ErrNoDBus), 0, []string{"No systemd on D-Bus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dbusWhy(tc.err, tc.uid)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("dbusWhy = %q, want it to contain %q", got, w)
				}
			}
			if !errors.Is(tc.err, unitprops.ErrHelloRefused) && strings.Contains(got, "Hello") {
				t.Errorf("dbusWhy = %q names Hello for another failure", got)
			}
		})
	}
}
