package units

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
)

func TestMachineCgroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, leader, unit string
		want               string // "" with an error
	}{
		// nspawn --keep-unit in ct.service, before and after it made
		// payload/ and the container's PID 1 moved into init.scope.
		{"registered before payload", "/system.slice/ct.service", "ct.service", "/system.slice/ct.service"},
		{"booted", "/system.slice/ct.service/payload/init.scope", "ct.service", "/system.slice/ct.service"},
		{"payload only", "/system.slice/ct.service/payload", "ct.service", "/system.slice/ct.service"},
		// nspawn started in a sub-cgroup of its delegated service.
		{"sub-cgroup", "/system.slice/ct.service/ct1/payload/init.scope", "ct.service", "/system.slice/ct.service/ct1"},
		{"escaped unit", "/system.slice/_cpu.service/payload/init.scope", "cpu.service", "/system.slice/_cpu.service"},
		// The inner unit named like the host one: the first is the host's.
		{"same inner name", "/system.slice/ct.service/payload/system.slice/ct.service", "ct.service", "/system.slice/ct.service"},
		{"other unit", "/system.slice/other.service/payload/init.scope", "ct.service", ""},
		{"user manager", "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service/payload/init.scope", "user@1000.service", ""},
		{"user manager itself", "/user.slice/user-1000.slice/user@1000.service/payload/init.scope", "user@1000.service", ""},
		{"machine.slice", "/machine.slice/machine-foo.scope/payload/init.scope", "machine-foo.scope", ""},
		{"machine.slice before payload", "/machine.slice/machine-foo.scope", "machine-foo.scope", ""},
		{"root", "/", "-.slice", ""},
		{"not a path", "system.slice/ct.service", "ct.service", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MachineCgroup(tt.leader, tt.unit)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("MachineCgroup(%q, %q) = %q, want an error", tt.leader, tt.unit, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MachineCgroup(%q, %q) = %q, %v, want %q", tt.leader, tt.unit, got, err, tt.want)
			}
		})
	}
}

func TestParseMachinePath(t *testing.T) {
	t.Parallel()
	const cg = "/system.slice/ct.service"
	tests := []struct {
		path, name string
		ok         bool
		want       Unit
		err        error
	}{
		{cg + "/payload/system.slice/foo.service", "web", true, Unit{Name: "foo.service", Kind: KindService, Slice: "system.slice", UID: -1, Machine: "web"}, nil},
		{cg + "/payload/init.scope", "web", true, Unit{Name: "init.scope", Kind: KindScope, UID: -1, Machine: "web"}, nil},
		{cg + "/payload/user.slice/user-1000.slice/user@1000.service/app.slice/a.service", "web", true, Unit{Name: "a.service", Kind: KindService, Slice: "app.slice", UID: 1000, Machine: "web"}, nil},
		{cg + "/payload", "web", true, Unit{UID: -1, Machine: "web"}, ErrNotInUnit},
		{cg + "/payload/system.slice/sshd.service", "../x", true, Unit{UID: -1}, ErrBadPath},
		{cg + "/supervisor", "web", false, Unit{UID: -1}, nil},
		{cg + "/payloadx/system.slice/foo.service", "web", false, Unit{UID: -1}, nil},
		{"/system.slice/ct.service2/payload/system.slice/foo.service", "web", false, Unit{UID: -1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok, err := ParseMachinePath(tt.path, cg, tt.name)
			if ok != tt.ok || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("ParseMachinePath(%q) = ok %v, %v, want ok %v, %v", tt.path, ok, err, tt.ok, tt.err)
			}
			if !ok {
				return
			}
			got.Path = ""
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("ParseMachinePath(%q) (-want +got):\n%s", tt.path, d)
			}
		})
	}
}

func TestMachineSetResolve(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	slack := 20 * time.Millisecond
	const cg = "/system.slice/ct.service"
	web := RegisteredMachine{Name: "web", Cgroup: cg, Leader: 42, Since: t0}
	gone := RegisteredMachine{Name: "old", Cgroup: cg, Leader: 41, Since: t0.Add(-time.Hour), Until: t0.Add(-time.Minute)}
	set := NewMachineSet([]RegisteredMachine{web, gone}, t0.Add(time.Hour), false)
	host := func(path string) Unit {
		u, err := ParseCgroupPath(path)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	inner := cg + "/payload/system.slice/foo.service"
	tests := []struct {
		name     string
		set      *MachineSet
		path     string
		at       time.Time
		want     machineVerdict
		unit     string
		machine  string
		nameHint string
	}{
		{"registered", set, inner, t0.Add(time.Second), inMachine, "foo.service", "web", ""},
		{"before registration", set, inner, t0.Add(-time.Second), notInMachine, "ct.service", "", ""},
		{"within slack of registration", set, inner, t0.Add(5 * time.Millisecond), machineUnsure, "", "", ""},
		{"an earlier machine there", set, inner, t0.Add(-10 * time.Minute), inMachine, "foo.service", "old", ""},
		{"around the earlier one's end", set, inner, t0.Add(-time.Minute + time.Millisecond), machineUnsure, "", "", ""},
		{"supervisor", set, cg + "/supervisor", t0.Add(time.Second), notInMachine, "ct.service", "", ""},
		{"payload itself", set, cg + "/payload", t0.Add(time.Second), machineNoUnit, "", "web", ""},
		{"other unit's payload", set, "/system.slice/x.service/payload/system.slice/sshd.service", t0.Add(time.Second), notInMachine, "x.service", "", ""},
		{"stale set", NewMachineSet(nil, t0, false), "/system.slice/x.service/payload/system.slice/sshd.service", t0, machineStale, "x.service", "", ""},
		{"incomplete set", NewMachineSet(nil, t0.Add(time.Hour), true), "/system.slice/x.service/payload/system.slice/sshd.service", t0, machineUnsure, "", "", ""},
		{"invalid name", NewMachineSet([]RegisteredMachine{{Name: "a/b", Cgroup: cg, Since: t0}}, t0.Add(time.Hour), false), inner, t0.Add(time.Second), machineUnsure, "", "", ""},
		{"payload in a deeper sub-cgroup", NewMachineSet([]RegisteredMachine{{Name: "sub", Cgroup: cg + "/ct1", Since: t0}}, t0.Add(time.Hour), false),
			cg + "/ct1/payload/system.slice/foo.service", t0.Add(time.Second), inMachine, "foo.service", "sub", ""},
		{"two machines in one cgroup", NewMachineSet([]RegisteredMachine{web, {Name: "web2", Cgroup: cg, Since: t0}}, t0.Add(time.Hour), false), inner, t0.Add(time.Second), machineUnsure, "", "", ""},
		{"payloadish name", set, cg + "/payloads/system.slice/foo.service", t0.Add(time.Second), notInMachine, "ct.service", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := host(tt.path)
			got, v := tt.set.resolve(u, tt.at, slack)
			if v != tt.want || got.Name != tt.unit || got.Machine != tt.machine {
				t.Fatalf("resolve(%q, %v) = %+v, verdict %d; want unit %q machine %q verdict %d", tt.path, tt.at, got, v, tt.unit, tt.machine, tt.want)
			}
			if v == inMachine && got.Name == "ct.service" {
				t.Fatal("a machine's unit must never be the host unit holding it")
			}
		})
	}
	if !payloadBelowUnit(inner) || payloadBelowUnit(cg+"/supervisor") || !strings.HasSuffix(cg+"/payload", "/payload") {
		t.Fatal("payloadBelowUnit")
	}
}

