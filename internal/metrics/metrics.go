// Package metrics exports the daemon's counts as Prometheus metrics, under
// the names SPEC.md fixes (alert rules and dashboards depend on them).
//
// Counts live with their owners (the audit source, the attributor, the
// aggregator); this package reads them at scrape time through a Snapshot
// function, node_exporter style, and emits const metrics. The one
// high-cardinality family, seccompwatch_denials_total, is kept here, bounded
// by MaxSeries: label sets beyond it go to one overflow series and are
// counted; no counter series is ever evicted.
package metrics

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "seccompwatch"

// OverflowLabel is the label value of the overflow series.
const OverflowLabel = "overflow"

// UnitState is what the per-unit gauges report for one unit.
type UnitState struct {
	Unit string
	// Machine is the container the unit runs in, "" for the host's.
	Machine    string
	Suggested  int       // syscalls the unit's pending suggestion adds
	LastDenial time.Time // zero when unknown
	// LastForeign is the last denial of a syscall that a binary not among
	// the unit's own was denied (possible compromise); zero when none.
	LastForeign time.Time
}

// VerdictState is one unit × syscall × action × ABI pair's current verdict:
// what denies the call in the unit's configuration as the daemon last
// judged it (sandbox.Kind and the first denying directive).
type VerdictState struct {
	Machine, Unit, Syscall, Action, Arch string
	// Verdict is the kind ("filter", "directive", "unknown", ...);
	// Directive the first denying setting ("SystemCallFilter"), or "".
	Verdict, Directive string
}

// Visibility is what the daemon found on the host that keeps seccomp
// denials from being logged at all.
type Visibility struct {
	// Checked is false until the first check: no series are exported.
	Checked bool
	// AuditDisabled: audit=0 on the kernel command line.
	AuditDisabled bool
	// ActionsLogged maps seccomp actions to whether the kernel logs them
	// (kernel.seccomp.actions_logged); nil when unreadable.
	ActionsLogged map[string]bool
	// ManagerKnown: there is a systemd manager and ManagerLogs says
	// whether it loads filters with the log flag (SYSTEMD_LOG_SECCOMP=1).
	ManagerKnown, ManagerLogs bool
	// ErrnoUnits is the number of host units whose SystemCallFilter=
	// returns an errno; negative when unknown.
	ErrnoUnits int
}

// Snapshot is every count the collector exports besides the denials.
type Snapshot struct {
	RecordsByType       map[string]uint64 // audit records read, by type name
	ParseErrors         map[string]uint64 // by reason
	Attributions        map[string]uint64 // by method
	AttributionFailures map[string]uint64 // by reason
	Lost                map[string]uint64 // by source: enobufs, serial_gap, kernel
	Backlog             float64
	HasBacklog          bool // the kernel backlog is readable (CAP_AUDIT_CONTROL)
	AuditUp             bool
	AttributionMode     string // e.g. "bpf" or "proc"
	EventWriteErrors    uint64
	StateWriteErrors    uint64 // saves of --state.dir that failed
	LogLinesDropped     uint64 // by sampling
	Units               []UnitState
	// Verdicts are the judged pairs (seccompwatch_denial_verdict).
	Verdicts   []VerdictState
	Visibility Visibility
}

// Denials is the bounded seccompwatch_denials_total counter family.
//
// A label set's count is an atomic counter of its own, found once through
// Counter and then incremented without a lock or a map look-up; a scrape
// copies the list of series under the lock and reads the counters after
// releasing it, so a scrape of many series never stalls the record path.
type Denials struct {
	max int

	mu       sync.Mutex
	series   map[denialKey]*atomic.Uint64
	overflow atomic.Uint64 // denials of label sets refused (seccompwatch_series_overflow_total)
}

type denialKey struct {
	machine, unit, syscall, action, arch string
	risky                                bool
}

// overflowKey is the overflow series' key; every one of its labels,
// risky included, reads "overflow".
var overflowKey = denialKey{OverflowLabel, OverflowLabel, OverflowLabel, OverflowLabel, OverflowLabel, false}

// NewDenials returns a family that holds at most max label sets (plus the
// overflow series); max <= 0 means 10000.
func NewDenials(max int) *Denials {
	if max <= 0 {
		max = 10000
	}
	return &Denials{max: max, series: make(map[denialKey]*atomic.Uint64)}
}

