package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
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

func TestEnrich(t *testing.T) {
	tb := table(t)
	for _, tc := range []struct {
		name    string
		rec     auditstream.Record
		syscall string
		group   string
	}{
		{"x86_64 number", auditstream.Record{Arch: syscalls.ArchX86_64, Syscall: 41}, "socket", "@network-io"},
		{"i386 number", auditstream.Record{Arch: syscalls.ArchI386, Syscall: 115}, "swapoff", "@swap"},
		{"x32 keeps its bit", auditstream.Record{Arch: syscalls.ArchX32, Syscall: 41 | syscalls.X32Bit}, "socket", "@network-io"},
		{"name from ausearch -i", auditstream.Record{Arch: syscalls.ArchX86_64, Syscall: -1, SyscallNm: "mount"}, "mount", "@mount"},
		{"ausearch -i name not in the table", auditstream.Record{Arch: syscalls.ArchX86_64, SyscallNm: "foo;bar"}, "unknown", ""},
		{"ausearch -i name of another ABI", auditstream.Record{Arch: syscalls.ArchX86_64, SyscallNm: "socketcall"}, "unknown", ""},
		{"ausearch -i name, unknown arch", auditstream.Record{Arch: syscalls.ArchUnknown, SyscallNm: "mount"}, "unknown", ""},
		{"unknown arch", auditstream.Record{Arch: syscalls.ArchUnknown, AuditArch: 0xc0000008, Syscall: 41}, "unknown", ""},
		{"unknown number", auditstream.Record{Arch: syscalls.ArchX86_64, Syscall: 99999}, "unknown", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Enrich(tc.rec, tb)
			if e.SyscallName != tc.syscall || e.Unit != event.UnknownUnit {
				t.Fatalf("syscall %q unit %q, want %q unknown", e.SyscallName, e.Unit, tc.syscall)
			}
			found := tc.group == "" && len(e.Groups) == 0
			for _, g := range e.Groups {
				found = found || g == tc.group
			}
			if !found {
				t.Errorf("groups %v lack %q", e.Groups, tc.group)
			}
		})
	}
}

func TestSuggestionUnit(t *testing.T) {
	for _, tc := range []struct {
		e    event.Event
		want string
	}{
		{event.Event{Unit: "nginx.service"}, "nginx.service"},
		{event.Event{Unit: event.UnknownUnit, Record: auditstream.Record{Exe: "/usr/bin/x"}}, "unattributed:/usr/bin/x"},
		{event.Event{Unit: event.UnknownUnit, Record: auditstream.Record{ExeUnknown: true, Comm: "kworker"}}, "unattributed:comm=kworker"},
		{event.Event{Unit: event.UnknownUnit, Record: auditstream.Record{ExeUnknown: true}}, "unknown"},
	} {
		got := SuggestionUnit(&tc.e)
		if got != tc.want {
			t.Errorf("SuggestionUnit(%+v) = %q, want %q", tc.e, got, tc.want)
		}
		if tc.want != "nginx.service" && !suggest.IsPseudoUnit(got) {
			t.Errorf("%q is not a pseudo-unit: it could be applied", got)
		}
	}
}

type props map[string]unitprops.Props

func (p props) Props(_ context.Context, unit string) (unitprops.Props, error) {
	if v, ok := p[unit]; ok {
		return v, nil
	}
	return unitprops.Props{}, errors.New("no such unit")
}

// TestSuggestUsesPolicy: a unit's current filter is consulted (an allowed
// call is not suggested again); pseudo-units and units of other machines
// are never looked up on the host.
func TestSuggestUsesPolicy(t *testing.T) {
	tb := table(t)
	agg := suggest.NewAggregator(suggest.Limits{})
	for _, unit := range []string{"web.service", "unattributed:/bin/x"} {
		for _, sc := range []string{"socket", "uname"} {
			e := Enrich(auditstream.Record{Arch: syscalls.ArchX86_64, Syscall: map[string]int{"socket": 41, "uname": 63}[sc], Action: auditstream.ActionKillProcess}, tb)
			e.Unit = unit
			if unit != "web.service" {
				e.Unit, e.Exe = event.UnknownUnit, "/bin/x"
			}
			agg.Add(Denial(&e, syscalls.ArchX86_64))
		}
	}
	pp := props{"web.service": {Unit: "web.service", Found: true, AllowList: true, Filter: []string{"uname", "read"}}}
	rs := Suggest(context.Background(), agg.Snapshot(), pp, suggest.Options{Table: tb})
	if len(rs) != 2 {
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		var lines []string
		for _, l := range r.Suggestion.Lines {
			lines = append(lines, l.Syscalls...)
		}
		switch r.Suggestion.Unit {
		case "web.service":
			if len(lines) != 1 || lines[0] != "socket" || r.Suggestion.Mode != "allow-list" {
				t.Errorf("web.service lines %v mode %s, want only socket (uname is allowed now)", lines, r.Suggestion.Mode)
			}
		default:
			if r.Suggestion.Applicable {
				t.Errorf("pseudo-unit %s is applicable", r.Suggestion.Unit)
			}
		}
	}
}