// fakeRegistry is a MachineRegistry for the Attributor's wiring test.
type fakeRegistry struct {
	set *MachineSet
	ok  bool
}

func (f fakeRegistry) MachinesAt(time.Time) (*MachineSet, bool) { return f.set, f.ok }

func TestAttributorInMachine(t *testing.T) {
	t.Parallel()
	now := time.Now()
	const cg = "/system.slice/ct.service"
	set := NewMachineSet([]RegisteredMachine{{Name: "web", Cgroup: cg, Since: now.Add(-time.Hour)}}, now.Add(time.Hour), false)
	tests := []struct {
		name   string
		reg    MachineRegistry
		path   string
		unit   string
		mach   string
		reason string
	}{
		{"no registry", nil, cg + "/payload/system.slice/foo.service", "ct.service", "", ""},
		{"registered", fakeRegistry{set, true}, cg + "/payload/system.slice/foo.service", "foo.service", "web", ""},
		{"machined does not answer", fakeRegistry{nil, false}, cg + "/payload/system.slice/foo.service", "", "", ReasonMachineUnknown},
		{"stale answer", fakeRegistry{NewMachineSet(nil, now.Add(-time.Hour), false), true}, "/system.slice/x.service/payload/a.service", "", "", ReasonMachineUnknown},
		{"no payload: not asked", fakeRegistry{nil, false}, "/system.slice/x.service/sub", "x.service", "", ""},
		{"machine.slice: not asked", fakeRegistry{nil, false}, "/machine.slice/machine-a.scope/payload/system.slice/b.service", "b.service", "a", ""},
		// A user's delegated tree is never a machine's: its "payload"
		// directories are not asked about (each ask may cost a list).
		{"user unit: not asked", fakeRegistry{nil, false}, "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service/payload/a.service", "x.service", "", ""},
		{"user manager: not asked", fakeRegistry{nil, false}, "/user.slice/user-1000.slice/user@1000.service/payload/a.service", "user@1000.service", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Attributor{opts: Options{Slack: 20 * time.Millisecond}}
			a.refreshBootOffset()
			a.SetMachines(tt.reg)
			u, err := ParseCgroupPath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			r := a.found(MethodBPF, u, a.bootNs(now))
			if r.Unit.Name != tt.unit || r.Unit.Machine != tt.mach || r.Reason != tt.reason {
				t.Fatalf("found(%q) = %+v, want unit %q machine %q reason %q", tt.path, r, tt.unit, tt.mach, tt.reason)
			}
		})
	}
}

func FuzzMachinePath(f *testing.F) {
	f.Add("/system.slice/ct.service/payload/init.scope", "ct.service", "/system.slice/ct.service/payload/system.slice/foo.service", "web")
	f.Add("/system.slice/ct.service", "ct.service", "/system.slice/ct.service/supervisor", "web")
	f.Add("/user.slice/user-1000.slice/user@1000.service/payload", "user@1000.service", "/a/payload/b.service", "..")
	f.Fuzz(func(t *testing.T, leader, unit, path, name string) {
		cg, err := MachineCgroup(leader, unit)
		if err == nil {
			if !strings.HasPrefix(leader, cg) || strings.HasPrefix(cg, "/machine.slice/") || strings.Contains(cg, "user@") {
				t.Fatalf("MachineCgroup(%q, %q) = %q", leader, unit, cg)
			}
		} else {
			cg = "/system.slice/ct.service"
		}
		u, ok, err := ParseMachinePath(path, cg, name)
		if !ok || err != nil {
			if u.Name != "" {
				t.Fatalf("unit %q without a machine's path", u.Name)
			}
			return
		}
		if !event.ValidMachineName(u.Machine) || !unitname.Valid(u.Name, unitname.Plain|unitname.Instance) || !strings.HasPrefix(path, cg+"/payload") {
			t.Fatalf("ParseMachinePath(%q, %q, %q) = %+v", path, cg, name, u)
		}
	})
}
