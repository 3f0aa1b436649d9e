package daemon

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/metrics"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
)

// The Daemon is the HTTP API's backend.
var _ httpapi.Backend = (*Daemon)(nil)

// Denials implements httpapi.Backend.
func (d *Daemon) Denials(unit string, limit int) []event.Event { return d.recent.list(unit, limit) }

func (d *Daemon) options(q httpapi.Query) suggest.Options {
	return suggest.Options{Table: d.table, AllowRisky: q.AllowRisky, Allow: q.Allow, Granularity: q.Granularity, Generator: buildinfo.Generator()}
}

// Suggestions implements httpapi.Backend.
func (d *Daemon) Suggestions(ctx context.Context, q httpapi.Query) []suggest.Suggestion {
	rs := pipeline.Suggest(ctx, d.agg.Snapshot(), d.props, d.options(q))
	out := make([]suggest.Suggestion, len(rs))
	for i, r := range rs {
		out[i] = r.Suggestion
	}
	return out
}

// Suggestion implements httpapi.Backend.
func (d *Daemon) Suggestion(ctx context.Context, unit string, q httpapi.Query) (suggest.Suggestion, map[string]string, bool) {
	u, ok := d.Records(unit, q)
	if !ok {
		return suggest.Suggestion{}, nil, false
	}
	rs := pipeline.Suggest(ctx, []suggest.UnitAggregate{u}, d.props, d.options(q))
	return rs[0].Suggestion, rs[0].Current, true
}

// Records implements httpapi.Backend. Without ?machine=, the same unit
// name on the host comes first (it sorts before any machine's).
func (d *Daemon) Records(unit string, q httpapi.Query) (suggest.UnitAggregate, bool) {
	for _, u := range d.agg.Snapshot() {
		if metricUnit(u.Unit, u.UserUnit, u.UID) == unit && (q.Machine == "" || q.Machine == u.Machine || q.Machine == httpapi.HostMachine && u.Machine == "") {
			return u, true
		}
	}
	return suggest.UnitAggregate{}, false
}

// Health implements httpapi.Backend: unhealthy when the audit stream is
// not being read.
func (d *Daemon) Health() httpapi.Health {
	st := d.source.Stats()
	h := httpapi.Health{Checks: map[string]httpapi.Check{}}
	audit := httpapi.Check{OK: st.Connected && !d.sourceDone.Load(), Status: "subscribed (" + st.Mode + ")"}
	if !audit.OK {
		audit.Status = "down"
	}
	if !st.KernelStatus {
		audit.Detail = "kernel lost/backlog counters not readable (needs CAP_AUDIT_CONTROL)"
	}
	h.Checks["audit"] = audit
	mode, reason := d.attr.Mode()
	attr := httpapi.Check{OK: true, Status: mode}
	if mode != "bpf" {
		attr.Detail = "eBPF unavailable, reading /proc at record time: " + reason
	}
	h.Checks["attribution"] = attr
	h.Checks["dbus"] = d.dbusCheck()
	if d.cfg.StateDir != "" {
		c := httpapi.Check{OK: true, Status: "ok"}
		if p := d.stateErr.Load(); p != nil {
			c = httpapi.Check{OK: true, Status: "degraded", Detail: *p}
		}
		h.Checks["state"] = c
	}
	if d.events != nil {
		_, errs, last := d.events.Stats()
		c := httpapi.Check{OK: true, Status: "ok"}
		if errs > 0 {
			c = httpapi.Check{OK: true, Status: "write errors", Detail: last}
		}
		h.Checks["events"] = c
	}
	h.Checks["visibility"] = d.vis.report().health()
	h.Healthy = audit.OK
	return h
}

// snapshot gathers every count for a scrape.
func (d *Daemon) snapshot() metrics.Snapshot {
	st := d.source.Stats()
	methods, failures := d.outcomes.snapshot()
	s := metrics.Snapshot{
		RecordsByType:       st.Records,
		ParseErrors:         st.ParseErrors,
		Attributions:        methods,
		AttributionFailures: failures,
		Lost:                st.Lost,
		Backlog:             float64(st.KernelBacklog),
		HasBacklog:          st.KernelStatus,
		AuditUp:             st.Connected && !d.sourceDone.Load(),
		LogLinesDropped:     d.log.Dropped(),
		StateWriteErrors:    d.stateWriteErrors.Load(),
	}
	s.AttributionMode, _ = d.attr.Mode()
	if d.events != nil {
		_, s.EventWriteErrors, _ = d.events.Stats()
	}
	s.Units = d.unitStates()
	s.Verdicts = d.verdicts.states()
	s.Visibility = d.vis.report().metrics()
	return s
}