// DenialCounter counts the denials of one label set (or, for a label set
// refused at the bound, the overflow series and the overflow count).
type DenialCounter struct {
	n        *atomic.Uint64
	overflow *atomic.Uint64 // nil unless the label set was refused
}

// Inc counts one denial.
func (c DenialCounter) Inc() {
	c.n.Add(1)
	if c.overflow != nil {
		c.overflow.Add(1)
	}
}

// Counter returns the counter of a label set, creating its series when
// there is room (series are never evicted, so the counter stays valid).
// The labels are as for Inc.
func (d *Denials) Counter(machine, unit, syscall, action, arch string, risky bool) DenialCounter {
	k := denialKey{machine, unit, syscall, action, arch, risky}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.series[k]; ok {
		return DenialCounter{n: n}
	}
	var c DenialCounter
	if len(d.series) >= d.max {
		k, c.overflow = overflowKey, &d.overflow
	}
	c.n = d.series[k]
	if c.n == nil {
		c.n = new(atomic.Uint64)
		d.series[k] = c.n
	}
	return c
}

// Inc counts one denial of unit in machine ("" for the host). machine,
// unit, syscall, action and arch must already be bounded vocabulary
// (validated machine and unit names, syscall names): never pid, comm or
// exe. Every distinct label set, machines included, counts toward max.
func (d *Denials) Inc(machine, unit, syscall, action, arch string, risky bool) {
	d.Counter(machine, unit, syscall, action, arch, risky).Inc()
}

// Total returns the denials counted in every series, the overflow series
// included.
func (d *Denials) Total() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var n uint64
	for _, v := range d.series {
		n += v.Load()
	}
	return n
}

// Collector is a prometheus.Collector over a Snapshot function and a
// Denials family.
type Collector struct {
	snapshot  func() Snapshot
	denials   *Denials
	maxSeries int
}

