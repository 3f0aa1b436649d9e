package units

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) {
	denier.MaybeRun()
	os.Exit(m.Run())
}

// unitCgroups creates <slice>/<unit> for each unit in every cgroup
// hierarchy a unit lives in on this host (cgroup2, and name=systemd on v1
// and hybrid hosts: denier.UnitCgroups) and removes them when the test
// ends. It returns unit name → its directories.
func unitCgroups(t testing.TB, slice string, names ...string) map[string][]string {
	t.Helper()
	testutil.RequireRoot(t, "creates cgroups")
	out := make(map[string][]string)
	for _, n := range names {
		dirs, remove, err := denier.UnitCgroups(slice, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
		out[n] = dirs
	}
	return out
}

func rmdirRetry(t testing.TB, dir string) {
	var err error
	for range 50 {
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("remove %s: %v", dir, err)
}

func dirsOf(cgs map[string][]string, n string) []string { return cgs[n] }

func testSlice(t testing.TB) string {
	return fmt.Sprintf("swtest-%d.slice", os.Getpid())
}

// killedChild runs a process that joins dirs, execs /bin/true and is killed
// by seccomp ~100 µs later; it returns the reaped pid and a time after the
// denial.
func killedChild(t testing.TB, dirs []string) (int, time.Time) {
	cmd, err := denier.Command(denier.Spec{Syscall: "arch_prctl", Action: "kill_process", Exec: "/bin/true", Cgroups: dirs})
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGSYS {
		t.Fatalf("child not killed by SIGSYS: %v", err)
	}
	return cmd.Process.Pid, time.Now()
}

func newBPF(t testing.TB, opts Options) *Attributor {
	t.Helper()
	testutil.RequireRoot(t, "loads eBPF programs")
	if _, err := findCgroup2(); err != nil {
		// Legacy (v1 only) hosts: cgroup ids name no unit, by design.
		testutil.Unavailable(t, "eBPF attribution needs a cgroup2 hierarchy: "+err.Error())
	}
	if tt, ok := t.(*testing.T); ok {
		opts.Logger = zaptest.NewLogger(tt)
	}
	a, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if mode, reason := a.Mode(); mode != ModeBPF {
		t.Fatalf("mode %s (%s), want bpf on this kernel", mode, reason)
	}
	return a
}

// TestKilledProcesses is the target test: processes killed by seccomp
// right after exec, in several unit-shaped cgroups, are attributed after
// they were reaped, 100% and never to the wrong unit.
func TestKilledProcesses(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	slice := testSlice(t)
	names := []string{"alpha.service", "beta.service", "getty@tty9.service", "delta-x.service", "run-u7.scope"}
	cgs := unitCgroups(t, slice, names...)
	a := newBPF(t, Options{})
	t.Logf("mode: %s", a.reason)

	type rec struct {
		pid  int
		at   time.Time
		unit string
	}
	check := func(t *testing.T, recs []rec, report bool) {
		var right, wrong, unknown int
		reasons := map[string]int{}
		for _, r := range recs {
			res := a.Attribute(r.pid, r.at)
			switch {
			case res.Unit.Name == r.unit && res.Unit.Slice == slice:
				right++
			case res.Unit.Name == "":
				unknown++
				reasons[res.Reason]++
			default:
				wrong++
				t.Errorf("pid %d: got %q (%s), want %q", r.pid, res.Unit.Name, res.Method, r.unit)
			}
		}
		if !report && right == len(recs) {
			return
		}
		t.Logf("%d processes: %.1f%% attributed, %d wrong, %d unknown %v", len(recs),
			100*float64(right)/float64(len(recs)), wrong, unknown, reasons)
		if right != len(recs) {
			t.Errorf("attributed %d of %d", right, len(recs))
		}
	}
	t.Run("sequential", func(t *testing.T) {
		var recs []rec
		for i := range n {
			u := names[i%len(names)]
			pid, at := killedChild(t, cgs[u])
			recs = append(recs, rec{pid, at, u})
			// Attribute right after reaping, as a live reader would.
			check(t, recs[len(recs)-1:], false)
		}
		check(t, recs, true) // again, later: exited entries are kept
	})
	t.Run("parallel4", func(t *testing.T) {
		var (
			mu   sync.Mutex
			recs []rec
			wg   sync.WaitGroup
		)
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < n; i += 4 {
					u := names[i%len(names)]
					pid, at := killedChild(t, cgs[u])
					res := a.Attribute(pid, at)
					if res.Unit.Name != u {
						t.Errorf("pid %d: got %q/%s, want %q", pid, res.Unit.Name, res.Reason, u)
					}
					mu.Lock()
					recs = append(recs, rec{pid, at, u})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		check(t, recs, true)
	})
	st := a.Stats()
	t.Logf("stats: %+v", st)
	if st.Attributions[MethodBPF] == 0 {
		t.Error("no bpf attributions counted")
	}
}

// TestRemovedCgroup: a cgroup created after start (never scanned) and
// removed after its process died is still named, through what the
// cgroup_mkdir hook recorded.
func TestRemovedCgroup(t *testing.T) {
	a := newBPF(t, Options{})
	slice := "swtestrm-" + strconv.Itoa(os.Getpid()) + ".slice"
	cgs := unitCgroups(t, slice, "gone.service")
	pid, at := killedChild(t, cgs["gone.service"])
	for _, d := range cgs["gone.service"] {
		rmdirRetry(t, d)
	}
	if e, ok := a.idx.lookup(mustIno(t, a, pid)); ok {
		t.Logf("index already had it: %q", e.path)
	}
	res := a.Attribute(pid, at)
	if res.Unit.Name != "gone.service" || res.Unit.Slice != slice {
		t.Fatalf("got %+v, want gone.service in %s", res, slice)
	}
	// After a rescan the entry is kept as removed, still named.
	_ = a.idx.scan()
	if res := a.Attribute(pid, at); res.Unit.Name != "gone.service" {
		t.Fatalf("after rescan: %+v", res)
	}
}

func mustIno(t *testing.T, a *Attributor, pid int) uint64 {
	var v taskValue
	if err := a.trk.tasks.Lookup(uint32(pid), &v); err != nil {
		t.Fatalf("pid %d not in map: %v", pid, err)
	}
	return v.CurCgid
}

// TestPidReuse makes the kernel hand a dead process's pid to a new process
// in another unit (via ns_last_pid) and checks that each record time gets
// its own process's unit.
func TestPidReuse(t *testing.T) {
	a := newBPF(t, Options{})
	slice := "swtestreuse-" + strconv.Itoa(os.Getpid()) + ".slice"
	cgs := unitCgroups(t, slice, "first.service", "second.service")
	for try := range 30 {
		pidA, atA := killedChild(t, cgs["first.service"])
		time.Sleep(60 * time.Millisecond) // beyond the slack
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pidA-1)), 0); err != nil {
			testutil.Unavailable(t, "cannot steer pid allocation: "+err.Error())
		}
		// The second process lives 100 ms (beyond the slack), so its
		// record time cannot be confused with its start.
		cmd, err := denier.Command(denier.Spec{Syscall: "swapoff", Action: "errno", Exec: "/bin/sleep", Args: []string{"0.1"}, Cgroups: dirsOf(cgs, "second.service")})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		pidB, atB := cmd.Process.Pid, time.Now()
		if pidB != pidA {
			t.Logf("try %d: pid %d not reused (got %d)", try, pidA, pidB)
			continue
		}
		if r := a.Attribute(pidA, atA); r.Unit.Name != "first.service" {
			t.Fatalf("record of the first process: %+v", r)
		}
		if r := a.Attribute(pidB, atB); r.Unit.Name != "second.service" {
			t.Fatalf("record of the second process: %+v", r)
		}
		return
	}
	testutil.Unavailable(t, "pid never reused in 30 tries: other processes kept taking it")
}