// unitStates returns the per-unit gauges. Computing them needs every
// unit's suggestion (26 ms of CPU at 10,000 unit × syscall pairs, and the
// aggregator's lock while it is copied); they are recomputed when denials
// arrived since, at most once per unitStatesEvery, and when the unit
// properties may have changed (cache TTL). A scraper polling every few
// milliseconds during a storm thus pays for it once a second, and the
// gauges are at most that old; seccompwatch_denials_total is never
// cached.
func (d *Daemon) unitStates() []metrics.UnitState {
	d.unitsMu.Lock()
	defer d.unitsMu.Unlock()
	n := d.handled.Load()
	age := time.Since(d.unitsAt)
	if d.unitsAt.IsZero() || (n != d.unitsHandled && age >= unitStatesEvery) || age > propsTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.units = d.units[:0]
		for _, r := range pipeline.Suggest(ctx, d.agg.Snapshot(), d.props, d.options(httpapi.Query{})) {
			// Only what the drop-in would really add: lines it holds back
			// (risky, deliberate, unknown configuration) do not count.
			k := len(r.Suggestion.Added())
			var foreign time.Time
			for _, l := range r.Suggestion.Lines {
				if l.Foreign && l.LastSeen.After(foreign) {
					foreign = l.LastSeen
				}
			}
			unit := metricUnit(r.Suggestion.Unit, r.Suggestion.UserUnit, r.Suggestion.UID)
			machine := r.Suggestion.Machine
			if suggest.IsPseudoUnit(unit) {
				unit, machine = event.UnknownUnit, ""
			}
			d.units = append(d.units, metrics.UnitState{Unit: unit, Machine: machine, Suggested: k, LastDenial: r.Suggestion.LastSeen, LastForeign: foreign})
		}
		d.unitsHandled, d.unitsAt = n, time.Now()
	}
	return slices.Clone(d.units)
}

// unitStatesEvery bounds how often the per-unit gauges are recomputed.
const unitStatesEvery = time.Second

// propsTTL is how long parsed unit files, and the per-unit gauges derived
// from them, are reused.
const propsTTL = 30 * time.Second

// propsCache caches unit properties read from unit files for ttl, so that
// scrapes and API calls do not re-parse every unit's files every time.
type propsCache struct {
	p   unitprops.Provider
	ttl time.Duration

	mu sync.Mutex
	m  map[string]cachedProps
}

type cachedProps struct {
	props unitprops.Props
	err   error
	at    time.Time
}

func newPropsCache(p unitprops.Provider, ttl time.Duration) *propsCache {
	return &propsCache{p: p, ttl: ttl, m: make(map[string]cachedProps)}
}

// Props implements unitprops.Provider.
func (c *propsCache) Props(ctx context.Context, unit string) (unitprops.Props, error) {
	c.mu.Lock()
	e, ok := c.m[unit]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.props, e.err
	}
	p, err := c.p.Props(ctx, unit)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// The caller's time ran out, not the files: not an answer to
		// keep (kept, it made a unit's configuration "unknown" for
		// propsTTL after one slow D-Bus call before it).
		return p, err
	}
	c.mu.Lock()
	if len(c.m) > 4096 {
		clear(c.m)
	}
	c.m[unit] = cachedProps{props: p, err: err, at: time.Now()}
	c.mu.Unlock()
	return p, err
}

// metricUnit is the unit label of a unit: its name, or for a unit of a
// user manager "user@UID.service/NAME", so that a user's unit never counts
// as (or alerts for) the system unit of the same name.
// It is also how the CLI and the API name a user unit (unitname.UserRef).
func metricUnit(unit string, userUnit bool, uid int) string {
	return unitname.Ref(unit, userUnit, uid)
}
