package suggest

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

func TestAggregatorCounts(t *testing.T) {
	a := NewAggregator(Limits{MaxExes: 2, MaxComms: 1})
	a.Add(den("b.service", "socket", "kill_process", at(10), exe("/e1")))
	a.Add(den("b.service", "socket", "errno", at(-5), exe("/e2")))
	a.Add(den("b.service", "socket", "errno", at(0), exe("/e3")))
	a.Add(den("b.service", "socket", "weird", at(0), exe("/e1")))
	a.Add(den("a.service", "mount", "kill_process", at(0)))
	a.Add(den("a.service", "mount", "kill_process", at(0), func(d *Denial) { d.Machine = "box" }))
	a.Add(den("a.service", "mount", "kill_process", at(0), func(d *Denial) { d.UserUnit, d.UID = true, 1000 }))
	a.Add(den("a.service", "mount", "kill_process", at(0), func(d *Denial) { d.UserUnit, d.UID = true, 0 })) // root's manager
	a.Add(den("a.service", "mount", "kill_process", at(0), func(d *Denial) { d.UID = 7 }))                   // not a user unit: UID ignored
	got := a.Snapshot()
	mount := func(n uint64) []SyscallAggregate {
		return []SyscallAggregate{{
			Syscall: "mount", Arch: syscalls.ArchX86_64, AuditArch: syscalls.AuditArchX86_64, Nr: 165, Native: true,
			Actions: map[string]uint64{"kill_process": n}, Count: n, FirstSeen: t0, LastSeen: t0,
			Exes: []string{"/usr/sbin/app"}, Comms: []string{"app"},
		}}
	}
	want := []UnitAggregate{
		{Unit: "a.service", Total: 2, FirstSeen: t0, LastSeen: t0, Syscalls: mount(2)},
		{Unit: "a.service", UserUnit: true, UID: 0, Total: 1, FirstSeen: t0, LastSeen: t0, Syscalls: mount(1)},
		{Unit: "a.service", UserUnit: true, UID: 1000, Total: 1, FirstSeen: t0, LastSeen: t0, Syscalls: mount(1)},
		{Unit: "a.service", Machine: "box", Total: 1, FirstSeen: t0, LastSeen: t0, Syscalls: []SyscallAggregate{{
			Syscall: "mount", Arch: syscalls.ArchX86_64, AuditArch: syscalls.AuditArchX86_64, Nr: 165, Native: true,
			Actions: map[string]uint64{"kill_process": 1}, Count: 1, FirstSeen: t0, LastSeen: t0,
			Exes: []string{"/usr/sbin/app"}, Comms: []string{"app"},
		}}},
		{Unit: "b.service", Total: 4, FirstSeen: t0.Add(-5 * time.Second), LastSeen: t0.Add(10 * time.Second), Syscalls: []SyscallAggregate{{
			Syscall: "socket", Arch: syscalls.ArchX86_64, AuditArch: syscalls.AuditArchX86_64, Nr: 41, Native: true,
			Actions: map[string]uint64{"kill_process": 1, "errno": 2, "unknown": 1}, Count: 4,
			FirstSeen: t0.Add(-5 * time.Second), LastSeen: t0.Add(10 * time.Second),
			Exes: []string{"/e1", "/e2"}, ExesDropped: 1, Comms: []string{"app"},
		}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

func TestAggregatorLimits(t *testing.T) {
	a := NewAggregator(Limits{MaxUnits: 2, MaxSyscallsPerUnit: 2})
	for _, u := range []string{"a.service", "b.service", "c.service"} {
		for _, s := range []string{"read", "write", "socket"} {
			a.Add(den(u, s, "errno"))
		}
	}
	snap := a.Snapshot()
	if len(snap) != 2 {
		t.Fatalf("units = %d, want 2", len(snap))
	}
	for _, u := range snap {
		if len(u.Syscalls) != 2 || u.Dropped != 1 || u.Total != 3 {
			t.Errorf("%s: syscalls %d dropped %d total %d; want 2, 1, 3", u.Unit, len(u.Syscalls), u.Dropped, u.Total)
		}
	}
	if got, want := a.Overflow(), (Overflow{Units: 3, Syscalls: 2}); got != want {
		t.Errorf("overflow = %+v, want %+v", got, want)
	}
	// Incomplete data is said in the suggestion.
	s := Compute(snap[0], nil, Options{Table: testTable(t)})
	if !containsSub(s.Warnings, "1 records of further syscalls were not kept") {
		t.Errorf("warnings = %q", s.Warnings)
	}
}

func TestAggregatorJSONRestore(t *testing.T) {
	a := NewAggregator(Limits{})
	a.Add(den("a.service", "socket", "errno", at(1)))
	a.Add(den("a.service", "socket", "kill_process", i386, at(2)))
	a.Add(den("a.service", "", "kill_process", nr(999), at(3)))
	snap := a.Snapshot()
	user := NewAggregator(Limits{})
	user.Add(den("a.service", "socket", "errno", at(1), func(d *Denial) { d.UserUnit, d.UID = true, 0 }))
	if b, _ := json.Marshal(user.Snapshot()); true {
		var back []UnitAggregate
		if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 || !back[0].UserUnit || back[0].UID != 0 {
			t.Errorf("user unit of uid 0 through JSON: %+v %v (%s)", back, err, b)
		}
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back []UnitAggregate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snap, back); diff != "" {
		t.Fatalf("JSON round trip (-want +got):\n%s\n%s", diff, b)
	}
	// Restoring into a fresh aggregator and adding the same again doubles
	// every count.
	r := NewAggregator(Limits{})
	r.Restore(back)
	r.Restore(back)
	for _, u := range r.Snapshot() {
		if u.Total != 2*snap[0].Total {
			t.Errorf("total = %d, want %d", u.Total, 2*snap[0].Total)
		}
		for i, s := range u.Syscalls {
			if s.Count != 2*snap[0].Syscalls[i].Count {
				t.Errorf("%s count = %d", s.Syscall, s.Count)
			}
		}
	}
	var bad []UnitAggregate
	if err := json.Unmarshal([]byte(`[{"unit":"x","syscalls":[{"arch":"vax"}]}]`), &bad); err == nil {
		t.Error("unknown arch accepted")
	}
}

func TestAggregatorConcurrent(t *testing.T) {
	a := NewAggregator(Limits{})
	const workers, per = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				a.Add(den(fmt.Sprintf("u%d.service", i%5), []string{"read", "socket", "mount"}[i%3], "errno", at(i)))
				if i%100 == 0 {
					_ = a.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	var total uint64
	for _, u := range a.Snapshot() {
		total += u.Total
	}
	if total != workers*per {
		t.Errorf("total = %d, want %d", total, workers*per)
	}
}

// BenchmarkAggregatorAdd measures Add on an aggregator holding 10,000
// distinct unit×syscall pairs (100 units × 100 syscalls), and reports the
// heap it holds per pair.
func BenchmarkAggregatorAdd(b *testing.B) {
	names := syscalls.SyscallNames(syscalls.ArchX86_64)[:100]
	ds := make([]Denial, 0, 10000)
	for u := 0; u < 100; u++ {
		for _, n := range names {
			d := den(fmt.Sprintf("unit-%03d.service", u), n, "errno")
			d.Exe = fmt.Sprintf("/usr/lib/pkg%03d/bin/daemon-binary", u)
			d.Comm = "daemon-binary"
			ds = append(ds, d)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := NewAggregator(Limits{MaxUnits: 1000, MaxSyscallsPerUnit: 1000})
	for _, d := range ds {
		// Fresh strings, as a parser would make them.
		d.Exe, d.Comm = string([]byte(d.Exe)), string([]byte(d.Comm))
		a.Add(d)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perPair := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(ds))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Add(ds[i%len(ds)])
	}
	b.ReportMetric(perPair, "heap-B/pair")
}

// TestAggregatorAddIsNew: Add says which denial is the first of its unit ×
// syscall pair, also after a restart (Restore), and never for one dropped
// at the limits.
func TestAggregatorAddIsNew(t *testing.T) {
	a := NewAggregator(Limits{MaxUnits: 2, MaxSyscallsPerUnit: 2})
	for _, c := range []struct {
		unit, syscall string
		want          bool
	}{
		{"a.service", "read", true}, {"a.service", "read", false}, {"a.service", "write", true},
		{"b.service", "read", true}, {"a.service", "socket", false}, // a.service is full
		{"c.service", "read", false}, // too many units
	} {
		if got := a.Add(den(c.unit, c.syscall, "errno")); got != c.want {
			t.Errorf("Add(%s, %s) = %v, want %v", c.unit, c.syscall, got, c.want)
		}
	}
	r := NewAggregator(Limits{})
	r.Restore(a.Snapshot())
	if r.Add(den("a.service", "read", "errno")) || !r.Add(den("a.service", "socket", "errno")) {
		t.Error("after Restore, a restored pair is new or a new pair is not")
	}
}
