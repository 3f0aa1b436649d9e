package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

func table(t *testing.T) *syscalls.Table {
	t.Helper()
	tb, ok := syscalls.Bundled("252")
	if !ok {
		t.Fatal("no bundled 252 table")
	}
	return tb
}

// TestRulesParse: the committed table parses, every row names a directive
// of Directives, a known syscall or group, an errno, and a source.
func TestRulesParse(t *testing.T) {
	tb := table(t)
	rs := Rules()
	if len(rs) < len(Directives) {
		t.Fatalf("%d rules for %d directives", len(rs), len(Directives))
	}
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Directive] = true
		if !IsDirective(r.Directive) {
			t.Errorf("rule for unknown directive %q", r.Directive)
		}
		for _, c := range r.Calls {
			if strings.HasPrefix(c, "@") {
				if !tb.HasGroup(c) {
					t.Errorf("%s: unknown group %s", r.Directive, c)
				}
			} else if !syscalls.Known(c) {
				t.Errorf("%s: unknown syscall %s", r.Directive, c)
			}
		}
		if r.Benign && r.Errno != "ENOSYS" {
			t.Errorf("%s %v: benign rows are ENOSYS", r.Directive, r.Calls)
		}
		if !r.Benign && r.Lift == "" && r.Directive != "RestrictAddressFamilies" && r.Directive != "RestrictNamespaces" {
			t.Errorf("%s %v: no lift", r.Directive, r.Calls)
		}
	}
	for _, d := range Directives {
		if !seen[d] {
			t.Errorf("no rule for %s", d)
		}
	}
	if _, err := parseRules("a\tb\n"); err == nil {
		t.Error("a short row parsed")
	}
}

// build makes a sandbox from unit-file assignments (one file, one line
// each).
func build(t *testing.T, lines ...string) *Sandbox {
	t.Helper()
	tb := table(t)
	sb := &Sandbox{Known: true}
	for i, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		src := Source{File: "/etc/systemd/system/u.service", Line: i + 1}
		if strings.HasPrefix(k, "10:") {
			k = k[3:]
			src.File = "/etc/systemd/system/u.service.d/10-x.conf"
		}
		if strings.HasPrefix(k, "90:") {
			k = k[3:]
			src.File = "/etc/systemd/system/u.service.d/90-late.conf"
		}
		if k == "SystemCallFilter" {
			sb.Filter.Assign(v, src, tb, true)
		} else if !sb.Assign(k, v, src) {
			t.Fatalf("unmodelled %s", k)
		}
	}
	sb.Resolve()
	return sb
}

func call(name, action string) Call {
	return Call{Syscall: name, Arch: syscalls.ArchX86_64, Native: true, Actions: []string{action}}
}

