package propose

import (
	"fmt"
	"sort"
	"strings"
)

// Learned is one host's learned proposal for a unit (what `learn --format
// json` writes), for Merge.
type Learned struct {
	// Host names the host (its hostname, or the file's name).
	Host     string
	Proposal Proposal
}

// HostLine is one host's line for a merged directive.
type HostLine struct {
	Host string `json:"host"`
	// State is "proposed", "commented", "kept", "skipped" or "absent"
	// (the host's proposal has no such line).
	State    string `json:"state"`
	Value    string `json:"value,omitempty"`
	Evidence string `json:"evidence"`
}

func state(l Line) string {
	switch {
	case l.Skipped:
		return "skipped"
	case l.Kept:
		return "kept"
	case l.Commented:
		return "commented"
	}
	return "proposed"
}

// order is the order Propose emits directives in.
var order = []string{"SystemCallFilter", "SystemCallArchitectures", "RestrictAddressFamilies", "MemoryDenyWriteExecute",
	"RestrictNamespaces", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "ProtectHostname",
	"ProtectKernelModules", "ProtectKernelLogs", "ProtectKernelTunables", "ProtectClock", "PrivateDevices"}

// Directives are the directives a learned proposal may hold.
func Directives() []string { return append([]string(nil), order...) }

// listed are directives whose value is a set that Merge unions, and the
// value that means the empty set.
var listed = map[string]string{"RestrictAddressFamilies": "none", "RestrictNamespaces": "yes"}

// Merge merges the proposals of one unit learned on several hosts into
// one, each line with every host's evidence (Line.Hosts). No merged line
// denies what any host saw: SystemCallFilter= is the union of the calls
// the hosts' lines allow; RestrictAddressFamilies= and
// RestrictNamespaces= the union of the families and types; every other
// directive is proposed only when every host proposed it, and not at all
// when a host did not (skipped there, or absent from its file). A
// directive some hosts keep (the unit already has it there) and others
// propose is not proposed: the unit's configuration differs between the
// hosts, and one drop-in cannot fit both.
func Merge(unit string, hosts []Learned) Proposal {
	p := Proposal{Unit: unit, Limit: Limit + fmt.Sprintf(" Merged from %d host(s): hosts not among them (another class, another load) are not covered.", len(hosts))}
	tables := map[string]bool{}
	for _, h := range hosts {
		tables[h.Proposal.Table] = true
	}
	p.Table = strings.Join(sortedKeys(tables), ", ")
	perHost := make([]map[string][]Line, len(hosts))
	for i, h := range hosts {
		perHost[i] = map[string][]Line{}
		for _, l := range h.Proposal.Lines {
			perHost[i][l.Directive] = append(perHost[i][l.Directive], l)
		}
	}
	for _, d := range order {
		var hl []HostLine
		var lines [][]Line
		for i, h := range hosts {
			ls := perHost[i][d]
			lines = append(lines, ls)
			if len(ls) == 0 {
				hl = append(hl, HostLine{Host: h.Host, State: "absent", Evidence: "not in this host's proposal"})
				continue
			}
			for _, l := range ls {
				hl = append(hl, HostLine{Host: h.Host, State: state(l), Value: l.Value, Evidence: l.Evidence})
			}
		}
		if d == "SystemCallFilter" {
			p.Lines = append(p.Lines, mergeFilter(lines, hl)...)
			continue
		}
		p.Lines = append(p.Lines, mergeOne(d, lines, hl))
	}
	return p
}

// firstSkip returns the first host line that blocks a directive.
func firstSkip(hl []HostLine) (HostLine, bool) {
	for _, h := range hl {
		if h.State == "skipped" || h.State == "absent" {
			return h, true
		}
	}
	return HostLine{}, false
}

func mergeOne(d string, lines [][]Line, hl []HostLine) Line {
	l := Line{Directive: d, Hosts: hl}
	if h, ok := firstSkip(hl); ok {
		l.Skipped, l.Evidence = true, fmt.Sprintf("not proposed: %s on %s", strings.TrimPrefix(h.Evidence, "not proposed: "), h.Host)
		return l
	}
	kept, proposed := 0, 0
	values := map[string]bool{}
	for _, ls := range lines {
		x := ls[0]
		if x.Kept {
			kept++
			continue
		}
		proposed++
		l.Commented = l.Commented || x.Commented
		if x.Note != "" {
			l.Note = x.Note
		}
		if empty, ok := listed[d]; ok {
			for _, v := range strings.Fields(x.Value) {
				if v != empty {
					values[v] = true
				}
			}
		} else {
			values[x.Value] = true
		}
	}
	switch {
	case proposed == 0:
		l.Kept, l.Value, l.Evidence = true, lines[0][0].Value, "already set on every host; kept"
		return l
	case kept > 0:
		l.Skipped, l.Evidence = true, fmt.Sprintf("not proposed: the unit already has it on %d host(s) and not on %d: the hosts' configurations differ, review them per host", kept, proposed)
		return l
	}
	if empty, ok := listed[d]; ok {
		if len(values) == 0 {
			l.Value = empty
		} else {
			l.Value = strings.Join(sortedKeys(values), " ")
		}
		l.Evidence = fmt.Sprintf("the union of what %d host(s) saw", proposed)
		return l
	}
	if len(values) != 1 {
		l.Skipped, l.Evidence = true, "not proposed: the hosts propose different values ("+strings.Join(sortedKeys(values), ", ")+")"
		return l
	}
	for v := range values {
		l.Value = v
	}
	l.Evidence = fmt.Sprintf("proposed on every host (%d)", proposed)
	return l
}

// mergeFilter unions the calls the hosts' SystemCallFilter= lines allow.
func mergeFilter(lines [][]Line, hl []HostLine) []Line {
	for _, h := range hl {
		if h.State == "skipped" || h.State == "absent" {
			return []Line{{Directive: "SystemCallFilter", Skipped: true, Hosts: hl,
				Evidence: fmt.Sprintf("not proposed: %s on %s", strings.TrimPrefix(h.Evidence, "not proposed: "), h.Host)}}
		}
	}
	group := false
	names := map[string]bool{}
	var notes []string
	for _, ls := range lines {
		for _, x := range ls {
			if x.Kept {
				continue
			}
			for _, v := range strings.Fields(x.Value) {
				if v == "@system-service" {
					group = true
				} else {
					names[v] = true
				}
			}
			if x.Note != "" && !contains(notes, x.Note) {
				notes = append(notes, x.Note)
			}
		}
	}
	n := len(lines)
	if !group && len(names) == 0 {
		return []Line{{Directive: "SystemCallFilter", Kept: true, Hosts: hl, Evidence: fmt.Sprintf("every call seen on the %d host(s) is allowed by the unit's filter there; kept", n)}}
	}
	var out []Line
	if group {
		out = append(out, Line{Directive: "SystemCallFilter", Value: "@system-service", Hosts: hl,
			Evidence: fmt.Sprintf("the union of the calls allowed on %d host(s): @system-service, and the calls on the next line", n)})
	}
	if len(names) > 0 {
		l := Line{Directive: "SystemCallFilter", Value: strings.Join(sortedKeys(names), " "),
			Evidence: fmt.Sprintf("the union of the calls the %d host(s) saw and need allowed", n)}
		if !group {
			l.Hosts = hl
		}
		sort.Strings(notes)
		l.Note = strings.Join(notes, "; ")
		out = append(out, l)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
