package units

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/guard"
)

// Methods of a successful attribution (Result.Method).
const (
	MethodBPF     = "bpf"
	MethodProc    = "proc"
	MethodHistory = "history"
)

// Reasons of a failed attribution (Result.Reason).
const (
	ReasonPidGone       = "pid_gone"       // process gone, nothing remembered
	ReasonNotInUnit     = "not_in_unit"    // its cgroup is in no unit
	ReasonCgroupUnknown = "cgroup_unknown" // cgroup id not in the index
	ReasonBPFMapMiss    = "bpf_map_miss"   // BPF knows nothing and /proc neither
	ReasonPidReused     = "pid_reused"     // only a later process with that pid is known
	ReasonCgroupChanged = "cgroup_changed" // moved after the record, earlier cgroup unknown
	ReasonBadPid        = "bad_pid"        // pid <= 0
	// ReasonMachineUnknown: the cgroup is below a "payload" directory of
	// a host unit, and whether systemd-machined had registered a machine
	// there at the record's time is not known (machined did not answer,
	// a machine's cgroup could not be learnt, or it was registered or
	// removed within the slack of the record).
	ReasonMachineUnknown = "machine_unknown"
)

var methods = []string{MethodBPF, MethodProc, MethodHistory}

var reasons = []string{ReasonPidGone, ReasonNotInUnit, ReasonCgroupUnknown, ReasonBPFMapMiss,
	ReasonPidReused, ReasonCgroupChanged, ReasonBadPid, ReasonMachineUnknown}

// Modes of an Attributor (Mode).
const (
	ModeBPF  = "bpf"
	ModeProc = "proc"
)

// Options configure an Attributor. Zero values pick the defaults.
type Options struct {
	// ProcRoot is the proc file system (default /proc).
	ProcRoot string
	// CgroupRoot is the cgroup2 mount (default: /sys/fs/cgroup/unified on
	// hybrid hosts, /sys/fs/cgroup on pure v2).
	CgroupRoot string
	// DisableBPF forces the /proc fallback.
	DisableBPF bool
	// Logger receives mode changes and sweep problems (default: none).
	Logger *zap.Logger
	// HistorySize caps the /proc fallback's pid history (default 16384).
	HistorySize int
	// HistoryTTL is how long exited processes and removed cgroups stay
	// known (default 10 minutes: the audit path's worst lag).
	HistoryTTL time.Duration
	// MapEntries is the capacity of the BPF process map (default 65536).
	MapEntries int
	// Slack is the precision of record times (default 20 ms: audit stamps
	// come from a coarse clock and carry milliseconds).
	Slack time.Duration
	// SweepInterval is how often expired entries are dropped and the
	// cgroup tree rescanned (default 10 s).
	SweepInterval time.Duration
}

// Result is the outcome of one attribution.
type Result struct {
	// Unit is the unit; Unit.Name is empty when attribution failed.
	Unit Unit
	// Method says how the unit was found: MethodBPF, MethodProc or
	// MethodHistory (empty on failure).
	Method string
	// Reason says why there is no unit (a Reason* constant), else empty.
	Reason string
}

// Stats are the Attributor's counters, for metrics.
type Stats struct {
	// Attributions counts successes by method.
	Attributions map[string]uint64
	// Failures counts failures by reason.
	Failures map[string]uint64
	// MapEntries and MapCapacity describe the BPF process map (entries as
	// of the last sweep).
	MapEntries, MapCapacity int
	// Evictions counts exited processes dropped before their TTL because
	// the BPF map or the history was nearly full.
	Evictions uint64
	// Expired counts exited processes dropped after their TTL.
	Expired uint64
	// UpdateErrors counts failed BPF map updates (map full) for processes
	// and for cgroup paths.
	UpdateErrors, PathUpdateErrors uint64
	// HistoryEntries is the size of the /proc fallback history.
	HistoryEntries int
	// CgroupIndexEntries counts cgroups the index knows, removed included.
	CgroupIndexEntries int
}

