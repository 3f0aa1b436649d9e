package daemon

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// barrier proves that the records made before a point in time have been
// read: the kernel queues audit records in order and a netlink socket
// delivers them in order, so once the record of a denial made after that
// point arrives, every earlier one has (or was lost, which the source's
// loss counters show). "No new record" is then a fact, not the hope of a
// fixed sleep, which a loaded host outlasts (a late record of the unit
// would be missed and the test pass wrongly).
type barrier struct {
	self string
	src  *auditstream.Source

	mu   sync.Mutex
	seen map[int]bool
}

func newBarrier(src *auditstream.Source) *barrier {
	self, _ := os.Executable()
	return &barrier{self: self, src: src, seen: map[int]bool{}}
}

// note is called for every record the source reads.
func (b *barrier) note(rec auditstream.Record) {
	if rec.Exe != b.self {
		return
	}
	b.mu.Lock()
	b.seen[rec.PID] = true
	b.mu.Unlock()
}

// wait makes a denial of its own and returns once its record was read;
// it fails the test when the source lost records meanwhile (a record of
// the unit may be among them).
func (b *barrier) wait(t *testing.T) {
	t.Helper()
	// This socket's own losses; the kernel's lost counter also grows with
	// every record no audit daemon takes (kauditd's hold queue), which is
	// no loss of this reader's.
	lost := func() uint64 {
		st := b.src.Stats()
		return st.Lost[auditstream.LostENOBUFS] + st.Lost[auditstream.LostSerialGap]
	}
	before := lost()
	cmd, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("barrier helper: %v %s", err, out)
	}
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b.mu.Lock()
		ok := b.seen[pid]
		b.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the barrier denial (pid %d) was not read within 15s", pid)
		}
	}
	if n := lost() - before; n > 0 {
		t.Fatalf("the audit source lost %d records meanwhile: cannot tell that none was the unit's", n)
	}
}