// TestProcFallback: without BPF, live processes are read from /proc, and
// reaped ones are unknown (pid_gone) unless read while alive (history).
func TestProcFallback(t *testing.T) {
	slice := "swtestproc-" + strconv.Itoa(os.Getpid()) + ".slice"
	cgs := unitCgroups(t, slice, "live.service", "dead.service")
	a, err := New(context.Background(), Options{DisableBPF: true, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if m, _ := a.Mode(); m != ModeProc {
		t.Fatalf("mode %s", m)
	}
	cmd, err := denier.Command(denier.Spec{Syscall: "swapoff", Action: "errno", Exec: "/bin/sleep", Args: []string{"30"}, Cgroups: dirsOf(cgs, "live.service")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	before := time.Now()
	// Wait until the child has moved and exec'd.
	var res Result
	for range 200 {
		res = a.Attribute(pid, time.Time{})
		if res.Unit.Name == "live.service" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if res.Unit.Name != "live.service" || res.Method != MethodProc {
		t.Fatalf("live process: %+v", res)
	}
	at := time.Now()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if r := a.Attribute(pid, at); r.Unit.Name != "live.service" || r.Method != MethodHistory {
		t.Errorf("reaped process read while alive: %+v", r)
	}
	_ = before
	dpid, dat := killedChild(t, cgs["dead.service"])
	if r := a.Attribute(dpid, dat); r.Unit.Name != "" || r.Reason != ReasonPidGone {
		t.Errorf("reaped process never read: %+v, want unknown/pid_gone", r)
	}
	if st := a.Stats(); st.Failures[ReasonPidGone] == 0 || st.Attributions[MethodProc] == 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestPickCgroup checks the generation and cgroup-change choice.
func TestPickCgroup(t *testing.T) {
	const ms = uint64(time.Millisecond)
	slack := 20 * ms
	tests := []struct {
		name   string
		v      taskValue
		tb     uint64
		want   uint64
		reason string
	}{
		{"current process, moved before", taskValue{CurStart: 100 * ms, CurCgid: 7, CurSince: 150 * ms, CurPrev: 1}, 1000 * ms, 7, ""},
		{"moved just before record (within slack)", taskValue{CurStart: 100 * ms, CurCgid: 7, CurSince: 1010 * ms, CurPrev: 1}, 1000 * ms, 7, ""},
		{"moved after record", taskValue{CurStart: 100 * ms, CurCgid: 7, CurSince: 2000 * ms, CurPrev: 1}, 1000 * ms, 1, ""},
		{"moved after record, earlier unknown", taskValue{CurStart: 100 * ms, CurCgid: 7, CurSince: 2000 * ms}, 1000 * ms, 0, ReasonCgroupChanged},
		{"moved twice, latest after record", taskValue{CurStart: 100 * ms, CurCgid: 7, CurSince: 2000 * ms, CurPrev: prevMovedMore}, 1000 * ms, 0, ReasonCgroupChanged},
		{"moved twice, record after", taskValue{CurStart: 100 * ms, CurCgid: 7, CurSince: 500 * ms, CurPrev: prevMovedMore}, 1000 * ms, 7, ""},
		{"pid reused, old generation moved twice", taskValue{CurStart: 5000 * ms, CurCgid: 9, CurSince: 5000 * ms, OldStart: 100 * ms, OldCgid: 7, OldSince: 2000 * ms, OldPrev: prevMovedMore}, 1000 * ms, 0, ReasonCgroupChanged},
		{"pid reused after record", taskValue{CurStart: 5000 * ms, CurCgid: 9, CurSince: 5000 * ms, OldStart: 100 * ms, OldCgid: 7, OldSince: 100 * ms}, 1000 * ms, 7, ""},
		{"pid reused, old generation unknown", taskValue{CurStart: 5000 * ms, CurCgid: 9, CurSince: 5000 * ms}, 1000 * ms, 0, ReasonPidReused},
		{"reused within slack of record", taskValue{CurStart: 1005 * ms, CurCgid: 9, CurSince: 1005 * ms, OldStart: 100 * ms, OldCgid: 7}, 1000 * ms, 0, ReasonPidReused},
		{"started within slack, no earlier generation", taskValue{CurStart: 1005 * ms, CurCgid: 9, CurSince: 1005 * ms}, 1000 * ms, 9, ""},
		{"new generation, record after", taskValue{CurStart: 5000 * ms, CurCgid: 9, CurSince: 5000 * ms, OldStart: 100 * ms, OldCgid: 7}, 6000 * ms, 9, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := pickCgroup(&tc.v, tc.tb, slack)
			if got != tc.want || reason != tc.reason {
				t.Errorf("pickCgroup = %d, %q; want %d, %q", got, reason, tc.want, tc.reason)
			}
		})
	}
}

func BenchmarkAttribute(b *testing.B) {
	slice := "swtestbench-" + strconv.Itoa(os.Getpid()) + ".slice"
	cgs := unitCgroups(b, slice, "bench.service")
	b.Run("bpf_exited_cached", func(b *testing.B) {
		a := newBPF(b, Options{})
		pid, at := killedChild(b, cgs["bench.service"])
		b.ReportAllocs()
		for b.Loop() {
			if r := a.Attribute(pid, at); r.Unit.Name != "bench.service" {
				b.Fatal(r)
			}
		}
	})
	// A new millisecond each time: every call is a BPF map look-up (a
	// storm's repeated (pid, millisecond) questions are the case above).
	b.Run("bpf_exited_uncached", func(b *testing.B) {
		a := newBPF(b, Options{})
		pid, at := killedChild(b, cgs["bench.service"])
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if r := a.Attribute(pid, at.Add(time.Duration(i)*time.Millisecond)); r.Unit.Name != "bench.service" {
				b.Fatal(r)
			}
		}
	})
	b.Run("proc_live", func(b *testing.B) {
		a, err := New(context.Background(), Options{DisableBPF: true})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		cmd, _ := denier.Command(denier.Spec{Syscall: "swapoff", Action: "errno", Exec: "/bin/sleep", Args: []string{"30"}, Cgroups: dirsOf(cgs, "bench.service")})
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		for range 200 {
			if a.Attribute(cmd.Process.Pid, time.Time{}).Unit.Name == "bench.service" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.ReportAllocs()
		for b.Loop() {
			if r := a.Attribute(cmd.Process.Pid, time.Time{}); r.Unit.Name != "bench.service" {
				b.Fatal(r)
			}
		}
	})
}

// TestRawTracepointPrograms checks that the raw-tracepoint variants (the
// fallback for kernels where tp_btf fails) pass this kernel's verifier.
func TestRawTracepointPrograms(t *testing.T) {
	testutil.RequireRoot(t, "loads eBPF programs")
	o, err := loadOffsets()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTracker(64, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	for name, insns := range map[string]asm.Instructions{
		"exec":   execProg(o, true, tr.tasks, tr.stats),
		"fork":   forkProg(o, true, tr.tasks, tr.stats),
		"attach": attachProg(o, true, tr.tasks, tr.stats),
	} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, Instructions: insns, License: "Dual MIT/GPL"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		p.Close()
	}
}

// TestMovedTwice: a process that moves to another unit and then to a third
// after a record must never be attributed, for that record, to the unit in
// the middle (the map keeps one earlier cgroup, not when it began).
func TestMovedTwice(t *testing.T) {
	a := newBPF(t, Options{})
	slice := "swtestmv-" + strconv.Itoa(os.Getpid()) + ".slice"
	cgs := unitCgroups(t, slice, "one.service", "two.service", "three.service")
	cmd := exec.Command("/bin/sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	// move puts the process in unit and returns a time well inside its stay
	// there (beyond the slack on both sides).
	move := func(unit string) time.Time {
		for _, d := range cgs[unit] {
			if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(60 * time.Millisecond)
		at := time.Now()
		time.Sleep(60 * time.Millisecond)
		return at
	}
	at := map[string]time.Time{}
	for _, u := range []string{"one.service", "two.service", "three.service"} {
		at[u] = move(u)
	}
	for _, u := range []string{"one.service", "two.service", "three.service"} {
		r := a.Attribute(pid, at[u])
		if r.Unit.Name != "" && r.Unit.Name != u {
			t.Errorf("record while in %s: attributed to %q (%s), want it or unknown", u, r.Unit.Name, r.Method)
		}
		t.Logf("record while in %s: %q %s%s", u, r.Unit.Name, r.Method, r.Reason)
	}
	if r := a.Attribute(pid, time.Now()); r.Unit.Name != "three.service" {
		t.Errorf("record now: %+v, want three.service", r)
	}
}