// taskValue mirrors a tasks map value (see bpf.go).
type taskValue struct {
	CurStart, CurCgid, CurSince, CurPrev uint64
	OldStart, OldCgid, OldSince, OldPrev uint64
}

// histEntry is what a successful /proc read taught about a pid.
type histEntry struct {
	start  uint64 // boot ns, 10 ms resolution
	readAt uint64 // boot ns
	path   string
}

// Attributor maps a record's host pid and time to the unit the process ran
// in. It is safe for concurrent use.
type Attributor struct {
	opts     Options
	log      *zap.Logger
	idx      *cgIndex
	trk      *tracker
	mode     string
	reason   string
	slack    uint64
	ok       [3]atomic.Uint64
	failed   [8]atomic.Uint64
	evicted  atomic.Uint64
	expired  atomic.Uint64
	entries  atomic.Int64
	bootOff  atomic.Int64 // realtime - boottime, ns
	bootOffT atomic.Int64 // when bootOff was taken (unix ns)

	machines atomic.Pointer[MachineRegistry] // SetMachines

	// recent caches answers per (pid, record millisecond): a denial storm
	// repeats the same question thousands of times a second, and each
	// BPF map look-up is a syscall. See Attribute for why this is exact.
	recentMu sync.Mutex
	recent   map[recentKey]Result

	histMu sync.Mutex
	hist   map[int]histEntry
	order  []int // FIFO of pids in hist, for eviction

	dead map[uint32]time.Time // sweeper only: when a map entry's pid was first seen gone

	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool
}

// New starts an Attributor: it loads the BPF hooks (unless disabled or
// impossible), then indexes the cgroup2 tree and scans /proc for running
// processes, so that nothing falls between the two. It fails only when
// not even the /proc fallback can work (no cgroup2 tree to index is not
// fatal in /proc mode). The Attributor runs a sweeper until Close or
// until ctx ends.
func New(ctx context.Context, opts Options) (*Attributor, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.HistorySize <= 0 {
		opts.HistorySize = 16384
	}
	if opts.HistoryTTL <= 0 {
		opts.HistoryTTL = 10 * time.Minute
	}
	if opts.MapEntries <= 0 {
		opts.MapEntries = 65536
	}
	if opts.Slack <= 0 {
		opts.Slack = 20 * time.Millisecond
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 10 * time.Second
	}
	a := &Attributor{
		opts:  opts,
		log:   opts.Logger,
		slack: uint64(opts.Slack),
		hist:  make(map[int]histEntry),
		dead:  make(map[uint32]time.Time),
		done:  make(chan struct{}),
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if _, err := os.Stat(opts.ProcRoot); err != nil {
		return nil, fmt.Errorf("units: proc root: %w", err)
	}
	if opts.CgroupRoot == "" {
		root, err := findCgroup2()
		if err == nil {
			opts.CgroupRoot = root
			a.opts.CgroupRoot = root
		}
	}
	a.mode, a.reason = ModeProc, "disabled by option"
	switch {
	case opts.DisableBPF:
	case opts.CgroupRoot == "":
		a.reason = "no cgroup2 hierarchy: BPF cgroup ids would not name units"
	default:
		trk, err := newTracker(uint32(opts.MapEntries), 4096)
		if err != nil {
			a.reason = bpfFailReason(err)
			a.log.Warn("units: eBPF attribution unavailable, falling back to /proc at record time",
				zap.String("reason", a.reason), zap.Error(err))
		} else {
			a.trk, a.mode = trk, ModeBPF
			a.reason = "hooks " + strings.Join(trk.hooks, ",")
			if len(trk.missing) > 0 {
				a.reason += "; missing " + strings.Join(trk.missing, "; ")
				a.log.Warn("units: some eBPF hooks did not attach", zap.Strings("missing", trk.missing))
			}
		}
	}
	if opts.CgroupRoot != "" {
		a.idx = newCgIndex(opts.CgroupRoot, opts.HistoryTTL)
		if err := a.idx.scan(); err != nil {
			a.log.Warn("units: cgroup index", zap.Error(err))
		}
	}
	if a.trk != nil {
		a.seedFromProc()
	}
	a.refreshBootOffset()
	sctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	guard.Go(func() { a.sweeper(sctx) })
	a.log.Info("units: attribution ready", zap.String("mode", a.mode), zap.String("reason", a.reason))
	return a, nil
}

func bpfFailReason(err error) string {
	switch {
	case errors.Is(err, unix.EPERM):
		return "no permission to load eBPF (needs CAP_BPF and CAP_PERFMON, or root): " + err.Error()
	case errors.Is(err, ebpf.ErrNotSupported):
		return "kernel lacks eBPF support needed: " + err.Error()
	}
	return err.Error()
}

// Mode returns the active method ("bpf" or "proc") and a sentence saying
// why (the hooks attached, or why eBPF could not be used).
func (a *Attributor) Mode() (mode, reason string) { return a.mode, a.reason }

// seedFromProc inserts the processes that were running before the hooks
// were attached; it never overwrites what a hook already recorded.
func (a *Attributor) seedFromProc() {
	ents, err := os.ReadDir(a.opts.ProcRoot)
	if err != nil {
		a.log.Warn("units: scan /proc", zap.Error(err))
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		start, err := procStart(a.opts.ProcRoot, pid)
		if err != nil {
			continue
		}
		path, v2, err := procCgroup(a.opts.ProcRoot, pid)
		if err != nil || !v2 {
			continue
		}
		id, err := a.idx.idOf(path)
		if err != nil {
			continue
		}
		v := taskValue{CurStart: start, CurCgid: id, CurSince: start}
		_ = a.trk.tasks.Update(uint32(pid), &v, ebpf.UpdateNoExist)
	}
}

// refreshBootOffset measures realtime - boottime.
func (a *Attributor) refreshBootOffset() {
	var rt, bt unix.Timespec
	if unix.ClockGettime(unix.CLOCK_REALTIME, &rt) != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt) != nil {
		return
	}
	a.bootOff.Store(rt.Nano() - bt.Nano())
	a.bootOffT.Store(rt.Nano())
}

