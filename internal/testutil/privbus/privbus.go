// Package privbus starts a private dbus-daemon for tests, with a stand-in
// for systemd's manager on it: the real systemd is not PID 1 on the test
// host, and the daemon's D-Bus client needs only a bus whose
// org.freedesktop.systemd1 answers Subscribe and sends the manager's
// signals. The bus itself (dbus-daemon) is real and can be stopped and
// started again at the same address.
package privbus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// Manager answers Subscribe as systemd's manager does.
type Manager struct{}

// Subscribe implements org.freedesktop.systemd1.Manager.Subscribe.
func (Manager) Subscribe() *dbus.Error { return nil }

// Bus is a private dbus-daemon with the stand-in manager connected to it.
type Bus struct {
	t    *testing.T
	Addr string // D-Bus address, unix:path=…
	path string
	cmd  *exec.Cmd
	// Conn is the manager's connection (nil while the bus is stopped).
	Conn *dbus.Conn
}

// Start starts a bus in a temporary directory; the test's cleanup stops it.
// Without dbus-daemon the test fails under CI=true (scripts/setup.sh
// installs it) and skips elsewhere.
func Start(t *testing.T) *Bus {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		testutil.Unavailable(t, "no dbus-daemon (scripts/setup.sh installs it)")
	}
	path := filepath.Join(t.TempDir(), "bus")
	b := &Bus{t: t, Addr: "unix:path=" + path, path: path}
	t.Cleanup(b.Stop)
	b.Restart()
	return b
}

// Restart starts the bus again (after Stop) at the same address, and
// connects the manager.
func (b *Bus) Restart() {
	b.t.Helper()
	if b.cmd != nil {
		b.t.Fatal("privbus: Restart of a running bus")
	}
	_ = os.Remove(b.path)
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+b.Addr, "--print-address")
	// It ends with the test binary, also one killed by -timeout (no
	// cleanup runs then): an orphaned bus outlived such a run, holding
	// every descriptor it inherited, among them the shared privileged-test
	// lock of flock(1), which blocked every other run for minutes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.cmd = cmd
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		b.t.Fatalf("dbus-daemon: %v", err)
	}
	conn, err := dbus.Connect(b.Addr)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := conn.Export(Manager{}, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		b.t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		b.t.Fatalf("RequestName: %v %v", r, err)
	}
	b.Conn = conn
}

// Stop ends the bus (the daemon's connections see it go away).
func (b *Bus) Stop() {
	if b.cmd == nil {
		return
	}
	if b.Conn != nil {
		b.Conn.Close()
		b.Conn = nil
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
}

// Peers lists the unique names on the bus other than the manager's.
func (b *Bus) Peers() ([]string, error) {
	var names []string
	if err := b.Conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, ":") && n != b.Conn.Names()[0] {
			out = append(out, n)
		}
	}
	return out, nil
}

// WaitPeers waits up to d until the bus has n peers besides the manager.
func (b *Bus) WaitPeers(n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		got, err := b.Peers()
		if err == nil && len(got) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("privbus: %d peers (%v, %v), want %d", len(got), got, err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Reloading emits the manager's Reloading signal, as systemd does around a
// daemon-reload.
func (b *Bus) Reloading(active bool) error {
	return b.Conn.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.Reloading", active)
}

// slowUnit answers Properties.GetAll of one unit after a delay, as a
// systemd busy with a daemon-reload does.
type slowUnit struct {
	delay time.Duration
	props map[string]map[string]dbus.Variant // interface -> properties
}

// GetAll implements org.freedesktop.DBus.Properties.GetAll.
func (s slowUnit) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	time.Sleep(s.delay)
	return s.props[iface], nil
}

// SlowUnit makes the stand-in manager serve unit's properties (props:
// D-Bus interface, e.g. "org.freedesktop.systemd1.Unit", to its
// properties) only after delay: a slow systemd on a real bus.
func (b *Bus) SlowUnit(unit string, delay time.Duration, props map[string]map[string]any) {
	b.t.Helper()
	vs := map[string]map[string]dbus.Variant{}
	for iface, m := range props {
		vs[iface] = map[string]dbus.Variant{}
		for k, v := range m {
			vs[iface][k] = dbus.MakeVariant(v)
		}
	}
	path := dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(unit))
	if err := b.Conn.Export(slowUnit{delay: delay, props: vs}, path, "org.freedesktop.DBus.Properties"); err != nil {
		b.t.Fatal(err)
	}
}
