package daemon

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/metrics"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// verdictKey is what a live verdict is about.
type verdictKey struct {
	machine, unit string
	userUID       int // -1 for a system unit
	syscall       string
	arch          syscalls.Arch
	auditArch     uint32 // the record's arch= (labels an unknown ABI)
	native        bool
	action        string
}

type verdictEntry struct {
	v  *event.Verdict // shared by every event that carries it: never changed
	at time.Time
}

// verdicts judges live denials off the record path: a record looks its
// verdict up (one map read); a key not judged yet, or judged longer than
// propsTTL ago, is queued (never blocking: a full queue waits for the next
// record) and judged by one goroutine that reads the unit's configuration
// (D-Bus, unit files, a container's own systemd). Events carry the verdict
// once it is known, null before. The map is bounded; past the bound new
// keys are not judged (their events say null).
type verdicts struct {
	d     *Daemon
	max   int
	queue chan verdictKey

	mu      sync.RWMutex
	m       map[verdictKey]verdictEntry
	pending map[verdictKey]bool
}

func newVerdicts(d *Daemon, max int) *verdicts {
	return &verdicts{d: d, max: max, queue: make(chan verdictKey, 256), m: map[verdictKey]verdictEntry{}, pending: map[verdictKey]bool{}}
}

func keyOf(ev *event.Event, native syscalls.Arch) verdictKey {
	k := verdictKey{machine: ev.Machine, unit: ev.Unit, userUID: -1, syscall: ev.SyscallName, arch: ev.Arch, auditArch: ev.AuditArch, native: ev.Arch == native, action: ev.Action.String()}
	if ev.UserUnit {
		k.userUID = ev.UserUID
	}
	return k
}

// lookupKey returns the verdict known for k at now, and until when it
// is fresh (nil and zero: not judged yet, or judged too long ago); it
// queues a judgement when there is no fresh verdict.
func (vs *verdicts) lookupKey(k verdictKey, now time.Time) (*event.Verdict, time.Time) {
	vs.mu.RLock()
	e, ok := vs.m[k]
	pending := vs.pending[k]
	vs.mu.RUnlock()
	until := e.at.Add(propsTTL)
	fresh := ok && now.Before(until)
	if !fresh && !pending {
		vs.mu.Lock()
		if len(vs.m) < vs.max && !vs.pending[k] {
			select {
			case vs.queue <- k:
				vs.pending[k] = true
			default:
			}
		}
		vs.mu.Unlock()
	}
	if !fresh {
		return nil, time.Time{} // an old verdict may be wrong now: null until judged again
	}
	return e.v, until
}

// verdictRefresh is how often run judges again the pairs judged longer
// ago, so that seccompwatch_denial_verdict follows a changed configuration
// (a drop-in installed, a unit file edited) without a new denial.
const verdictRefresh = 5 * time.Minute

// run judges queued keys until ctx ends, and every verdictRefresh the
// pairs judged longer ago.
func (vs *verdicts) run(ctx context.Context) {
	tick := time.NewTicker(verdictRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			vs.mu.RLock()
			var old []verdictKey
			for k, e := range vs.m {
				if time.Since(e.at) >= verdictRefresh && !vs.pending[k] {
					old = append(old, k)
				}
			}
			vs.mu.RUnlock()
			for _, k := range old {
				if ctx.Err() != nil {
					return
				}
				vs.store(k, vs.judge(ctx, k))
			}
		case k := <-vs.queue:
			vs.store(k, vs.judge(ctx, k))
		}
	}
}

// store records k's verdict v, judged now, and logs a pair's first one.
func (vs *verdicts) store(k verdictKey, v event.Verdict) {
	vs.mu.Lock()
	delete(vs.pending, k)
	_, had := vs.m[k]
	vs.m[k] = verdictEntry{v: &v, at: time.Now()}
	vs.mu.Unlock()
	if !had {
		vs.d.log.Info("verdict", zap.String("unit", suggest.Sanitize(metricUnit(k.unit, k.userUID >= 0, k.userUID), 256)),
			zap.String("machine", suggest.Sanitize(k.machine, 64)), zap.String("syscall", k.syscall), zap.String("arch", k.arch.String()),
			zap.String("action", k.action), zap.String("verdict", v.Kind), zap.String("directive", v.Directive), zap.String("source", suggest.Sanitize(v.Source, 512)))
	}
}

func (vs *verdicts) judge(ctx context.Context, k verdictKey) event.Verdict {
	pol, _ := pipeline.PolicyFor(ctx, vs.d.props, k.unit, k.machine, k.userUID)
	v := suggest.JudgeCall(pol, vs.d.table, sandbox.Call{Syscall: k.syscall, Arch: k.arch, Native: k.native, Actions: []string{k.action}})
	return event.Verdict{Kind: string(v.Kind), Directive: v.Directive(), Source: v.Source()}
}

// states returns every judged pair's verdict for
// seccompwatch_denial_verdict, under the labels of the denial counter.
func (vs *verdicts) states() []metrics.VerdictState {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	out := make([]metrics.VerdictState, 0, len(vs.m))
	for k, e := range vs.m {
		out = append(out, metrics.VerdictState{
			Machine: k.machine, Unit: metricUnit(k.unit, k.userUID >= 0, k.userUID),
			Syscall: k.syscall, Action: k.action, Arch: syscalls.ArchLabel(k.arch, k.auditArch),
			Verdict: e.v.Kind, Directive: e.v.Directive,
		})
	}
	return out
}
