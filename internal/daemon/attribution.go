package daemon

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/internal/units"
)

// MethodExe names attributions by the record's exe: the one unit on the
// host whose ExecStart= (or a sibling) runs that binary, confirmed by a
// live process of that unit with the record's uid and auid.
const MethodExe = "exe"

// exeIndexRefresh is how often the exe → unit index is rebuilt from the
// unit files.
const exeIndexRefresh = time.Minute

// unitProcsTTL is how long one read of a unit's processes serves as
// evidence for exe attributions (a storm asks once a second, not per
// record).
const unitProcsTTL = time.Second

// exeIndex is the last resort of attribution, for processes gone before
// their record was read and unknown to the primary methods. Only the read
// loop touches its caches.
type exeIndex struct {
	idx   *unitprops.ExecIndex
	cache map[string]string // exe → unit or ""

	procs map[string]unitProcs // system unit → its live processes, when read
}

// unitProcs is one read of a unit's processes.
type unitProcs struct {
	procs []units.Process
	at    time.Time
}

// rescuable lists the failures after which the exe may name the unit:
// nothing is known of the process. "not in a unit", a reused pid or a
// moved process are known facts, and the exe must not override them.
var rescuable = map[string]bool{
	units.ReasonPidGone:       true,
	units.ReasonBPFMapMiss:    true,
	units.ReasonCgroupUnknown: true,
}

func (d *Daemon) refreshExeIndex(ctx context.Context) {
	idx, err := d.files.ExecIndex(ctx)
	if err != nil {
		d.log.Debug("exe index", zap.Error(err))
		return
	}
	d.exes.Store(&exeIndex{idx: idx, cache: make(map[string]string)})
}

// attribute fills the event's unit: the primary methods (eBPF, /proc,
// history), then the exe when exactly one unit runs it and the unit
// confirms it (confirmedByUnit). An exe alone is never enough: anyone can
// run /usr/sbin/sshd under a filter of their own. An unconfirmed unit is
// only the event's CandidateUnit. A kill that nothing else explains may
// still be a service's last main process (byMainPID). Outcomes are counted
// as the pipeline ends them.
func (d *Daemon) attribute(ev *event.Event, rec *auditstream.Record) {
	d.applyAttribution(ev, rec, d.attr.Attribute(rec.PID, rec.Time))
}

// applyAttribution is attribute for the primary methods' result res.
func (d *Daemon) applyAttribution(ev *event.Event, rec *auditstream.Record, res units.Result) {
	if res.Unit.Name != "" {
		ev.Unit, ev.Machine, ev.Method = res.Unit.Name, res.Unit.Machine, res.Method
		ev.UserUnit, ev.UserUID = res.Unit.UID >= 0, max(res.Unit.UID, 0)
		d.outcomes.ok(res.Method)
		return
	}
	if rescuable[res.Reason] && !rec.ExeUnknown && rec.Exe != "" {
		if x := d.exes.Load(); x != nil {
			u, ok := x.cache[rec.Exe]
			if !ok {
				u, _ = x.idx.LookupExe(rec.Exe)
				if len(x.cache) < 4096 {
					x.cache[rec.Exe] = u
				}
			}
			if u != "" {
				if d.confirmedByUnit(x, u, rec) {
					ev.Unit, ev.Method = u, MethodExe
					d.outcomes.ok(MethodExe)
					return
				}
				ev.CandidateUnit = u
			}
		}
	}
	if rescuable[res.Reason] {
		if u, ok := d.byMainPID(rec, ev.CandidateUnit); ok {
			ev.Unit, ev.Method, ev.CandidateUnit = u, MethodMainPID, ""
			d.outcomes.ok(MethodMainPID)
			return
		}
	}
	ev.Reason = res.Reason
	d.outcomes.fail(res.Reason)
}

// MethodMainPID names attributions by systemd's memory of a service's last
// main process: the one service whose ExecMainPID is the record's pid and
// which systemd saw killed by SIGSYS right after the record.
const MethodMainPID = "execmainpid"

// Bounds of the ExecMainPID fallback: a service's main process killed by
// seccomp dies within milliseconds of its record; systemd stamps the exit
// when it reaps it (clocks: the kernel's and systemd's realtime, which may
// differ by the record's millisecond rounding). One sweep of the services
// per mainPIDInterval at most: a storm of such records costs systemd no
// more than that, and the records past it stay unknown with their reason.
const (
	mainPIDBefore   = time.Second
	mainPIDAfter    = 10 * time.Second
	mainPIDInterval = 250 * time.Millisecond
	mainPIDTimeout  = 2 * time.Second
)

// mainPIDLookups throttles the fallback. Only the read loop touches it.
type mainPIDLookups struct{ next time.Time }

