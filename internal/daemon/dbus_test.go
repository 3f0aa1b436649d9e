package daemon

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// fakeManager answers Subscribe as systemd's manager does, which is all
// the daemon's start-up probe needs to keep its D-Bus connections open.
type fakeManager struct{}

func (fakeManager) Subscribe() *dbus.Error { return nil }

// privateBus starts a dbus-daemon of its own with a fake systemd manager
// on it and returns its address and a connection of the test's.
func privateBus(t *testing.T) (string, *dbus.Conn) {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("no dbus-daemon")
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Export(fakeManager{}, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	return addr, conn
}

// peers lists the unique names on the bus other than the test's own.
func peers(t *testing.T, conn *dbus.Conn) []string {
	t.Helper()
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, ":") && n != conn.Names()[0] {
			out = append(out, n)
		}
	}
	return out
}

// TestDBusClosedOnShutdown: once Run returns, the daemon holds no D-Bus
// connection (and no goroutine watching one).
func TestDBusClosedOnShutdown(t *testing.T) {
	requireRoot(t)
	addr, conn := privateBus(t)
	r := start(t, Config{DBusAddress: addr})
	if got := peers(t, conn); len(got) == 0 {
		t.Fatal("the daemon did not connect to the bus")
	}
	r.stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := peers(t, conn)
		if len(got) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Run returned, still on the bus: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
