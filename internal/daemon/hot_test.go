package daemon

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/logging"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// newOffline returns a daemon that is never Run: records are handed to
// handle directly. Attribution reads /proc (no BPF), unit properties come
// from an empty unit-file root; the bounds are small so that records
// overflow the metric series and the aggregator.
func newOffline(t *testing.T) *Daemon { return newOfflineTB(t, 6, 4) }

// newOfflineTB is newOffline with other bounds (0: the defaults).
func newOfflineTB(t testing.TB, maxSeries, maxUnits int) *Daemon {
	t.Helper()
	log, err := logging.New("console", "error")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := New(ctx, Config{
		ListenAddress: "127.0.0.1:0", AuditMode: auditstream.ModeMulticast, DBusAddress: "none",
		SystemdTable: "252", UnitsRoot: t.TempDir(), DisableBPF: true,
		MaxSeries: maxSeries, MaxUnits: maxUnits, RecentDenials: 100000,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.attr.Close() })
	return d
}

// stormRecords returns n records in the mix a storm and its neighbours
// make: a few processes repeating one call (differing only in time and
// serial), now and then another call, another comm, exe or ABI, a pid
// that exists (this test, in no unit) and one that does not (its
// attribution fails and the exe could rescue it, so it never shares).
func stormRecords(n int) []auditstream.Record {
	rnd := rand.New(rand.NewPCG(1, 2))
	// Times of a moment ago, not before this process started (the /proc
	// attribution would call the process gone).
	base := time.Now().Truncate(time.Millisecond).UTC()
	defer time.Sleep(time.Until(base.Add(time.Duration(n/200+1) * time.Millisecond)))
	pids := []int{os.Getpid(), 4190001}
	exes := []string{"/usr/bin/a", "/usr/bin/b", "/usr/bin/c", "/usr/bin/d", "/usr/bin/e", "/usr/bin/f"}
	calls := []int{140, 140, 140, 140, 39, 165}
	var out []auditstream.Record
	for i := range n {
		r := auditstream.Record{
			Time: base.Add(time.Duration(i/200) * time.Millisecond), Serial: uint64(1000 + i), HasSerial: true,
			PID: pids[rnd.IntN(len(pids))], Comm: "storm", Exe: exes[rnd.IntN(2)],
			AuditArch: 0xc000003e, Arch: syscalls.ArchX86_64, Syscall: calls[rnd.IntN(len(calls))],
			Code: 0x50001, Action: auditstream.ActionErrno, Errno: 1, IP: 0x7f00,
		}
		switch rnd.IntN(40) {
		case 0:
			r.Comm = "other"
		case 1:
			r.Exe = exes[2+rnd.IntN(len(exes)-2)]
		case 2:
			r.AuditArch, r.Arch, r.Syscall = 0x40000003, syscalls.ArchI386, 20
		case 3:
			r.Code, r.Action, r.Errno = 0x80000000, auditstream.ActionKillProcess, 0
		}
		out = append(out, r)
	}
	return out
}