// byMainPID is the last resort for a killed process that left no trace
// (gone before its record was read, unknown to eBPF and to /proc's
// history): systemd keeps ExecMainPID, ExecMainCode and ExecMainStatus
// after a service's main process ended. Only a kill whose process a
// service of this host's systemd started as its main process can be
// found this way (systemd is PID 1 in the pid namespace of the records'
// pids; a container's systemd answers with its own pids, not asked), and
// only when exactly one service matches (matchMainPID). systemd is asked
// about the failed and restarting services and the exe's candidate unit
// (unitprops.DBus.ServicesByMainPID).
func (d *Daemon) byMainPID(rec *auditstream.Record, candidate string) (string, bool) {
	if d.bus == nil || rec.PID <= 0 || (rec.Action != auditstream.ActionKillProcess && rec.Action != auditstream.ActionKillThread) {
		return "", false
	}
	now := time.Now()
	if now.Before(d.mainPIDs.next) {
		return "", false
	}
	d.mainPIDs.next = now.Add(mainPIDInterval)
	ctx, cancel := context.WithTimeout(context.Background(), mainPIDTimeout)
	defer cancel()
	var candidates []string
	if candidate != "" && !strings.Contains(candidate, "/") {
		candidates = []string{candidate}
	}
	ms, err := d.bus.ServicesByMainPID(ctx, rec.PID, candidates)
	if err != nil {
		if errors.Is(err, unitprops.ErrNoDBus) {
			// No systemd on the bus: /healthz and the D-Bus loop say so.
			d.log.Debug("ExecMainPID attribution: no D-Bus", zap.Int("pid", rec.PID), zap.Error(err))
		} else {
			d.log.Warn("ExecMainPID attribution: systemd did not answer", zap.Int("pid", rec.PID), zap.Error(err))
		}
		return "", false
	}
	u, ok := matchMainPID(ms, rec.PID, rec.Time)
	if !ok {
		d.log.Debug("ExecMainPID attribution: no service fits", zap.Int("pid", rec.PID), zap.Int("services", len(ms)))
	}
	return u, ok
}

// matchMainPID picks the service whose last main process is the record's:
// the same pid, killed by SIGSYS (what seccomp's kill actions send), its
// exit seen no earlier than mainPIDBefore before the record and no later
// than mainPIDAfter after it (an older exit is an earlier process with a
// reused pid). Anything but exactly one such service is no answer: two
// would be a guess, and a wrong unit is worse than unknown.
func matchMainPID(ms []unitprops.MainProcess, pid int, at time.Time) (string, bool) {
	if at.IsZero() {
		return "", false
	}
	found := ""
	for _, m := range ms {
		if m.PID != pid || (m.Code != unitprops.CLDKilled && m.Code != unitprops.CLDDumped) || m.Status != int32(unix.SIGSYS) {
			continue
		}
		if m.Exit.Before(at.Add(-mainPIDBefore)) || m.Exit.After(at.Add(mainPIDAfter)) {
			continue
		}
		if found != "" {
			return "", false
		}
		found = m.Unit
	}
	return found, found != ""
}

// confirmedByUnit reports whether the system unit has a live process with
// the record's uid and auid. Only root and the unit itself can put a
// process into a system unit's cgroup, and a logged-in user cannot drop
// their login uid (auid), so a user who runs the unit's binary under a
// filter of their own is never taken for the unit. What it cannot tell
// apart: a process of another unit that runs as the same user with the
// same (usually unset) login uid; and a unit with no process left has no
// evidence (unknown).
func (d *Daemon) confirmedByUnit(x *exeIndex, unit string, rec *auditstream.Record) bool {
	if rec.UID.Name != "" || rec.AUID.Name != "" {
		return false // names, not numbers: not a live record
	}
	up, ok := x.procs[unit]
	if !ok || time.Since(up.at) > unitProcsTTL {
		procs, err := d.attr.UnitProcesses(unit)
		if err != nil {
			d.log.Debug("exe attribution: unit processes", zap.String("unit", unit), zap.Error(err))
		}
		if x.procs == nil || len(x.procs) >= 4096 {
			x.procs = make(map[string]unitProcs)
		}
		up = unitProcs{procs: procs, at: time.Now()}
		x.procs[unit] = up
	}
	for _, p := range up.procs {
		if p.UID == rec.UID.N && p.AUID == rec.AUID.N {
			return true
		}
	}
	return false
}

// outcomes counts attributions by method and failures by reason. Each
// count is an atomic counter that the record path can keep (counter) and
// increment without a lock.
type outcomes struct {
	mu       sync.Mutex
	methods  map[string]*atomic.Uint64
	failures map[string]*atomic.Uint64
}

func newOutcomes() *outcomes {
	o := &outcomes{methods: map[string]*atomic.Uint64{}, failures: map[string]*atomic.Uint64{}}
	// Every series exists from the start, so that rate() sees the first one.
	for _, m := range []string{units.MethodBPF, units.MethodProc, units.MethodHistory, MethodExe, MethodMainPID} {
		o.methods[m] = new(atomic.Uint64)
	}
	for _, r := range []string{units.ReasonPidGone, units.ReasonNotInUnit, units.ReasonCgroupUnknown, units.ReasonBPFMapMiss,
		units.ReasonPidReused, units.ReasonCgroupChanged, units.ReasonBadPid} {
		o.failures[r] = new(atomic.Uint64)
	}
	return o
}

// counter returns the counter of an attribution by method (when failed
// is false) or of a failure by reason (true).
func (o *outcomes) counter(name string, failed bool) *atomic.Uint64 {
	m := o.methods
	if failed {
		m = o.failures
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c := m[name]
	if c == nil {
		c = new(atomic.Uint64)
		m[name] = c
	}
	return c
}

func (o *outcomes) ok(method string) { o.counter(method, false).Add(1) }

func (o *outcomes) fail(reason string) { o.counter(reason, true).Add(1) }

func (o *outcomes) snapshot() (methods, failures map[string]uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	methods = make(map[string]uint64, len(o.methods))
	for k, v := range o.methods {
		methods[k] = v.Load()
	}
	failures = make(map[string]uint64, len(o.failures))
	for k, v := range o.failures {
		failures[k] = v.Load()
	}
	return methods, failures
}