// TestJudge: one case per directive of the table, plus the filter's
// modes, architectures, benign fallbacks, and records the settings do
// not explain.
func TestJudge(t *testing.T) {
	tb := table(t)
	i386 := Call{Syscall: "open", Arch: syscalls.ArchI386, Actions: []string{"kill_thread"}}
	tests := []struct {
		name      string
		lines     []string
		call      Call
		kind      Kind
		directive string
		source    string
		lift      string
		deliberate,
		argument bool
		also   string // a directive in Also
		reason string
	}{
		{name: "not in the allow-list", lines: []string{"SystemCallFilter=@system-service"}, call: call("swapoff", "kill_process"),
			kind: KindFilter, directive: "SystemCallFilter", source: "/etc/systemd/system/u.service:1", lift: "SystemCallFilter=swapoff"},
		{name: "removed on purpose", lines: []string{"SystemCallFilter=@system-service", "10:SystemCallFilter=~@network-io"}, call: call("socket", "kill_process"),
			kind: KindFilterRemoved, directive: "SystemCallFilter", source: "/etc/systemd/system/u.service.d/10-x.conf:2", lift: "SystemCallFilter=socket", deliberate: true},
		{name: "removed in a drop-in that sorts after ours", lines: []string{"SystemCallFilter=@system-service", "90:SystemCallFilter=~socket"}, call: call("socket", "kill_process"),
			kind: KindFilterRemoved, directive: "SystemCallFilter", lift: "", deliberate: true, reason: "applies after 50-seccompwatch.conf"},
		{name: "deny-list entry", lines: []string{"SystemCallFilter=~@mount"}, call: call("mount", "kill_process"),
			kind: KindFilterRemoved, directive: "SystemCallFilter", source: "/etc/systemd/system/u.service:1", lift: "SystemCallFilter=mount", deliberate: true},
		{name: "deny-list with errno", lines: []string{"SystemCallFilter=~@mount:EPERM"}, call: call("mount", "errno"),
			kind: KindFilterRemoved, directive: "SystemCallFilter", lift: "SystemCallFilter=mount", deliberate: true},
		{name: "errno filter", lines: []string{"SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM"}, call: call("swapoff", "errno"),
			kind: KindFilter, directive: "SystemCallFilter", lift: "SystemCallFilter=swapoff"},
		{name: "action mismatch is unknown", lines: []string{"SystemCallFilter=@system-service"}, call: call("swapoff", "errno"),
			kind: KindUnknown, reason: "is not what the unit's settings do"},
		{name: "no filter: none", lines: nil, call: call("swapoff", "kill_process"), kind: KindNone},
		{name: "allowed: none", lines: []string{"SystemCallFilter=@system-service"}, call: call("read", "kill_process"), kind: KindNone},
		{name: "trap is never systemd's", lines: []string{"SystemCallFilter=@system-service"}, call: call("swapoff", "trap"), kind: KindNone},
		{name: "log only", lines: []string{"SystemCallFilter=@system-service"}, call: call("swapoff", "log"), kind: KindLogged},
		{name: "architecture", lines: []string{"SystemCallArchitectures=native"}, call: i386,
			kind: KindArchitecture, directive: "SystemCallArchitectures", lift: "SystemCallArchitectures=x86", deliberate: true},
		{name: "architecture listed", lines: []string{"SystemCallArchitectures=native x86"}, call: i386, kind: KindNone},
		{name: "MemoryDenyWriteExecute", lines: []string{"MemoryDenyWriteExecute=yes"}, call: call("mmap", "errno"),
			kind: KindDirective, directive: "MemoryDenyWriteExecute", source: "/etc/systemd/system/u.service:1", lift: "MemoryDenyWriteExecute=no", deliberate: true, argument: true},
		{name: "MemoryDenyWriteExecute mprotect", lines: []string{"MemoryDenyWriteExecute=yes"}, call: call("mprotect", "errno"),
			kind: KindDirective, directive: "MemoryDenyWriteExecute", lift: "MemoryDenyWriteExecute=no", deliberate: true, argument: true},
		{name: "MemoryDenyWriteExecute turned off again", lines: []string{"MemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=no"}, call: call("mmap", "errno"), kind: KindNone},
		{name: "RestrictAddressFamilies", lines: []string{"RestrictAddressFamilies=AF_INET AF_UNIX"}, call: call("socket", "errno"),
			kind: KindDirective, directive: "RestrictAddressFamilies", lift: "", deliberate: true, argument: true, reason: "AF_INET AF_UNIX"},
		{name: "RestrictNamespaces", lines: []string{"RestrictNamespaces=yes"}, call: call("unshare", "errno"),
			kind: KindDirective, directive: "RestrictNamespaces", lift: "", deliberate: true, argument: true},
		{name: "RestrictNamespaces clone3 is benign", lines: []string{"RestrictNamespaces=yes"}, call: call("clone3", "errno"),
			kind: KindBenign, directive: "RestrictNamespaces", deliberate: true, reason: "ENOSYS on purpose"},
		{name: "RestrictNamespaces=no restricts nothing", lines: []string{"RestrictNamespaces=no"}, call: call("clone3", "errno"), kind: KindNone},
		{name: "LockPersonality", lines: []string{"LockPersonality=yes"}, call: call("personality", "errno"),
			kind: KindDirective, directive: "LockPersonality", lift: "LockPersonality=no", deliberate: true, argument: true},
		{name: "RestrictRealtime", lines: []string{"RestrictRealtime=yes"}, call: call("sched_setscheduler", "errno"),
			kind: KindDirective, directive: "RestrictRealtime", lift: "RestrictRealtime=no", deliberate: true, argument: true},
		{name: "RestrictSUIDSGID", lines: []string{"RestrictSUIDSGID=yes"}, call: call("chmod", "errno"),
			kind: KindDirective, directive: "RestrictSUIDSGID", lift: "RestrictSUIDSGID=no", deliberate: true, argument: true},
		{name: "RestrictSUIDSGID openat2 is benign", lines: []string{"RestrictSUIDSGID=yes"}, call: call("openat2", "errno"), kind: KindBenign},
		{name: "DynamicUser forces RestrictSUIDSGID", lines: []string{"DynamicUser=yes"}, call: call("fchmodat", "errno"),
			kind: KindDirective, directive: "RestrictSUIDSGID", lift: "", deliberate: true, argument: true, reason: "forced by DynamicUser=yes"},
		{name: "ProtectHostname", lines: []string{"ProtectHostname=yes"}, call: call("sethostname", "errno"),
			kind: KindDirective, directive: "ProtectHostname", lift: "ProtectHostname=no", deliberate: true},
		{name: "ProtectKernelTunables", lines: []string{"ProtectKernelTunables=yes"}, call: call("_sysctl", "errno"),
			kind: KindDirective, directive: "ProtectKernelTunables", lift: "ProtectKernelTunables=no", deliberate: true},
		{name: "ProtectKernelModules", lines: []string{"ProtectKernelModules=yes"}, call: call("finit_module", "errno"),
			kind: KindDirective, directive: "ProtectKernelModules", lift: "ProtectKernelModules=no", deliberate: true},
		{name: "ProtectKernelLogs", lines: []string{"ProtectKernelLogs=yes"}, call: call("syslog", "errno"),
			kind: KindDirective, directive: "ProtectKernelLogs", lift: "ProtectKernelLogs=no", deliberate: true},
		{name: "ProtectClock even adjtimex", lines: []string{"ProtectClock=yes"}, call: call("adjtimex", "errno"),
			kind: KindDirective, directive: "ProtectClock", lift: "ProtectClock=no", deliberate: true},
		{name: "PrivateDevices", lines: []string{"PrivateDevices=yes"}, call: call("iopl", "errno"),
			kind: KindDirective, directive: "PrivateDevices", lift: "PrivateDevices=no", deliberate: true},
		{name: "filter kills, clock directive also denies", lines: []string{"SystemCallFilter=@system-service", "ProtectClock=yes"}, call: call("clock_settime", "kill_process"),
			kind: KindFilter, directive: "SystemCallFilter", lift: "SystemCallFilter=clock_settime", also: "ProtectClock"},
		{name: "checklist mmap", lines: []string{"SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM", "MemoryDenyWriteExecute=yes"}, call: call("mmap", "errno"),
			kind: KindDirective, directive: "MemoryDenyWriteExecute", lift: "MemoryDenyWriteExecute=no", deliberate: true, argument: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := build(t, tc.lines...)
			v := Judge(sb, tb, tc.call)
			if v.Kind != tc.kind {
				t.Fatalf("kind %s, want %s: %s", v.Kind, tc.kind, v.Reason)
			}
			if tc.directive != "" {
				if v.Directive() != tc.directive {
					t.Fatalf("directive %q, want %q (%s)", v.Directive(), tc.directive, v.Reason)
				}
				d := v.Deniers[0]
				if d.Lift != tc.lift || d.Deliberate != tc.deliberate || (d.Argument != "") != tc.argument {
					t.Errorf("denier %+v: want lift %q deliberate %v argument %v", d, tc.lift, tc.deliberate, tc.argument)
				}
				if d.Lift == "" && d.NoLift == "" && !d.Benign {
					t.Errorf("denier %+v: neither a lift nor why not", d)
				}
			}
			if tc.source != "" && v.Source() != tc.source {
				t.Errorf("source %q, want %q", v.Source(), tc.source)
			}
			if tc.also != "" {
				found := false
				for _, d := range v.Also {
					found = found || d.Directive == tc.also
				}
				if !found {
					t.Errorf("also %+v lacks %s", v.Also, tc.also)
				}
			}
			all := v.Reason
			for _, d := range append(v.Deniers, v.Also...) {
				all += " " + d.NoLift + " " + d.Setting
			}
			if tc.reason != "" && !strings.Contains(all, tc.reason) {
				t.Errorf("reason %q lacks %q", all, tc.reason)
			}
		})
	}
}