// withUsers is a host provider that also reads users' managers
// (pipeline.Users): each uid's units, or why that manager cannot be asked.
type withUsers struct {
	props
	users map[int]props
	errs  map[int]error
}

func (w withUsers) ForUser(uid int) (unitprops.Provider, error) {
	if err := w.errs[uid]; err != nil {
		return nil, err
	}
	if p, ok := w.users[uid]; ok {
		return p, nil
	}
	return nil, errors.New("no such user manager")
}

// TestPolicyForUser: a user's unit is read from that user's own manager
// only (never the system unit of the same name); where that manager
// cannot be asked, or the provider does not read users' managers, the
// policy is unknown with the reason.
func TestPolicyForUser(t *testing.T) {
	system := props{"build.service": {Unit: "build.service", Found: true, AllowList: true, Filter: []string{"read"}}}
	user := props{"build.service": {Unit: "build.service", Found: true, UserUnit: true, AllowList: true, Filter: []string{"read", "write"},
		DropIns: map[string]string{"/home/u/.config/systemd/user/build.service.d/x.conf": "[Service]\n"}}}
	both := withUsers{props: system, users: map[int]props{1000: user},
		errs: map[int]error{1001: errors.New("user 1001's service manager cannot be asked from uid 999")}}
	for _, tc := range []struct {
		name    string
		props   unitprops.Provider
		uid     int
		machine string
		known   bool
		names   []string
		why     string
	}{
		{"system unit from the host", both, -1, "", true, []string{"read"}, ""},
		{"user unit from its manager", both, 1000, "", true, []string{"read", "write"}, ""},
		{"user 0's manager is a user manager too", withUsers{props: system, users: map[int]props{0: user}}, 0, "", true, []string{"read", "write"}, ""},
		{"manager that cannot be asked", both, 1001, "", false, nil, "cannot be asked from uid 999"},
		{"no such manager", both, 1002, "", false, nil, "no such user manager"},
		{"unit the manager does not know", withUsers{props: system, users: map[int]props{1000: {}}}, 1000, "", false, nil, "user 1000's service manager: no such unit"},
		{"provider without users' managers", system, 1000, "", false, nil, "read from its own service manager, which this reader does not ask"},
		{"a user unit in a machine", both, 1000, "web", false, nil, "in machine web are not read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, cur := PolicyFor(context.Background(), tc.props, "build.service", tc.machine, tc.uid)
			if pol == nil {
				t.Fatal("nil policy")
			}
			if pol.Known != tc.known {
				t.Fatalf("known %v, want %v (%+v)", pol.Known, tc.known, pol.Sandbox)
			}
			if !tc.known {
				if pol.Sandbox == nil || !strings.Contains(pol.Sandbox.Unknown, tc.why) {
					t.Fatalf("unknown because %+v, want %q", pol.Sandbox, tc.why)
				}
				return
			}
			if !slices.Equal(pol.Names, tc.names) {
				t.Errorf("names %v, want %v", pol.Names, tc.names)
			}
			if tc.uid >= 0 && (!pol.UserUnit || pol.UID != tc.uid || len(cur) != 1) {
				t.Errorf("user unit %v uid %d drop-ins %v, want uid %d's and its drop-in", pol.UserUnit, pol.UID, cur, tc.uid)
			}
			if tc.uid < 0 && pol.UserUnit {
				t.Error("a system unit's policy says user unit")
			}
		})
	}
}
