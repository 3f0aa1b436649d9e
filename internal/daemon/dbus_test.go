package daemon

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/testutil/privbus"
)

// TestDBusClosedOnShutdown: once Run returns, the daemon holds no D-Bus
// connection (and no goroutine watching one).
func TestDBusClosedOnShutdown(t *testing.T) {
	requireRoot(t)
	bus := privbus.Start(t)
	r := start(t, Config{DBusAddress: bus.Addr})
	if got, err := bus.Peers(); err != nil || len(got) == 0 {
		t.Fatalf("the daemon did not connect to the bus: %v %v", got, err)
	}
	r.stop(t)
	if err := bus.WaitPeers(0, 5*time.Second); err != nil {
		t.Fatalf("after Run returned, still on the bus: %v", err)
	}
}

// dbusStatus is /healthz's D-Bus check.
func (r *running) dbusStatus(t *testing.T) string {
	t.Helper()
	var h httpapi.Health
	if err := json.Unmarshal([]byte(r.get(t, "/healthz")), &h); err != nil {
		t.Fatal(err)
	}
	return h.Checks["dbus"].Status
}

// waitDBus waits up to d for /healthz's D-Bus status to start with prefix
// and returns how long it took.
func (r *running) waitDBus(t *testing.T, prefix string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st := r.dbusStatus(t)
		if strings.HasPrefix(st, prefix) {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("D-Bus status %q after %v, want %q…", st, d, prefix)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDBusGoneAndBack stops the (private, real) bus under a running daemon
// and starts it again at the same address: the daemon says so in /healthz,
// stays up, and reconnects by itself, with no request asking for it.
func TestDBusGoneAndBack(t *testing.T) {
	requireRoot(t)
	bus := privbus.Start(t)
	r := start(t, Config{DBusAddress: bus.Addr})
	r.waitDBus(t, "connected", 5*time.Second)
	for round := range 2 {
		bus.Stop()
		gone := r.waitDBus(t, "unavailable", 10*time.Second)
		down := 3 * time.Second
		time.Sleep(down) // a few failed reconnects: the backoff grows
		var h httpapi.Health
		if err := json.Unmarshal([]byte(r.get(t, "/healthz")), &h); err != nil || !h.Healthy {
			t.Fatalf("daemon unhealthy without D-Bus: %+v %v", h, err)
		}
		bus.Restart()
		back := r.waitDBus(t, "connected", 30*time.Second)
		if got, err := bus.Peers(); err != nil || len(got) == 0 {
			t.Fatalf("round %d: the daemon's connections are not on the new bus: %v %v", round, got, err)
		}
		t.Logf("round %d: bus stopped → unavailable in %v; bus down %v, restarted → reconnected in %v", round, gone.Round(time.Millisecond), down, back.Round(time.Millisecond))
	}
	r.stop(t)
}