// observable is what a daemon shows of the records it handled: its
// denial, attribution and overflow metrics, its aggregation and its
// recent events.
func observable(t *testing.T, d *Daemon) (metrics string, agg string, events []string) {
	t.Helper()
	fams, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		switch f.GetName() {
		case "seccompwatch_denials_total", "seccompwatch_attributions_total", "seccompwatch_attribution_failures_total",
			"seccompwatch_series_overflow_total":
			if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, err := json.Marshal(struct {
		Units    any
		Overflow any
	}{d.agg.Snapshot(), d.agg.Overflow()})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.recent.list("", 1<<20) {
		events = append(events, string(e.AppendJSON(nil, event.JSONOptions{Live: true})))
	}
	return b.String(), string(a), events
}

// TestHotPathMatchesSlowPath hands the same records to a daemon as they
// come and to one whose hot cache is emptied before every record (every
// record takes the full path): metrics, aggregation and events must be
// identical, and the hot cache must have served most records.
func TestHotPathMatchesSlowPath(t *testing.T) {
	recs := stormRecords(20000)
	hot, slow := newOffline(t), newOffline(t)
	slowPaths := 0
	for _, r := range recs {
		hot.handle(r, nil)
		slow.hot = hotCache{}
		slow.handle(r, nil)
	}
	for _, e := range hot.hot.entries {
		if e == nil {
			t.Fatal("hot cache not filled")
		}
	}
	// How many records took the full path: those the hot cache missed.
	probe := newOffline(t)
	for _, r := range recs {
		key, res := hotKey(&r), probe.attr.Attribute(r.PID, r.Time)
		if probe.hot.find(&key, &res) == nil {
			slowPaths++
		}
		probe.handle(r, nil)
	}
	hm, ha, he := observable(t, hot)
	sm, sa, se := observable(t, slow)
	if d := cmp.Diff(sm, hm); d != "" {
		t.Errorf("metrics differ (-full path +hot path):\n%s", d)
	}
	if d := cmp.Diff(sa, ha); d != "" {
		t.Errorf("aggregation differs (-full path +hot path):\n%s", d)
	}
	if d := cmp.Diff(se, he); d != "" {
		t.Errorf("events differ (-full path +hot path):\n%s", d)
	}
	if len(he) != len(recs) {
		t.Errorf("%d events, want %d", len(he), len(recs))
	}
	if !strings.Contains(hm, "seccompwatch_series_overflow_total") || strings.Contains(hm, "seccompwatch_series_overflow_total 0\n") {
		t.Errorf("the series bound was not reached:\n%s", hm)
	}
	if strings.Contains(ha, `"Overflow":{"units":0,`) {
		t.Errorf("the aggregator's unit bound was not reached: %s", ha)
	}
	// The pid that does not exist never shares (about half the
	// records); of the others, most do.
	t.Logf("%d of %d records took the full path", slowPaths, len(recs))
	if slowPaths > len(recs)*3/4 {
		t.Errorf("%d of %d records took the full path: the hot cache served too few", slowPaths, len(recs))
	}
	if hot.handled.Load() != uint64(len(recs)) || hot.entered.Load() != uint64(len(recs)) {
		t.Errorf("entered %d, handled %d, want %d", hot.entered.Load(), hot.handled.Load(), len(recs))
	}
}

// TestAliveStall: a record in handling for more than half the watchdog
// period stops the pings; records that keep ending, or none, do not.
func TestAliveStall(t *testing.T) {
	d := &Daemon{}
	const wd = 400 * time.Millisecond
	if !d.alive(wd) {
		t.Fatal("idle daemon not alive")
	}
	d.entered.Store(5)
	d.handled.Store(4) // record 5 in handling
	if !d.alive(wd) {
		t.Fatal("not alive as a record starts")
	}
	d.stuckSince = time.Now().Add(-wd) // ... and is still the one in handling wd later
	if d.alive(wd) {
		t.Fatal("alive with one record in handling for the whole period")
	}
	d.entered.Store(9) // records went on: another one in handling now
	d.handled.Store(8)
	if !d.alive(wd) {
		t.Fatal("not alive while records keep ending")
	}
	d.handled.Store(9)
	if !d.alive(wd) {
		t.Fatal("not alive once idle again")
	}
	d.sourceDone.Store(true)
	if d.alive(wd) {
		t.Fatal("alive after the source ended")
	}
}

// TestHotPathAllocs: a record like a recent one (the storm's) costs no
// allocation on the daemon's record path, the attribution aside: its
// event stays on the stack
// (a pointer kept to it, as the test tap once took, moved every record's
// event to the heap, and a storm's garbage kept the collector busy under
// the memory limit of the time).
func TestHotPathAllocs(t *testing.T) {
	d := newOffline(t)
	r := auditstream.Record{
		Time: time.Now().UTC(), Serial: 1, HasSerial: true, PID: os.Getpid(), Comm: "storm", Exe: "/usr/bin/a",
		AuditArch: 0xc000003e, Arch: syscalls.ArchX86_64, Syscall: 140, Code: 0x50001,
		Action: auditstream.ActionErrno, Errno: 1, IP: 0x7f00,
	}
	d.handle(r, nil) // the full path, which fills the hot cache
	all := testing.AllocsPerRun(1000, func() {
		r.Serial++
		d.handle(r, nil)
	})
	// Without eBPF (a test without root) the attribution reads /proc for
	// every record: its allocations are not the record path's.
	attr := testing.AllocsPerRun(1000, func() { d.attr.Attribute(r.PID, r.Time) })
	if all-attr != 0 {
		t.Errorf("%.1f allocations a record on the hot path besides the attribution's %.1f, want 0", all-attr, attr)
	}
}
