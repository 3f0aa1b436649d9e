package daemon

import (
	"testing"
	"time"

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