// bootNs converts a wall-clock time to boot-time nanoseconds (zero t:
// now).
func (a *Attributor) bootNs(t time.Time) uint64 {
	if t.IsZero() {
		t = time.Now()
	}
	// A live record's time is the kernel's clock of a moment ago: it
	// tells as well as the clock itself whether the offset is more than
	// a second old, without reading the clock for every record of a
	// storm.
	if t.UnixNano()-a.bootOffT.Load() > int64(time.Second) {
		a.refreshBootOffset()
	}
	v := t.UnixNano() - a.bootOff.Load()
	if v < 0 {
		return 0
	}
	return uint64(v)
}

func (a *Attributor) fail(reason string, u Unit) Result {
	for i, r := range reasons {
		if r == reason {
			a.failed[i].Add(1)
		}
	}
	u.Name, u.Kind = "", ""
	return Result{Unit: u, Reason: reason}
}

// found is success for a host cgroup's unit u at boot time tb, once the
// machines systemd-machined registered had their say (inMachine).
func (a *Attributor) found(method string, u Unit, tb uint64) Result {
	u, reason := a.inMachine(u, tb)
	if reason != "" {
		return a.fail(reason, u)
	}
	return a.success(method, u)
}

func (a *Attributor) success(method string, u Unit) Result {
	for i, m := range methods {
		if m == method {
			a.ok[i].Add(1)
		}
	}
	return Result{Unit: u, Method: method}
}