// TestJudgeUnknownAndStale: no configuration, and a configuration that
// changed after the records.
func TestJudgeUnknownAndStale(t *testing.T) {
	tb := table(t)
	if v := Judge(nil, tb, call("socket", "kill_process")); v.Kind != KindUnknown {
		t.Errorf("nil sandbox: %s", v.Kind)
	}
	if v := Judge(&Sandbox{Unknown: "no D-Bus"}, tb, call("socket", "kill_process")); v.Kind != KindUnknown || !strings.Contains(v.Reason, "no D-Bus") {
		t.Errorf("unknown sandbox: %+v", v)
	}
	sb := build(t, "SystemCallFilter=@system-service")
	c := call("read", "kill_process")
	c.LastSeen = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sb.ChangedAt = c.LastSeen.Add(time.Hour)
	if v := Judge(sb, tb, c); v.Kind != KindStale || !strings.Contains(v.Reason, "2025-01-01T01:00:00Z") {
		t.Errorf("changed after: %+v", v)
	}
	sb.ChangedAt = c.LastSeen.Add(-time.Hour)
	if v := Judge(sb, tb, c); v.Kind != KindNone {
		t.Errorf("changed before: %+v", v)
	}
}

// TestManagerArchitectures: system.conf's list applies to every unit and
// cannot be lifted from a unit's drop-in.
func TestManagerArchitectures(t *testing.T) {
	sb := build(t)
	sb.ManagerArchitectures = Setting{Value: "native", Sources: []Source{{File: "/etc/systemd/system.conf", Line: 3}}}
	v := Judge(sb, table(t), Call{Syscall: "open", Arch: syscalls.ArchI386, Actions: []string{"kill_thread"}})
	if v.Kind != KindArchitecture || v.Deniers[0].Lift != "" || !strings.Contains(v.Deniers[0].NoLift, "system.conf") {
		t.Errorf("%+v", v)
	}
}

