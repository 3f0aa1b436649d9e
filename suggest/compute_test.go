package suggest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

var t0 = time.Date(2025, 8, 9, 14, 22, 10, 314e6, time.UTC)

// den builds a denial of a native x86_64 call by /usr/sbin/app.
func den(unit, syscall, action string, opts ...func(*Denial)) Denial {
	nr, _ := syscalls.Number(syscalls.ArchX86_64, syscall)
	d := Denial{
		Unit: unit, Arch: syscalls.ArchX86_64, AuditArch: syscalls.AuditArchX86_64,
		Nr: nr, Syscall: syscall, Action: action, Exe: "/usr/sbin/app", Comm: "app",
		Time: t0, Native: true,
	}
	for _, o := range opts {
		o(&d)
	}
	if d.Syscall == "" {
		d.Syscall = "unknown"
	}
	return d
}

func exe(e string) func(*Denial) { return func(d *Denial) { d.Exe = e } }

func i386(d *Denial) {
	d.Arch, d.AuditArch, d.Native = syscalls.ArchI386, syscalls.AuditArchI386, false
	d.Nr, _ = syscalls.Number(syscalls.ArchI386, d.Syscall)
}

func nr(n int) func(*Denial) { return func(d *Denial) { d.Nr, d.Syscall = n, "unknown" } }

func at(sec int) func(*Denial) {
	return func(d *Denial) { d.Time = t0.Add(time.Duration(sec) * time.Second) }
}

// aggregate runs denials through an Aggregator and returns the one unit.
func aggregate(t testing.TB, ds ...Denial) UnitAggregate {
	t.Helper()
	a := NewAggregator(Limits{})
	for _, d := range ds {
		a.Add(d)
	}
	snap := a.Snapshot()
	if len(snap) != 1 {
		t.Fatalf("snapshot has %d units, want 1", len(snap))
	}
	return snap[0]
}

func allowList(names ...string) *Policy {
	return &Policy{Known: true, AllowList: true, Names: names, ExecPaths: []string{"/usr/sbin/app"}}
}

func denyList(names ...string) *Policy {
	return &Policy{Known: true, AllowList: false, Names: names, ExecPaths: []string{"/usr/sbin/app"}}
}

// summary renders a Suggestion's verdicts compactly: "+directive" for an
// included line, "#directive" for a commented one, "=name" for no change,
// "arch:<directive>" for an arch note (prefixed "#" unless included).
func summary(s Suggestion) []string {
	var out []string
	for _, l := range s.Lines {
		p := "#"
		if l.Included {
			p = "+"
		}
		out = append(out, p+l.Directive())
	}
	for _, n := range s.ArchNotes {
		p := "#"
		if n.Included {
			p = "+"
		}
		out = append(out, p+"arch:"+n.Directive)
	}
	for _, l := range s.NoChange {
		out = append(out, "="+strings.Join(l.Syscalls, " "))
	}
	return out
}

