//go:build linux

package auditstream_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/auditd"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// TestMulticastAcrossAuditdRestarts makes a steady stream of denials (500
// a second for 6 s) while auditd is started and stopped twice beside a
// multicast source: the source gets every one of them, whoever holds the
// audit pid at the time.
func TestMulticastAcrossAuditdRestarts(t *testing.T) {
	requireRoot(t)
	before := keepAuditState(t)
	if before.PID != 0 && processAlive(before.PID) {
		testutil.Unavailable(t, fmt.Sprintf("an audit daemon (pid %d) is already registered", before.PID))
	}
	var pid atomic.Int64
	var got atomic.Int64
	ls := startSource(t, Options{Mode: ModeMulticast}, func(r Record) {
		if int64(r.PID) == pid.Load() {
			got.Add(1)
		}
	})
	const count, rate = 3000, 500
	cmd, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: count, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid.Store(int64(cmd.Process.Pid))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	restarts := 0
	for range 2 {
		time.Sleep(700 * time.Millisecond)
		a := auditd.Start(t, before)
		time.Sleep(700 * time.Millisecond)
		a.Stop(t)
		restarts++
	}
	select {
	case err := <-done:
		t.Fatalf("the denials ended (%v) before auditd's restarts did: make the stream longer", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("denier: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < count && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := ls.src.Stats()
	t.Logf("%d of %d denials read across %d auditd start/stop cycles; lost %v", got.Load(), count, restarts, st.Lost)
	if got.Load() != count {
		t.Fatalf("multicast read %d of %d denials across auditd restarts (lost %v)", got.Load(), count, st.Lost)
	}
}