// NewCollector returns a collector; snapshot is called once per scrape.
// maxSeries bounds the per-unit gauges as Denials bounds the counter.
func NewCollector(snapshot func() Snapshot, denials *Denials, maxSeries int) *Collector {
	if maxSeries <= 0 {
		maxSeries = 10000
	}
	return &Collector{snapshot: snapshot, denials: denials, maxSeries: maxSeries}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// verdictHelp is seccompwatch_denial_verdict's help text.
const verdictHelp = "1 for the current verdict of a denied unit x syscall x action x arch (the labels of seccompwatch_denials_total without risky): verdict is what denies the call in the unit's configuration now (filter, filter-removed, architecture, directive, benign, none, stale, unknown, logged), directive the first denying setting (SystemCallFilter, ProtectClock, ...; empty when none). The overflow series counts the pairs beyond --max-series."

var (
	denialsDesc      = desc("denials_total", "Seccomp denials seen, by machine (empty for the host), unit, syscall, action, arch and whether the syscall is risky.", "machine", "unit", "syscall", "action", "arch", "risky")
	recordsDesc      = desc("audit_records_total", "Audit records read, by record type.", "type")
	parseErrorsDesc  = desc("parse_errors_total", "SECCOMP records that could not be parsed, by reason.", "reason")
	attributionsDesc = desc("attributions_total", "Denials attributed to a unit, by method.", "method")
	attrFailuresDesc = desc("attribution_failures_total", "Denials that could not be attributed to a unit (kept as unit \"unknown\"), by reason.", "reason")
	lostDesc         = desc("records_lost_total", "Audit records lost before seccompwatch read them, by where the loss was seen (enobufs, serial_gap, kernel).", "source")
	backlogDesc      = desc("kernel_audit_backlog", "Audit records queued in the kernel (AUDIT_GET), when readable.")
	suggestedDesc    = desc("suggested_syscalls", "Syscalls the pending suggestion for a unit would add, by machine (empty for the host) and unit.", "machine", "unit")
	lastDenialDesc   = desc("last_denial_timestamp_seconds", "Unix time of the last denial seen for a unit, by machine (empty for the host) and unit.", "machine", "unit")
	overflowDesc     = desc("series_overflow_total", "Label sets not given a series of their own because --max-series was reached (counted in the overflow series).")
	auditUpDesc      = desc("audit_stream_up", "1 when the audit stream is subscribed and being read.")
	attrModeDesc     = desc("attribution_mode", "The attribution method in use (1 for the active one): bpf, or proc when BPF could not load.", "mode")
	eventErrorsDesc  = desc("event_write_errors_total", "Denial events that could not be written to --events.file.")
	stateErrorsDesc  = desc("state_write_errors_total", "Saves of the denials to --state.dir that failed (full or read-only disk); the denials stay in memory and the next save retries.")
	logDroppedDesc   = desc("log_lines_sampled_out_total", "Per-record log lines dropped by log sampling (the event stream is never sampled).")
	foreignDesc      = desc("foreign_binary_last_denial_timestamp_seconds", "Unix time of the last denial of a syscall that a binary not among the unit's own (ExecStart= and siblings) was denied (possible compromise), by machine (empty for the host) and unit.", "machine", "unit")
	auditOffDesc     = desc("kernel_audit_disabled", "1 when audit=0 on the kernel command line: the kernel emits no audit record, seccomp denials included.")
	actionLogDesc    = desc("seccomp_action_logged", "1 when the kernel logs seccomp denials with this action (kernel.seccomp.actions_logged), 0 when it never does.", "action")
	managerLogDesc   = desc("manager_logs_seccomp", "1 when the systemd manager loads seccomp filters with the log flag (SYSTEMD_LOG_SECCOMP=1), so errno denials are logged; absent without systemd.")
	verdictDesc      = desc("denial_verdict", verdictHelp, "machine", "unit", "syscall", "action", "arch", "verdict", "directive")
	errnoUnitsDesc   = desc("errno_units", "Units (unit files) whose sandbox answers a denial with an errno (SystemCallFilter= with an errno, RestrictNamespaces=, ProtectClock=, ...): without manager_logs_seccomp their denials leave no record.")
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{denialsDesc, recordsDesc, parseErrorsDesc, attributionsDesc, attrFailuresDesc,
		lostDesc, backlogDesc, suggestedDesc, lastDenialDesc, overflowDesc, auditUpDesc, attrModeDesc, eventErrorsDesc, stateErrorsDesc, logDroppedDesc,
		foreignDesc, auditOffDesc, actionLogDesc, managerLogDesc, errnoUnitsDesc, verdictDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	type series struct {
		k denialKey
		n *atomic.Uint64
	}
	c.denials.mu.Lock()
	all := make([]series, 0, len(c.denials.series))
	for k, n := range c.denials.series {
		all = append(all, series{k, n})
	}
	c.denials.mu.Unlock()
	overflow := c.denials.overflow.Load()
	for _, e := range all {
		risky := strconv.FormatBool(e.k.risky)
		if e.k == overflowKey {
			risky = OverflowLabel
		}
		ch <- prometheus.MustNewConstMetric(denialsDesc, prometheus.CounterValue, float64(e.n.Load()), e.k.machine, e.k.unit, e.k.syscall, e.k.action, e.k.arch, risky)
	}

	counterMap(ch, recordsDesc, s.RecordsByType)
	counterMap(ch, parseErrorsDesc, s.ParseErrors)
	counterMap(ch, attributionsDesc, s.Attributions)
	counterMap(ch, attrFailuresDesc, s.AttributionFailures)
	lost := map[string]uint64{"enobufs": 0, "serial_gap": 0, "kernel": 0}
	for k, v := range s.Lost {
		lost[k] = v
	}
	counterMap(ch, lostDesc, lost)
	if s.HasBacklog {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, s.Backlog)
	}
	ch <- prometheus.MustNewConstMetric(auditUpDesc, prometheus.GaugeValue, b2f(s.AuditUp))
	for _, m := range []string{"bpf", "proc"} {
		ch <- prometheus.MustNewConstMetric(attrModeDesc, prometheus.GaugeValue, b2f(s.AttributionMode == m), m)
	}
	ch <- prometheus.MustNewConstMetric(overflowDesc, prometheus.CounterValue, float64(overflow))
	ch <- prometheus.MustNewConstMetric(eventErrorsDesc, prometheus.CounterValue, float64(s.EventWriteErrors))
	ch <- prometheus.MustNewConstMetric(stateErrorsDesc, prometheus.CounterValue, float64(s.StateWriteErrors))
	ch <- prometheus.MustNewConstMetric(logDroppedDesc, prometheus.CounterValue, float64(s.LogLinesDropped))
	collectVisibility(ch, s.Visibility)

	units := mergeUnits(s.Units)
	var ov UnitState
	for i, u := range units {
		if i >= c.maxSeries {
			ov.Suggested += u.Suggested
			ov.LastDenial = later(ov.LastDenial, u.LastDenial)
			ov.LastForeign = later(ov.LastForeign, u.LastForeign)
			continue
		}
		unitGauges(ch, u.Machine, u.Unit, u)
	}
	if len(units) > c.maxSeries {
		unitGauges(ch, OverflowLabel, OverflowLabel, ov)
	}
	c.collectVerdicts(ch, s.Verdicts)
}

// collectVerdicts emits one seccompwatch_denial_verdict series per pair,
// sorted, at most maxSeries of them; the pairs beyond go to one series
// whose labels are all "overflow" and whose value is their number. Two
// states with one label set (which the daemon does not produce) are one
// series: a duplicate would fail the whole scrape.
func (c *Collector) collectVerdicts(ch chan<- prometheus.Metric, in []VerdictState) {
	vs := slices.Clone(in)
	slices.SortFunc(vs, func(a, b VerdictState) int {
		return cmp.Or(cmp.Compare(a.Machine, b.Machine), cmp.Compare(a.Unit, b.Unit), cmp.Compare(a.Syscall, b.Syscall),
			cmp.Compare(a.Action, b.Action), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Verdict, b.Verdict), cmp.Compare(a.Directive, b.Directive))
	})
	vs = slices.Compact(vs)
	n := 0
	for i, v := range vs {
		if i >= c.maxSeries {
			n++
			continue
		}
		ch <- prometheus.MustNewConstMetric(verdictDesc, prometheus.GaugeValue, 1, v.Machine, v.Unit, v.Syscall, v.Action, v.Arch, v.Verdict, v.Directive)
	}
	if n > 0 {
		o := OverflowLabel
		ch <- prometheus.MustNewConstMetric(verdictDesc, prometheus.GaugeValue, float64(n), o, o, o, o, o, o, o)
	}
}