func TestCompute(t *testing.T) {
	const u = "app.service"
	tests := []struct {
		name       string
		denials    []Denial
		policy     *Policy
		opts       Options
		want       []string
		reasons    []string // substrings of some line's or no-change reason
		warnings   []string // substrings of some warning
		noWarnings bool
		path       string // "" means not applicable
	}{
		{
			name:    "allow-list missing syscall",
			denials: []Denial{den(u, "socket", "kill_process"), den(u, "socket", "kill_process", at(5))},
			policy:  allowList("read", "write"),
			want:    []string{"+SystemCallFilter=socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "already allowed is stale",
			denials: []Denial{den(u, "socket", "kill_process")},
			policy:  allowList("socket"),
			want:    []string{"=socket"},
			reasons: []string{"already allowed now; no setting of this unit denies socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "allow-list given as group is expanded",
			denials: []Denial{den(u, "socket", "kill_process"), den(u, "personality", "kill_process")},
			policy:  allowList("@network-io"),
			want:    []string{"+SystemCallFilter=personality", "=socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "deny-list entry is removed by a drop-in",
			denials: []Denial{den(u, "pkey_alloc", "errno")},
			policy:  denyList("pkey_alloc:EPERM", "mount"),
			want:    []string{"#SystemCallFilter=pkey_alloc"},
			reasons: []string{"removes pkey_alloc from the unit's deny-list", "undoes a deliberate setting: add --allow pkey_alloc to include"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "deny-list entry with its opt-in",
			denials: []Denial{den(u, "pkey_alloc", "errno")},
			policy:  denyList("pkey_alloc:EPERM", "mount"),
			opts:    Options{Allow: map[string]bool{"pkey_alloc": true}},
			want:    []string{"+SystemCallFilter=pkey_alloc"},
			reasons: []string{"denied by SystemCallFilter=~… (denies pkey_alloc)"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "risky opt-in does not opt in to a deliberate removal",
			denials: []Denial{den(u, "pkey_alloc", "errno")},
			policy:  denyList("pkey_alloc:EPERM", "mount"),
			opts:    Options{AllowRisky: true},
			want:    []string{"#SystemCallFilter=pkey_alloc"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "deny-list without the name is stale",
			denials: []Denial{den(u, "socket", "errno")},
			policy:  denyList("mount"),
			want:    []string{"=socket"},
			reasons: []string{"already allowed now"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "no filter at all: another filter denied it",
			denials: []Denial{den(u, "socket", "kill_process")},
			policy:  &Policy{Known: true},
			want:    []string{"=socket"},
			reasons: []string{"no setting of this unit denies socket on x86_64: the program's own seccomp filter or a container runtime's"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "risky is commented out",
			denials: []Denial{den(u, "mount", "kill_process"), den(u, "ptrace", "kill_process")},
			policy:  allowList("read"),
			want:    []string{"#SystemCallFilter=mount", "#SystemCallFilter=ptrace"},
			reasons: []string{"risky: in @mount, not in @system-service", "risky: in @debug, not in @system-service", "add --allow-risky to include"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "chown and setuid are not risky",
			denials: []Denial{den(u, "chown", "kill_process"), den(u, "setuid", "kill_process")},
			policy:  allowList("read"),
			want:    []string{"+SystemCallFilter=chown", "+SystemCallFilter=setuid"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "allow-risky includes risky",
			denials: []Denial{den(u, "swapoff", "kill_process")},
			policy:  allowList("read"),
			opts:    Options{AllowRisky: true},
			want:    []string{"+SystemCallFilter=swapoff"},
			reasons: []string{"risky: in @privileged @swap, not in @system-service"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "foreign binary is commented out",
			denials: []Denial{den(u, "socket", "kill_process", exe("/tmp/x")), den(u, "connect", "kill_process", exe("/bin/app-helper"))},
			policy:  &Policy{Known: true, AllowList: true, Names: []string{"read"}, ExecPaths: []string{"/bin/app-helper", "/usr/sbin/app"}},
			want:    []string{"+SystemCallFilter=connect", "#SystemCallFilter=socket"},
			reasons: []string{`foreign binary: "/tmp/x" is not one of the unit's own`},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "clone3 from systemd is noise",
			denials: []Denial{den(u, "clone3", "errno", exe("/lib/systemd/systemd-journald")), den(u, "clone3", "errno", exe("/usr/lib/systemd/systemd-logind"))},
			policy:  allowList("read"),
			want:    []string{"=clone3"},
			reasons: []string{"no change needed: systemd answers clone3 with ENOSYS on purpose"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			// An errno record, and the unit's filter kills: the unit's
			// settings do not explain it, so no line (a wrong line would
			// be worse than none).
			name:    "clone3 errno from a killing filter is unexplained",
			denials: []Denial{den(u, "clone3", "errno")},
			policy:  allowList("read"),
			want:    []string{"=clone3"},
			reasons: []string{"is not what the unit's settings do to clone3"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "log records feed learning",
			denials: []Denial{den(u, "socket", "log"), den(u, "read", "log")},
			policy:  allowList("read"),
			want:    []string{"+SystemCallFilter=socket", "=read"},
			reasons: []string{"observed via log"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "arch denied by SystemCallArchitectures=native",
			denials: []Denial{den(u, "socket", "kill_thread", i386), den(u, "read", "kill_thread", i386)},
			policy:  &Policy{Known: true, AllowList: true, Names: []string{"read"}, Architectures: []string{"native"}},
			want:    []string{"#arch:SystemCallArchitectures=x86"},
			reasons: nil,
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "arch listed: compat call is a syscall line",
			denials: []Denial{den(u, "socket", "kill_process", i386)},
			policy:  &Policy{Known: true, AllowList: true, Names: []string{"read"}, Architectures: []string{"x86-64", "x86"}},
			want:    []string{"+SystemCallFilter=socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "arch unrestricted: compat call is a syscall line",
			denials: []Denial{den(u, "socket", "kill_process", i386)},
			policy:  allowList("read"),
			want:    []string{"+SystemCallFilter=socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:     "arch with unknown policy, allow-risky",
			denials:  []Denial{den(u, "socket", "kill_process", i386), den(u, "socket", "kill_process")},
			opts:     Options{AllowRisky: true},
			want:     []string{"#SystemCallFilter=socket", "#arch:SystemCallArchitectures=native x86"},
			warnings: []string{"configuration is unknown"},
			path:     "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			// Unknown policy, only an arch note: if the unit sets no
			// SystemCallArchitectures= at all, "=x86" alone would restrict
			// it to x86 and kill every native call.
			name:     "arch only with unknown policy keeps native",
			denials:  []Denial{den(u, "socket", "kill_process", i386)},
			opts:     Options{AllowRisky: true},
			want:     []string{"#arch:SystemCallArchitectures=native x86"},
			warnings: []string{"configuration is unknown"},
			path:     "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:     "unknown syscall number",
			denials:  []Denial{den(u, "", "kill_process", nr(999))},
			policy:   allowList("read"),
			want:     nil,
			warnings: []string{"x86_64 syscall 999 has no name in the syscall table (1 records)"},
			path:     "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			// Only calls logged by SystemCallLog= were seen: the denials
			// themselves are invisible.
			name:     "errno without logging",
			denials:  []Denial{den(u, "socket", "log")},
			policy:   &Policy{Known: true, AllowList: true, Names: []string{"read"}, HasErrorNumber: true, ErrorNumber: 1},
			want:     []string{"+SystemCallFilter=socket"},
			warnings: []string{"SystemCallErrorNumber=EPERM without logging", "SYSTEMD_LOG_SECCOMP=1", "SystemCallLog= alone does not log calls the filter denies"},
			path:     "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:       "errno with logging",
			denials:    []Denial{den(u, "socket", "errno")},
			policy:     &Policy{Known: true, AllowList: true, Names: []string{"read"}, HasErrorNumber: true, ErrorNumber: 1, LogSeccomp: true},
			want:       []string{"+SystemCallFilter=socket"},
			noWarnings: true,
			path:       "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:       "kill action needs no logging",
			denials:    []Denial{den(u, "socket", "kill_process")},
			policy:     &Policy{Known: true, AllowList: true, Names: []string{"read"}, HasErrorNumber: true, ErrorNumber: ErrnoKill},
			want:       []string{"+SystemCallFilter=socket"},
			noWarnings: true,
			path:       "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "unattributed pseudo-unit",
			denials: []Denial{den("unattributed:/usr/bin/foo", "socket", "kill_process")},
			want:    []string{"#SystemCallFilter=socket"},
		},
		{
			name:     "path traversal in unit name",
			denials:  []Denial{den("../../../etc/cron.d/x.service", "socket", "kill_process")},
			want:     []string{"#SystemCallFilter=socket"},
			warnings: []string{"not a valid unit name"},
		},
		{
			name:     "scope has no filter",
			denials:  []Denial{den("session-4.scope", "socket", "kill_process")},
			want:     []string{"#SystemCallFilter=socket"},
			warnings: []string{"this unit type has no SystemCallFilter="},
		},
		{
			name:    "user unit",
			denials: []Denial{den(u, "socket", "kill_process")},
			policy:  &Policy{Known: true, AllowList: true, Names: []string{"read"}, UserUnit: true, UID: 1000},
			want:    []string{"+SystemCallFilter=socket"},
			path:    "/etc/systemd/user/app.service.d/50-seccompwatch.conf",
		},
		{
			name:     "deny-list with a later drop-in",
			denials:  []Denial{den(u, "mount", "errno")},
			policy:   &Policy{Known: true, Names: []string{"mount"}, HasErrorNumber: true, ErrorNumber: 1, DropInPaths: []string{"/etc/systemd/system/app.service.d/90-harden.conf", "/etc/systemd/system/app.service.d/10-a.conf"}},
			want:     []string{"#SystemCallFilter=mount"},
			warnings: []string{`"/etc/systemd/system/app.service.d/90-harden.conf" sorts after this one`},
			path:     "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "group granularity picks the narrowest safe group",
			denials: []Denial{den(u, "socket", "kill_process"), den(u, "connect", "kill_process"), den(u, "bind", "kill_process"), den(u, "mount", "kill_process"), den(u, "chown", "kill_process")},
			policy:  allowList("read", "write"),
			opts:    Options{Granularity: GranularityGroup},
			want:    []string{"+SystemCallFilter=@network-io", "+SystemCallFilter=chown", "#SystemCallFilter=mount"},
			reasons: []string{"@network-io covers 3 denied syscalls (bind connect socket); adds 19 syscalls: accept accept4"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			// A group must not grant a call that is held back (foreign
			// binary): that would include it without --allow-risky.
			name:    "group granularity never grants a held-back call",
			denials: []Denial{den(u, "socket", "kill_process"), den(u, "connect", "kill_process"), den(u, "bind", "kill_process", exe("/tmp/x"))},
			policy:  allowList("read", "write"),
			opts:    Options{Granularity: GranularityGroup},
			want:    []string{"#SystemCallFilter=bind", "+SystemCallFilter=connect", "+SystemCallFilter=socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
		{
			name:    "group granularity with one syscall keeps the syscall",
			denials: []Denial{den(u, "socket", "kill_process")},
			policy:  allowList("read"),
			opts:    Options{Granularity: GranularityGroup},
			want:    []string{"+SystemCallFilter=socket"},
			path:    "/etc/systemd/system/app.service.d/50-seccompwatch.conf",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Table = testTable(t)
			s := Compute(aggregate(t, tc.denials...), tc.policy, opts)
			if diff := cmp.Diff(tc.want, summary(s)); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			var reasons []string
			for _, l := range append(append([]Line(nil), s.Lines...), s.NoChange...) {
				reasons = append(reasons, l.Reason)
			}
			for _, n := range s.ArchNotes {
				reasons = append(reasons, n.Reason)
			}
			for _, r := range tc.reasons {
				if !containsSub(reasons, r) {
					t.Errorf("no reason contains %q; reasons: %q", r, reasons)
				}
			}
			for _, w := range tc.warnings {
				if !containsSub(s.Warnings, w) {
					t.Errorf("no warning contains %q; warnings: %q", w, s.Warnings)
				}
			}
			if tc.noWarnings && len(s.Warnings) > 0 {
				t.Errorf("warnings = %q, want none", s.Warnings)
			}
			if s.Path != tc.path || s.Applicable != (tc.path != "") {
				t.Errorf("path, applicable = %q, %v; want %q, %v", s.Path, s.Applicable, tc.path, tc.path != "")
			}
			if s.Table != "bundled systemd 252" {
				t.Errorf("table = %q", s.Table)
			}
		})
	}
}

func containsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestComputeLineDetails(t *testing.T) {
	u := aggregate(t,
		den("app.service", "socket", "kill_process", at(10)),
		den("app.service", "socket", "errno", at(-10), exe("/usr/sbin/app2")),
		den("app.service", "socket", "kill_process", i386, at(20)),
	)
	s := Compute(u, allowList("read"), Options{Table: testTable(t)})
	if len(s.Lines) != 1 {
		t.Fatalf("lines = %d, want 1 (arches merge by name)", len(s.Lines))
	}
	l := s.Lines[0]
	want := Line{
		Syscalls: []string{"socket"}, Groups: []string{"@known", "@network-io", "@system-service"},
		Arches: []string{"i386", "x86_64"}, Count: 3,
		FirstSeen: t0.Add(-10 * time.Second), LastSeen: t0.Add(20 * time.Second),
		Exes: []string{"/usr/sbin/app", "/usr/sbin/app2"}, Comms: []string{"app"},
		Actions: map[string]uint64{"kill_process": 2, "errno": 1},
		Foreign: true, Reason: `denied by SystemCallFilter= allow-list without socket; foreign binary: "/usr/sbin/app2" is not one of the unit's own (ExecStart= and siblings): possible compromise; add --allow-risky to include`,
	}
	if l.Verdict == nil || l.Verdict.Kind != sandbox.KindFilter {
		t.Errorf("verdict = %+v, want filter", l.Verdict)
	}
	if diff := cmp.Diff(want, l, cmpopts.IgnoreFields(Line{}, "Verdict")); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
}

func TestComputeNilTable(t *testing.T) {
	s := Compute(aggregate(t, den("app.service", "socket", "kill_process")), allowList("read"), Options{})
	if got := summary(s); !cmp.Equal(got, []string{"#SystemCallFilter=socket"}) {
		t.Errorf("without a table every line must be flagged, got %q", got)
	}
}

func TestDropinPath(t *testing.T) {
	for _, c := range []struct {
		unit string
		user bool
		want string
		ok   bool
	}{
		{"nginx.service", false, "/etc/systemd/system/nginx.service.d/50-seccompwatch.conf", true},
		{"getty@tty1.service", false, "/etc/systemd/system/getty@tty1.service.d/50-seccompwatch.conf", true},
		{`systemd-cryptsetup@luks\x2d1.service`, false, `/etc/systemd/system/systemd-cryptsetup@luks\x2d1.service.d/50-seccompwatch.conf`, true},
		{"app.service", true, "/etc/systemd/user/app.service.d/50-seccompwatch.conf", true},
		{"../x.service", false, "", false},
		{"a/b.service", false, "", false},
		{".service", false, "", false},
		{"x.service\n[Service]", false, "", false},
		{"@x.service", false, "", false},
		// systemd accepts these (unit_name_is_valid), and each is one
		// safe path component.
		{"..service", false, "/etc/systemd/system/..service.d/50-seccompwatch.conf", true},
		{"a@b@c.service", false, "/etc/systemd/system/a@b@c.service.d/50-seccompwatch.conf", true},
		{`a\.service`, false, `/etc/systemd/system/a\.service.d/50-seccompwatch.conf`, true},
		{"nginx", false, "", false},
		{"nginx.conf", false, "", false},
		{strings.Repeat("a", 250) + ".service", false, "", false},
	} {
		got, err := DropinPath(c.unit, c.user)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("DropinPath(%q) = %q, %v; want %q, ok=%v", c.unit, got, err, c.want, c.ok)
		}
	}
}

func TestRisk(t *testing.T) {
	tb := testTable(t)
	for _, c := range []struct {
		name  string
		risky bool
	}{
		{"mount", true}, {"swapoff", true}, {"ptrace", true}, {"bpf", true},
		{"reboot", true}, {"init_module", true}, {"ioperm", true}, {"settimeofday", true},
		{"chown", false}, {"setuid", false}, {"socket", false}, {"read", false}, {"pkey_alloc", false},
	} {
		got, reason := Risk(tb, c.name)
		if got != c.risky || (got && !strings.HasPrefix(reason, "risky: in @")) {
			t.Errorf("Risk(%s) = %v, %q; want %v", c.name, got, reason, c.risky)
		}
	}
}

// TestErrnoDenialsSeenMeanLogging: errno records of a unit prove that its
// denials are logged (the manager's SYSTEMD_LOG_SECCOMP=1, which the policy
// cannot see), so there is a note, not the "invisible" warning.
func TestErrnoDenialsSeenMeanLogging(t *testing.T) {
	a := NewAggregator(Limits{})
	a.Add(den("app.service", "socket", "errno"))
	a.Add(den("app.service", "socket", "errno"))
	p := &Policy{Known: true, AllowList: true, Names: []string{"read"}, HasErrorNumber: true, ErrorNumber: 1}
	s := Compute(a.Snapshot()[0], p, Options{Table: testTable(t)})
	for _, w := range s.Warnings {
		if strings.Contains(w, "invisible") {
			t.Errorf("warning despite logged errno denials: %s", w)
		}
	}
	if len(s.Notes) == 0 || !strings.Contains(strings.Join(s.Notes, " "), "2 errno denials of this unit were logged") {
		t.Errorf("notes = %q", s.Notes)
	}
}

// TestJSONEscapedUnitName: a valid unit name with systemd's \xNN escape
// (common for device-derived instances) reaches JSON unchanged, so that
// "unit" names the same unit as "path".
func TestJSONEscapedUnitName(t *testing.T) {
	const u = `systemd-fsck@dev-disk-by\x2duuid-abcd.service`
	s := Compute(aggregate(t, den(u, "socket", "kill_process")), allowList("read"), Options{Table: testTable(t)})
	var buf strings.Builder
	if err := RenderJSON(&buf, []Suggestion{s}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suggestions []struct {
			Unit string
			Path *string
		}
	}
	if err := json.Unmarshal([]byte(buf.String()), &doc); err != nil || len(doc.Suggestions) != 1 {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	got := doc.Suggestions[0]
	if got.Unit != u || got.Path == nil || *got.Path != "/etc/systemd/system/"+u+".d/50-seccompwatch.conf" {
		t.Errorf("unit %q path %v, want %q", got.Unit, *got.Path, u)
	}
}
