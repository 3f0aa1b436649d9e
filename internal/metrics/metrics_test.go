package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func registry(t *testing.T, snap Snapshot, d *Denials, max int) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() Snapshot { return snap }, d, max))
	return reg
}

func TestLintClean(t *testing.T) {
	d := NewDenials(10)
	d.Inc("", "nginx.service", "socket", "kill_process", "x86_64", false)
	snap := Snapshot{
		RecordsByType:       map[string]uint64{"SECCOMP": 3, "SYSCALL": 10},
		ParseErrors:         map[string]uint64{"missing_arch": 1},
		Attributions:        map[string]uint64{"bpf": 2},
		AttributionFailures: map[string]uint64{"pid_gone": 1},
		HasBacklog:          true,
		AuditUp:             true,
		AttributionMode:     "bpf",
		Units:               []UnitState{{Unit: "nginx.service", Suggested: 1, LastDenial: time.Unix(1700000000, 500e6), LastForeign: time.Unix(1700000000, 0)}},
		Visibility: Visibility{Checked: true, ActionsLogged: map[string]bool{"errno": true, "log": false},
			ManagerKnown: true, ErrnoUnits: 3},
		Verdicts: []VerdictState{{Unit: "nginx.service", Syscall: "socket", Action: "kill_process", Arch: "x86_64", Verdict: "filter", Directive: "SystemCallFilter"}},
	}
	problems, err := testutil.GatherAndLint(registry(t, snap, d, 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestDenialsOverflow(t *testing.T) {
	d := NewDenials(3)
	d.Inc("", "a.service", "socket", "errno", "x86_64", false)
	d.Inc("", "b.service", "mount", "kill_process", "x86_64", true)
	d.Inc("web", "a.service", "socket", "errno", "x86_64", false) // a container's unit: its own series
	d.Inc("", "c.service", "uname", "errno", "x86_64", false)     // over the limit
	d.Inc("db", "a.service", "socket", "errno", "x86_64", false)  // over the limit: machines count too
	d.Inc("", "a.service", "socket", "errno", "x86_64", false)    // existing series still counts
	reg := registry(t, Snapshot{}, d, 3)
	want := `
# HELP seccompwatch_denials_total Seccomp denials seen, by machine (empty for the host), unit, syscall, action, arch and whether the syscall is risky.
# TYPE seccompwatch_denials_total counter
seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="socket",unit="a.service"} 2
seccompwatch_denials_total{action="kill_process",arch="x86_64",machine="",risky="true",syscall="mount",unit="b.service"} 1
seccompwatch_denials_total{action="errno",arch="x86_64",machine="web",risky="false",syscall="socket",unit="a.service"} 1
seccompwatch_denials_total{action="overflow",arch="overflow",machine="overflow",risky="overflow",syscall="overflow",unit="overflow"} 2
# HELP seccompwatch_series_overflow_total Label sets not given a series of their own because --max-series was reached (counted in the overflow series).
# TYPE seccompwatch_series_overflow_total counter
seccompwatch_series_overflow_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "seccompwatch_denials_total", "seccompwatch_series_overflow_total"); err != nil {
		t.Fatal(err)
	}
}

func TestUnitGaugesBounded(t *testing.T) {
	var units []UnitState
	for _, u := range []string{"a.service", "b.service", "c.service", "d.service"} {
		units = append(units, UnitState{Unit: u, Suggested: 2, LastDenial: time.Unix(100, 0)})
	}
	reg := registry(t, Snapshot{Units: units}, NewDenials(2), 2)
	want := `
# HELP seccompwatch_suggested_syscalls Syscalls the pending suggestion for a unit would add, by machine (empty for the host) and unit.
# TYPE seccompwatch_suggested_syscalls gauge
seccompwatch_suggested_syscalls{machine="",unit="a.service"} 2
seccompwatch_suggested_syscalls{machine="",unit="b.service"} 2
seccompwatch_suggested_syscalls{machine="overflow",unit="overflow"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "seccompwatch_suggested_syscalls"); err != nil {
		t.Fatal(err)
	}
}

// Several unattributed exes all report as "unknown": one series, or the
// scrape fails. A container's unit that shares a host unit's name is a
// series of its own (machine label), never counted as the host's.
func TestUnitGaugesMerged(t *testing.T) {
	units := []UnitState{
		{Unit: "unknown", Suggested: 1, LastDenial: time.Unix(100, 0)},
		{Unit: "demo.service", Suggested: 2, LastDenial: time.Unix(300, 0)},
		{Unit: "unknown", Suggested: 3, LastDenial: time.Unix(200, 0)},
		{Unit: "demo.service", Suggested: 1},
		{Unit: "demo.service", Machine: "web", Suggested: 5, LastDenial: time.Unix(400, 0)},
		{Unit: "demo.service", Machine: "web", Suggested: 1},
	}
	reg := registry(t, Snapshot{Units: units}, NewDenials(10), 10)
	want := `
# HELP seccompwatch_suggested_syscalls Syscalls the pending suggestion for a unit would add, by machine (empty for the host) and unit.
# TYPE seccompwatch_suggested_syscalls gauge
seccompwatch_suggested_syscalls{machine="",unit="demo.service"} 3
seccompwatch_suggested_syscalls{machine="",unit="unknown"} 4
seccompwatch_suggested_syscalls{machine="web",unit="demo.service"} 6
# HELP seccompwatch_last_denial_timestamp_seconds Unix time of the last denial seen for a unit, by machine (empty for the host) and unit.
# TYPE seccompwatch_last_denial_timestamp_seconds gauge
seccompwatch_last_denial_timestamp_seconds{machine="",unit="demo.service"} 300
seccompwatch_last_denial_timestamp_seconds{machine="",unit="unknown"} 200
seccompwatch_last_denial_timestamp_seconds{machine="web",unit="demo.service"} 400
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "seccompwatch_suggested_syscalls", "seccompwatch_last_denial_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}

// Units beyond --max-series whose last denial is unknown must not put the
// overflow series' timestamp at year 1 (-62135596800): no series, as for
// a unit of its own.
func TestUnitGaugesOverflowWithoutTime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		units []UnitState
		want  string
	}{
		{"no times", []UnitState{{Unit: "a.service", Suggested: 1}, {Unit: "b.service", Suggested: 1}}, ""},
		{"one time", []UnitState{{Unit: "a.service", Suggested: 1}, {Unit: "b.service", Suggested: 1, LastDenial: time.Unix(100, 0)}}, `
# HELP seccompwatch_last_denial_timestamp_seconds Unix time of the last denial seen for a unit, by machine (empty for the host) and unit.
# TYPE seccompwatch_last_denial_timestamp_seconds gauge
seccompwatch_last_denial_timestamp_seconds{machine="overflow",unit="overflow"} 100
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry(t, Snapshot{Units: tc.units}, NewDenials(1), 1)
			// a.service fits below the limit but has no time either.
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tc.want), "seccompwatch_last_denial_timestamp_seconds"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The foreign-binary gauge is per unit, merged and bounded like the other
// per-unit gauges.
func TestForeignBinaryGauge(t *testing.T) {
	units := []UnitState{
		{Unit: "a.service", LastDenial: time.Unix(300, 0), LastForeign: time.Unix(200, 0)},
		{Unit: "a.service", LastDenial: time.Unix(100, 0), LastForeign: time.Unix(250, 0)},
		{Unit: "b.service", LastDenial: time.Unix(100, 0)},
		{Unit: "c.service", LastDenial: time.Unix(100, 0), LastForeign: time.Unix(90, 0)},
		{Unit: "d.service", LastDenial: time.Unix(100, 0), LastForeign: time.Unix(95, 0)},
	}
	reg := registry(t, Snapshot{Units: units}, NewDenials(2), 2)
	want := `
# HELP seccompwatch_foreign_binary_last_denial_timestamp_seconds Unix time of the last denial of a syscall that a binary not among the unit's own (ExecStart= and siblings) was denied (possible compromise), by machine (empty for the host) and unit.
# TYPE seccompwatch_foreign_binary_last_denial_timestamp_seconds gauge
seccompwatch_foreign_binary_last_denial_timestamp_seconds{machine="",unit="a.service"} 250
seccompwatch_foreign_binary_last_denial_timestamp_seconds{machine="overflow",unit="overflow"} 95
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "seccompwatch_foreign_binary_last_denial_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}

func TestVisibility(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Visibility
		want string
	}{
		{"not checked", Visibility{ErrnoUnits: 5, AuditDisabled: true}, ""},
		{"all known", Visibility{Checked: true, AuditDisabled: true, ActionsLogged: map[string]bool{"errno": false, "kill_process": true},
			ManagerKnown: true, ManagerLogs: true, ErrnoUnits: 2}, `
# HELP seccompwatch_errno_units Units (unit files) whose sandbox answers a denial with an errno (SystemCallFilter= with an errno, RestrictNamespaces=, ProtectClock=, ...): without manager_logs_seccomp their denials leave no record.
# TYPE seccompwatch_errno_units gauge
seccompwatch_errno_units 2
# HELP seccompwatch_kernel_audit_disabled 1 when audit=0 on the kernel command line: the kernel emits no audit record, seccomp denials included.
# TYPE seccompwatch_kernel_audit_disabled gauge
seccompwatch_kernel_audit_disabled 1
# HELP seccompwatch_manager_logs_seccomp 1 when the systemd manager loads seccomp filters with the log flag (SYSTEMD_LOG_SECCOMP=1), so errno denials are logged; absent without systemd.
# TYPE seccompwatch_manager_logs_seccomp gauge
seccompwatch_manager_logs_seccomp 1
# HELP seccompwatch_seccomp_action_logged 1 when the kernel logs seccomp denials with this action (kernel.seccomp.actions_logged), 0 when it never does.
# TYPE seccompwatch_seccomp_action_logged gauge
seccompwatch_seccomp_action_logged{action="errno"} 0
seccompwatch_seccomp_action_logged{action="kill_process"} 1
`},
		// No systemd, actions_logged unreadable, unit files not scanned.
		{"unknowns", Visibility{Checked: true, ErrnoUnits: -1}, `
# HELP seccompwatch_kernel_audit_disabled 1 when audit=0 on the kernel command line: the kernel emits no audit record, seccomp denials included.
# TYPE seccompwatch_kernel_audit_disabled gauge
seccompwatch_kernel_audit_disabled 0
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry(t, Snapshot{Visibility: tc.v}, NewDenials(1), 1)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tc.want), "seccompwatch_errno_units", "seccompwatch_kernel_audit_disabled",
				"seccompwatch_manager_logs_seccomp", "seccompwatch_seccomp_action_logged"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerdictGauges: one series per pair with its verdict and directive,
// sorted; a duplicate state is one series (not a failed scrape); beyond
// max, one overflow series counts the pairs left out.
func TestVerdictGauges(t *testing.T) {
	v := func(machine, unit, syscall, verdict, directive string) VerdictState {
		return VerdictState{Machine: machine, Unit: unit, Syscall: syscall, Action: "kill_process", Arch: "x86_64", Verdict: verdict, Directive: directive}
	}
	for _, tc := range []struct {
		name string
		max  int
		in   []VerdictState
		want string
	}{
		{"within the limit", 10, []VerdictState{
			v("", "b.service", "mount", "unknown", ""),
			v("", "a.service", "socket", "filter", "SystemCallFilter"),
			v("web", "a.service", "socket", "directive", "RestrictAddressFamilies"),
			v("", "user@1000.service/a.service", "socket", "none", ""),
			v("", "a.service", "socket", "filter", "SystemCallFilter"),
		}, `
seccompwatch_denial_verdict{action="kill_process",arch="x86_64",directive="SystemCallFilter",machine="",syscall="socket",unit="a.service",verdict="filter"} 1
seccompwatch_denial_verdict{action="kill_process",arch="x86_64",directive="",machine="",syscall="mount",unit="b.service",verdict="unknown"} 1
seccompwatch_denial_verdict{action="kill_process",arch="x86_64",directive="",machine="",syscall="socket",unit="user@1000.service/a.service",verdict="none"} 1
seccompwatch_denial_verdict{action="kill_process",arch="x86_64",directive="RestrictAddressFamilies",machine="web",syscall="socket",unit="a.service",verdict="directive"} 1
`},
		{"overflow", 2, []VerdictState{
			v("", "c.service", "uname", "filter", "SystemCallFilter"),
			v("", "a.service", "socket", "filter", "SystemCallFilter"),
			v("", "b.service", "mount", "unknown", ""),
			v("db", "a.service", "socket", "filter", "SystemCallFilter"),
		}, `
seccompwatch_denial_verdict{action="kill_process",arch="x86_64",directive="SystemCallFilter",machine="",syscall="socket",unit="a.service",verdict="filter"} 1
seccompwatch_denial_verdict{action="kill_process",arch="x86_64",directive="",machine="",syscall="mount",unit="b.service",verdict="unknown"} 1
seccompwatch_denial_verdict{action="overflow",arch="overflow",directive="overflow",machine="overflow",syscall="overflow",unit="overflow",verdict="overflow"} 2
`},
		{"none judged", 10, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want != "" {
				want = "\n# HELP seccompwatch_denial_verdict " + verdictHelp + "\n# TYPE seccompwatch_denial_verdict gauge" + want
			}
			if err := testutil.GatherAndCompare(registry(t, Snapshot{Verdicts: tc.in}, NewDenials(tc.max), tc.max), strings.NewReader(want), "seccompwatch_denial_verdict"); err != nil {
				t.Error(err)
			}
		})
	}
}
