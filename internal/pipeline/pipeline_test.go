package pipeline

import (
	"context"
	"errors"
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