// Attribute returns the unit that process pid (a host pid, as in audit
// records) was in at time t (the record's time; zero means now). It never
// guesses: when the evidence does not name one unit for sure, Unit.Name is
// empty and Reason says why.
func (a *Attributor) Attribute(pid int, t time.Time) Result {
	if pid <= 0 || pid > 1<<22 {
		return a.fail(ReasonBadPid, Unit{UID: -1})
	}
	tb := a.bootNs(t)
	// The answer for a process at a moment is settled once a record of that
	// moment exists: later events (an exec, a move, the pid's reuse) can
	// only make a later look-up for the same moment ambiguous, never make
	// the first answer wrong. So a found unit, and "not in a unit", are
	// reused for other records of the same pid and millisecond; transient
	// failures (an index miss, a gone pid) are asked again.
	key := recentKey{pid: pid, ms: tb / uint64(time.Millisecond)}
	a.recentMu.Lock()
	r, ok := a.recent[key]
	a.recentMu.Unlock()
	if ok {
		if r.Reason != "" {
			return a.fail(r.Reason, r.Unit)
		}
		return a.success(r.Method, r.Unit)
	}
	r = a.attribute(pid, tb)
	// Only with BPF: that is where a storm costs a syscall per record, and
	// where the answer for a moment is final. The /proc fallback keeps
	// asking, so that its history takes over once the process is gone.
	if a.trk != nil && (r.Reason == "" || r.Reason == ReasonNotInUnit) {
		a.recentMu.Lock()
		if len(a.recent) >= recentMax || a.recent == nil {
			a.recent = make(map[recentKey]Result, recentMax)
		}
		a.recent[key] = r
		a.recentMu.Unlock()
	}
	return r
}

// recentMax bounds the Attribute cache; it is emptied when full.
const recentMax = 4096

type recentKey struct {
	pid int
	ms  uint64
}

func (a *Attributor) attribute(pid int, tb uint64) Result {
	if a.trk != nil {
		var v taskValue
		if err := a.trk.tasks.Lookup(uint32(pid), &v); err == nil {
			cgid, reason := pickCgroup(&v, tb, a.slack)
			if reason != "" {
				return a.fail(reason, Unit{UID: -1})
			}
			return a.resolveID(cgid, tb)
		}
	}
	if r, ok := a.fromProc(pid, tb); ok {
		return r
	}
	if r, ok := a.fromHistory(pid, tb); ok {
		return r
	}
	if a.trk != nil {
		return a.fail(ReasonBPFMapMiss, Unit{UID: -1})
	}
	return a.fail(ReasonPidGone, Unit{UID: -1})
}

// pickCgroup chooses, from the generations a tasks map value holds, the
// cgroup the process with that tgid was in at boot time tb. Times within
// slack of tb are ambiguous: a process generation that may have started
// after the record is never used, and within a generation the latest
// cgroup is used unless it clearly became current after the record.
func pickCgroup(v *taskValue, tb, slack uint64) (uint64, string) {
	type gen struct{ start, cgid, since, prev uint64 }
	cur := gen{v.CurStart, v.CurCgid, v.CurSince, v.CurPrev}
	old := gen{v.OldStart, v.OldCgid, v.OldSince, v.OldPrev}
	hasOld := old.start != 0 || old.cgid != 0
	var g gen
	switch {
	case cur.start+slack <= tb || (!hasOld && cur.start <= tb+slack):
		g = cur
	case cur.start > tb+slack && hasOld && old.start <= tb+slack:
		g = old
	default:
		return 0, ReasonPidReused
	}
	if g.since <= tb+slack {
		return g.cgid, ""
	}
	if g.prev != 0 && g.prev != prevMovedMore {
		return g.prev, ""
	}
	return 0, ReasonCgroupChanged
}

