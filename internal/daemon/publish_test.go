package daemon

import (
	"context"
	"sync"
	"testing"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/logging"
)

// TestHandlePublishesCounterLast: a reader who sees
// seccompwatch_denials_total count a denial finds it in /api/v1/denials
// (the recent ring) and in the suggestions too. The counter used to be
// incremented first, so a test (or an operator following an alert) that
// waited for the metric and then asked the API could, when the read loop
// was preempted in between, find the denial missing (seen as flakes of
// TestUnattributedExes and TestFallbackWithoutBPF on a loaded host). The
// daemon is not Run: handle is called here as the read loop calls it,
// with a reader racing it as the HTTP handlers do.
func TestHandlePublishesCounterLast(t *testing.T) {
	log, err := logging.New("console", "error")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, Config{DBusAddress: "none", DisableBPF: true, SystemdTable: "252", RecentDenials: 100000, UnitsRoot: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.attr.Close()
	rec, err := auditstream.ParseKernel([]byte(`audit(1763775501.123:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=0 comm="deny" exe="/usr/local/bin/deny" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0000001000 code=0x80000000`))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < n; i++ {
			d.handle(rec, nil)
		}
	}()
	var bad, reads int
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		counted := d.denials.Total()
		inRing := uint64(len(d.recent.list("", n)))
		handled := d.handled.Load()
		reads++
		if inRing < counted || handled < counted {
			bad++
			if bad == 1 {
				t.Errorf("the counter says %d denials, but the ring holds %d and %d are handled", counted, inRing, handled)
			}
		}
	}
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d reads saw the counter ahead", bad, reads)
	}
	if got := d.denials.Total(); got != n {
		t.Errorf("counted %d, want %d", got, n)
	}
	if aggs := d.agg.Snapshot(); len(aggs) != 1 {
		t.Errorf("%d aggregated units, want 1 (the pseudo-unit of the exe)", len(aggs))
	}
}
