//go:build linux

package auditstream

import (
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// TestStatusReaderAfterStaleReply: a status reply that arrived after
// go-libaudit stopped waiting for it stays queued on the control socket;
// the reader must read the kernel's counters again afterwards (before the
// fix, every later read took the stale reply, failed on its sequence
// number, and the kernel's lost counter was never read again: TestOverflow
// failed on a loaded host with kernel:0 and the status reads failing).
func TestStatusReaderAfterStaleReply(t *testing.T) {
	testutil.RequireRoot(t, "CAP_AUDIT_CONTROL to read the kernel audit status")
	r, err := newStatusReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	// A request whose ack and reply nobody reads, as after a read that
	// gave up waiting.
	if _, err := r.c.GetStatusAsync(true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	ok := 0
	for i := 0; ok < 3 && time.Now().Before(deadline); i++ {
		if _, err := r.read(); err != nil {
			t.Logf("read %d: %v", i, err)
			continue
		}
		ok++
	}
	if ok < 3 {
		t.Fatalf("%d good status reads in 5 s after a stale reply, want 3", ok)
	}
}