// unitGauges emits one unit's gauges under the label values machine, unit.
func unitGauges(ch chan<- prometheus.Metric, machine, unit string, u UnitState) {
	ch <- prometheus.MustNewConstMetric(suggestedDesc, prometheus.GaugeValue, float64(u.Suggested), machine, unit)
	if !u.LastDenial.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastDenialDesc, prometheus.GaugeValue, unixSeconds(u.LastDenial), machine, unit)
	}
	if !u.LastForeign.IsZero() {
		ch <- prometheus.MustNewConstMetric(foreignDesc, prometheus.GaugeValue, unixSeconds(u.LastForeign), machine, unit)
	}
}

func collectVisibility(ch chan<- prometheus.Metric, v Visibility) {
	if !v.Checked {
		return
	}
	ch <- prometheus.MustNewConstMetric(auditOffDesc, prometheus.GaugeValue, b2f(v.AuditDisabled))
	for a, on := range v.ActionsLogged {
		ch <- prometheus.MustNewConstMetric(actionLogDesc, prometheus.GaugeValue, b2f(on), a)
	}
	if v.ManagerKnown {
		ch <- prometheus.MustNewConstMetric(managerLogDesc, prometheus.GaugeValue, b2f(v.ManagerLogs))
	}
	if v.ErrnoUnits >= 0 {
		ch <- prometheus.MustNewConstMetric(errnoUnitsDesc, prometheus.GaugeValue, float64(v.ErrnoUnits))
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// mergeUnits folds states that share a label set into one, sorted by
// machine and unit: every unattributed exe reports as "unknown". Two
// series with one label set would fail the whole scrape.
func mergeUnits(in []UnitState) []UnitState {
	type key struct{ machine, unit string }
	out := make([]UnitState, 0, len(in))
	at := make(map[key]int, len(in))
	for _, u := range in {
		k := key{u.Machine, u.Unit}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, u)
			continue
		}
		out[i].Suggested += u.Suggested
		out[i].LastDenial = later(out[i].LastDenial, u.LastDenial)
		out[i].LastForeign = later(out[i].LastForeign, u.LastForeign)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Machine != out[j].Machine {
			return out[i].Machine < out[j].Machine
		}
		return out[i].Unit < out[j].Unit
	})
	return out
}

func counterMap(ch chan<- prometheus.Metric, d *prometheus.Desc, m map[string]uint64) {
	for k, v := range m {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), k)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