// resolveID names cgroup id via the index (rescanning on a miss, and
// consulting what the cgroup_mkdir hook saw).
func (a *Attributor) resolveID(id, tb uint64) Result {
	if a.idx == nil {
		return a.fail(ReasonCgroupUnknown, Unit{UID: -1})
	}
	e, ok := a.idx.lookup(id)
	if !ok && a.trk != nil {
		var buf [pathValueSize]byte
		if err := a.trk.paths.Lookup(id, &buf); err == nil {
			if p, ok := cString(buf[:]); ok {
				a.idx.add(id, p)
			}
		}
		e, ok = a.idx.lookup(id)
	}
	if !ok {
		a.idx.rescanIfOlder(10 * time.Millisecond)
		e, ok = a.idx.lookup(id)
	}
	if !ok {
		return a.fail(ReasonCgroupUnknown, Unit{UID: -1})
	}
	if e.unitErr != nil {
		return a.fail(ReasonNotInUnit, e.unit)
	}
	return a.found(MethodBPF, e.unit, tb)
}

// cString returns the NUL-terminated string in b; ok is false when b has
// no NUL before its last byte (a path the hook had to truncate).
func cString(b []byte) (string, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), i > 0 && i < len(b)-1
		}
	}
	return "", false
}

// fromProc reads /proc/<pid>/cgroup, checking (start time before and after)
// that the pid belongs to one process that existed at the record's time.
func (a *Attributor) fromProc(pid int, tb uint64) (Result, bool) {
	s1, err := procStart(a.opts.ProcRoot, pid)
	if err != nil || s1 > tb+a.slack {
		return Result{}, false // gone, or a later process holds the pid
	}
	path, v2, err := procCgroup(a.opts.ProcRoot, pid)
	if err != nil {
		return Result{}, false
	}
	if s2, err := procStart(a.opts.ProcRoot, pid); err != nil || s2 != s1 {
		return Result{}, false
	}
	if !v2 && path == "/" {
		// An exiting task's v1 name=systemd line already reads "/".
		return Result{}, false
	}
	a.remember(pid, histEntry{start: s1, readAt: a.bootNs(time.Time{}), path: path})
	u, err := ParseCgroupPath(path)
	if err != nil {
		return a.fail(ReasonNotInUnit, u), true
	}
	return a.found(MethodProc, u, tb), true
}

// remember stores a successful /proc read in the pid history.
func (a *Attributor) remember(pid int, e histEntry) {
	a.histMu.Lock()
	defer a.histMu.Unlock()
	if _, ok := a.hist[pid]; !ok {
		for len(a.hist) >= a.opts.HistorySize && len(a.order) > 0 {
			old := a.order[0]
			a.order = a.order[1:]
			if _, ok := a.hist[old]; ok {
				delete(a.hist, old)
				a.evicted.Add(1)
			}
		}
		a.order = append(a.order, pid)
	}
	a.hist[pid] = e
}

// fromHistory answers from an earlier /proc read of the same process: one
// that started before the record and was seen alive at or after it.
func (a *Attributor) fromHistory(pid int, tb uint64) (Result, bool) {
	a.histMu.Lock()
	e, ok := a.hist[pid]
	a.histMu.Unlock()
	if !ok || e.start > tb+a.slack || e.readAt+a.slack < tb {
		return Result{}, false
	}
	u, err := ParseCgroupPath(e.path)
	if err != nil {
		return a.fail(ReasonNotInUnit, u), true
	}
	return a.found(MethodHistory, u, tb), true
}

// Stats returns a snapshot of the counters.
func (a *Attributor) Stats() Stats {
	s := Stats{
		Attributions: make(map[string]uint64, len(methods)),
		Failures:     make(map[string]uint64, len(reasons)),
		Evictions:    a.evicted.Load(),
		Expired:      a.expired.Load(),
		MapEntries:   int(a.entries.Load()),
	}
	for i, m := range methods {
		s.Attributions[m] = a.ok[i].Load()
	}
	for i, r := range reasons {
		s.Failures[r] = a.failed[i].Load()
	}
	if a.trk != nil {
		s.MapCapacity = a.opts.MapEntries
		s.UpdateErrors = a.trk.stat(statTaskUpdateErrors)
		s.PathUpdateErrors = a.trk.stat(statPathUpdateErrors)
	}
	a.histMu.Lock()
	s.HistoryEntries = len(a.hist)
	a.histMu.Unlock()
	if a.idx != nil {
		s.CgroupIndexEntries = a.idx.len()
	}
	return s
}

