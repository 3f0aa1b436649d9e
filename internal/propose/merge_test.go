package propose

import (
	"strings"
	"testing"
)

func host(name string, lines ...Line) Learned {
	return Learned{Host: name, Proposal: Proposal{Unit: "u.service", Table: "252", Lines: lines}}
}

func merged(p Proposal, d string) []Line {
	var out []Line
	for _, l := range p.Lines {
		if l.Directive == d {
			out = append(out, l)
		}
	}
	return out
}

func brief(ls []Line) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, state(l)+" "+l.Value)
	}
	return strings.Join(parts, "; ")
}

// TestMerge: no merged line denies what a host saw; a host that skipped
// or lacks a directive blocks it; kept on some hosts and proposed on
// others is not proposed.
func TestMerge(t *testing.T) {
	yes := func(d string) Line { return Line{Directive: d, Value: "yes", Evidence: "none seen"} }
	for _, tc := range []struct {
		name      string
		directive string
		hosts     []Learned
		want      string
	}{
		{"filter: the union", "SystemCallFilter", []Learned{
			host("a", Line{Directive: "SystemCallFilter", Value: "@system-service"}, Line{Directive: "SystemCallFilter", Value: "pkey_alloc"}),
			host("b", Line{Directive: "SystemCallFilter", Value: "@system-service"}, Line{Directive: "SystemCallFilter", Value: "mbind pkey_alloc"}),
		}, "proposed @system-service; proposed mbind pkey_alloc"},
		{"filter: exact lists and a group", "SystemCallFilter", []Learned{
			host("a", Line{Directive: "SystemCallFilter", Value: "read write"}),
			host("b", Line{Directive: "SystemCallFilter", Value: "@system-service"}),
		}, "proposed @system-service; proposed read write"},
		{"filter: kept on one host adds nothing", "SystemCallFilter", []Learned{
			host("a", Line{Directive: "SystemCallFilter", Kept: true}),
			host("b", Line{Directive: "SystemCallFilter", Value: "mbind"}),
		}, "proposed mbind"},
		{"filter: kept everywhere", "SystemCallFilter", []Learned{
			host("a", Line{Directive: "SystemCallFilter", Kept: true}), host("b", Line{Directive: "SystemCallFilter", Kept: true}),
		}, "kept "},
		{"filter: skipped on one host", "SystemCallFilter", []Learned{
			host("a", Line{Directive: "SystemCallFilter", Value: "@system-service"}),
			host("b", Line{Directive: "SystemCallFilter", Skipped: true, Evidence: "not proposed: calls without a name"}),
		}, "skipped "},
		{"families: the union", "RestrictAddressFamilies", []Learned{
			host("a", Line{Directive: "RestrictAddressFamilies", Value: "AF_UNIX"}),
			host("b", Line{Directive: "RestrictAddressFamilies", Value: "none"}),
			host("c", Line{Directive: "RestrictAddressFamilies", Value: "AF_INET AF_UNIX"}),
		}, "proposed AF_INET AF_UNIX"},
		{"families: none anywhere", "RestrictAddressFamilies", []Learned{
			host("a", Line{Directive: "RestrictAddressFamilies", Value: "none"}), host("b", Line{Directive: "RestrictAddressFamilies", Value: "none"}),
		}, "proposed none"},
		{"namespaces: the union", "RestrictNamespaces", []Learned{
			host("a", Line{Directive: "RestrictNamespaces", Value: "yes"}), host("b", Line{Directive: "RestrictNamespaces", Value: "net uts"}),
		}, "proposed net uts"},
		{"yes on every host", "LockPersonality", []Learned{host("a", yes("LockPersonality")), host("b", yes("LockPersonality"))}, "proposed yes"},
		{"skipped on one host", "MemoryDenyWriteExecute", []Learned{
			host("a", yes("MemoryDenyWriteExecute")),
			host("b", Line{Directive: "MemoryDenyWriteExecute", Skipped: true, Evidence: "not proposed: seen mprotect(0x5) 2×"}),
		}, "skipped "},
		{"absent from one host's file", "RestrictRealtime", []Learned{host("a", yes("RestrictRealtime")), host("b")}, "skipped "},
		{"kept on one host, proposed on another", "RestrictSUIDSGID", []Learned{
			host("a", Line{Directive: "RestrictSUIDSGID", Kept: true, Value: "yes"}), host("b", yes("RestrictSUIDSGID")),
		}, "skipped "},
		{"kept on every host", "RestrictSUIDSGID", []Learned{
			host("a", Line{Directive: "RestrictSUIDSGID", Kept: true, Value: "yes"}), host("b", Line{Directive: "RestrictSUIDSGID", Kept: true, Value: "yes"}),
		}, "kept yes"},
		{"commented stays commented", "ProtectClock", []Learned{
			host("a", Line{Directive: "ProtectClock", Value: "yes", Commented: true}), host("b", Line{Directive: "ProtectClock", Value: "yes", Commented: true}),
		}, "commented yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Merge("u.service", tc.hosts)
			ls := merged(p, tc.directive)
			if got := brief(ls); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.directive, got, tc.want)
			}
			n := 0
			for _, l := range ls {
				n += len(l.Hosts)
			}
			if n < len(tc.hosts) {
				t.Errorf("%d host lines for %d hosts", n, len(tc.hosts))
			}
		})
	}
}