// TestFilterAssign: systemd 252's parsing corners, each seen over D-Bus
// in nspawn (internal/unitprops TestDBusContainer checks them for real).
func TestFilterAssign(t *testing.T) {
	tb := table(t)
	var f Filter
	src := Source{File: "f", Line: 1}
	f.Assign("@system-service read:EPERM nosuchcall", src, tb, true)
	if _, ok := f.Entries["read"]; !ok || f.Entries["read"].Errno != "" {
		t.Errorf("read from @system-service: %+v (read:EPERM must be dropped whole, not change it)", f.Entries["read"])
	}
	if _, ok := f.Entries["nosuchcall"]; ok {
		t.Error("an unknown name was kept")
	}
	if len(f.Dropped) != 2 {
		t.Errorf("dropped %q, want 2", f.Dropped)
	}
	f.Assign("~mount:EACCES", Source{File: "f", Line: 2}, tb, true)
	if _, ok := f.Entries["mount"]; ok || f.Removed["mount"].Line != 2 {
		t.Errorf("~mount:EACCES in an allow-list: entries %v removed %v", f.Entries["mount"], f.Removed)
	}
	f.Assign("mount", Source{File: "f", Line: 3}, tb, true)
	if _, ok := f.Removed["mount"]; ok {
		t.Error("re-adding did not clear the removal")
	}
	f.Assign("", Source{File: "f", Line: 4}, tb, true)
	if f.Set || len(f.Entries) != 0 {
		t.Error("an empty assignment did not reset")
	}
	var d Filter
	d.Assign("~@clock:EPERM", src, tb, true)
	if d.AllowList || d.Entries["clock_settime"].Errno != "EPERM" {
		t.Errorf("deny-list with errno: %+v", d.Entries["clock_settime"])
	}
}

// TestAssignLists: RestrictAddressFamilies= merges like SystemCallFilter=.
func TestAssignLists(t *testing.T) {
	sb := build(t, "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "10:RestrictAddressFamilies=~AF_INET6", "10:RestrictAddressFamilies=AF_NETLINK")
	if got := sb.Settings["RestrictAddressFamilies"].Value; got != "AF_INET AF_NETLINK AF_UNIX" {
		t.Errorf("families %q", got)
	}
	sb = build(t, "RestrictAddressFamilies=AF_INET", "RestrictAddressFamilies=")
	if sb.On("RestrictAddressFamilies") {
		t.Error("reset did not clear")
	}
	sb = build(t, "RestrictNamespaces=net ipc", "ProtectHostname=yes", "ProtectHostname=private")
	if sb.Settings["RestrictNamespaces"].Value != "ipc net" || !sb.On("ProtectHostname") || len(sb.Dropped) != 1 {
		t.Errorf("systemd 252 ignores ProtectHostname=private: %+v %q", sb.Settings, sb.Dropped)
	}
	sb = &Sandbox{Known: true, Version: 258}
	sb.Assign("ProtectHostname", "yes", Source{})
	sb.Assign("ProtectHostname", "private", Source{})
	if sb.On("ProtectHostname") {
		t.Errorf("258: ProtectHostname=private installs no filter: %+v", sb.Settings)
	}
}