// sweeper runs the periodic maintenance until ctx ends.
func (a *Attributor) sweeper(ctx context.Context) {
	defer close(a.done)
	tick := time.NewTicker(a.opts.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			guard.Failpoint("panic-in-bpf-sweeper")
			a.sweep()
		}
	}
}

// sweep drains the cgroup_mkdir paths into the index, rescans the cgroup
// tree, drops exited processes after their TTL (earlier, oldest first,
// when the map is nearly full) and expires the pid history.
func (a *Attributor) sweep() {
	now := time.Now()
	if a.trk != nil {
		a.drainPaths()
	}
	if a.idx != nil {
		if err := a.idx.scan(); err != nil {
			a.log.Warn("units: cgroup index", zap.Error(err))
		}
	}
	if a.trk != nil {
		a.sweepTasks(now)
	}
	ttl := uint64(a.opts.HistoryTTL)
	nowB := a.bootNs(time.Time{})
	a.histMu.Lock()
	keep := a.order[:0]
	for _, pid := range a.order {
		if e, ok := a.hist[pid]; ok && e.readAt+ttl < nowB {
			delete(a.hist, pid)
			a.expired.Add(1)
			continue
		}
		keep = append(keep, pid)
	}
	a.order = keep
	a.histMu.Unlock()
}

func (a *Attributor) drainPaths() {
	var (
		id  uint64
		buf [pathValueSize]byte
	)
	var ids []uint64
	it := a.trk.paths.Iterate()
	for it.Next(&id, &buf) {
		if p, ok := cString(buf[:]); ok && a.idx != nil {
			a.idx.add(id, p)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		_ = a.trk.paths.Delete(id)
	}
}

func (a *Attributor) sweepTasks(now time.Time) {
	var (
		pid uint32
		v   taskValue
		n   int
	)
	live := make(map[uint32]bool)
	it := a.trk.tasks.Iterate()
	for it.Next(&pid, &v) {
		n++
		if err := unix.Kill(int(pid), 0); err == nil || errors.Is(err, unix.EPERM) {
			live[pid] = true
			delete(a.dead, pid)
			continue
		}
		if _, ok := a.dead[pid]; !ok {
			a.dead[pid] = now
		}
	}
	for pid, since := range a.dead {
		if live[pid] {
			delete(a.dead, pid)
			continue
		}
		if now.Sub(since) > a.opts.HistoryTTL {
			if a.deleteIfDead(pid) {
				a.expired.Add(1)
				n--
			}
			delete(a.dead, pid)
		}
	}
	// Nearly full: evict the longest-dead entries down to 80%.
	if high := a.opts.MapEntries * 9 / 10; n > high {
		type d struct {
			pid   uint32
			since time.Time
		}
		var ds []d
		for pid, since := range a.dead {
			ds = append(ds, d{pid, since})
		}
		slices.SortFunc(ds, func(x, y d) int { return x.since.Compare(y.since) })
		for _, e := range ds {
			if n <= a.opts.MapEntries*8/10 {
				break
			}
			if a.deleteIfDead(e.pid) {
				a.evicted.Add(1)
				n--
			}
			delete(a.dead, e.pid)
		}
	}
	a.entries.Store(int64(n))
}

// deleteIfDead removes a map entry unless its pid came back to life (a
// new process took it) since the sweep looked.
func (a *Attributor) deleteIfDead(pid uint32) bool {
	if err := unix.Kill(int(pid), 0); err == nil || errors.Is(err, unix.EPERM) {
		return false
	}
	return a.trk.tasks.Delete(pid) == nil
}

// Close stops the sweeper and detaches the BPF programs.
func (a *Attributor) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	a.cancel()
	<-a.done
	if a.trk != nil {
		if err := a.trk.close(); err != nil {
			return fmt.Errorf("units: close: %w", err)
		}
	}
	return nil
}
