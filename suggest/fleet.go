package suggest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/sandbox"
)

// ConfigHash fingerprints what Compute judged a unit by: its filter, error
// number, architectures, own binaries and whole seccomp sandbox (systemd
// version and where each setting was made included; the files' times
// not). Equal hashes on two hosts mean the same drop-in fits both.
func ConfigHash(p *Policy, sb *sandbox.Sandbox) string {
	v := struct {
		AllowList      bool
		Names          []string
		ErrorNumber    int32
		HasErrorNumber bool
		Architectures  []string
		ExecPaths      []string
		Sandbox        *sandbox.Sandbox
	}{p.AllowList, sortedCopy(p.Names), p.ErrorNumber, p.HasErrorNumber, p.Architectures, sortedCopy(p.ExecPaths), nil}
	if sb != nil {
		c := *sb
		c.ChangedAt = time.Time{}
		v.Sandbox = &c
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func sortedCopy(l []string) []string {
	out := append([]string(nil), l...)
	sort.Strings(out)
	return out
}

// ParseJSON reads a document RenderJSON wrote (a daemon's
// /api/v1/suggestions) back into suggestions, for merging several hosts'
// (Merge). Values were sanitized when written; the drop-in text is not
// kept (it is rendered again).
func ParseJSON(r io.Reader) ([]Suggestion, error) {
	var doc struct {
		Version     int `json:"version"`
		Suggestions []struct {
			jsonSuggestion
		} `json:"suggestions"`
	}
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a suggestion document: %w", err)
	}
	if doc.Version != SchemaVersion {
		return nil, fmt.Errorf("suggestion document version %d, this program reads %d", doc.Version, SchemaVersion)
	}
	out := make([]Suggestion, 0, len(doc.Suggestions))
	for _, js := range doc.Suggestions {
		s := Suggestion{
			Unit: js.Unit, Machine: js.Machine, Applicable: js.Applicable,
			Table: js.Table, Generator: js.Generator, Mode: js.Mode, Total: js.Total,
			FirstSeen: parseJSONTime(js.FirstSeen), LastSeen: parseJSONTime(js.LastSeen),
			Kept: js.Kept, Warnings: js.Warnings, Notes: js.Notes,
		}
		if js.Granularity == "group" {
			s.Granularity = GranularityGroup
		}
		if js.UserUID != nil {
			s.UserUnit, s.UID = true, *js.UserUID
		}
		if js.Path != nil {
			s.Path = *js.Path
		}
		if js.Node != nil {
			s.Node = *js.Node
		}
		if js.Config != nil {
			s.Config = *js.Config
		}
		for _, l := range js.Lines {
			s.Lines = append(s.Lines, lineFromJSON(l))
		}
		for _, l := range js.NoChange {
			s.NoChange = append(s.NoChange, lineFromJSON(l))
		}
		for _, n := range js.ArchNotes {
			s.ArchNotes = append(s.ArchNotes, ArchNote{
				Arch: n.Arch, SystemdName: n.SystemdName, Directive: n.Directive, Syscalls: n.Syscalls,
				Count: n.Count, FirstSeen: parseJSONTime(n.FirstSeen), LastSeen: parseJSONTime(n.LastSeen),
				Exes: n.Exes, Included: n.Included, Reason: n.Reason, Verdict: n.Verdict.verdict(),
			})
		}
		out = append(out, s)
	}
	return out, nil
}

// lineFromJSON reads what toJSONLines wrote.
func lineFromJSON(l jsonLine) Line {
	out := Line{
		Syscalls: l.Syscalls, Group: l.Group, Groups: l.Groups, Adds: l.Adds, Arches: l.Arches,
		Count: l.Count, FirstSeen: parseJSONTime(l.FirstSeen), LastSeen: parseJSONTime(l.LastSeen),
		Exes: l.Exes, Comms: l.Comms, ExesDropped: l.ExesDropped, Actions: l.Actions,
		Risky: l.Risky, Foreign: l.Foreign, Observed: l.Observed, Reason: l.Reason,
		Included: l.Included, Verdict: l.Verdict.verdict(), Lifts: l.Lifts, Needs: l.Needs,
	}
	if l.Lifts != "" {
		out.Set = l.Directive
	}
	return out
}

func (v *jsonVerdict) verdict() *sandbox.Verdict {
	if v == nil {
		return nil
	}
	return &sandbox.Verdict{Kind: sandbox.Kind(v.Kind), Deniers: v.Deniers, Also: v.Also, Reason: v.Reason}
}

func parseJSONTime(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Host is one host's suggestions, as its daemon computed them against the
// unit configuration it reads there.
type Host struct {
	// Name identifies the host (its Prometheus instance label).
	Name        string
	Suggestions []Suggestion
}

// Merge builds one suggestion per unit (and machine) from several hosts'
// suggestions for a config-management repo: the union of their lines,
// each line's evidence summed (count, first and last seen, exes, comms,
// actions) and its reason naming the hosts that saw it. A line is active
// only where it is active on every host that has it; where hosts differ
// it is commented out and says so. When the hosts' Config (ConfigHash),
// filter mode or systemd table of a unit differ, a warning names which
// host runs which: the union fits none of them for sure. Units are sorted
// by name; hosts are given in order.
func Merge(hosts []Host) []Suggestion {
	type key struct {
		unit, machine string
		user          bool
		uid           int
	}
	type unitHosts struct {
		hosts []string
		ss    []Suggestion
	}
	byUnit := map[key]*unitHosts{}
	var order []key
	for _, h := range hosts {
		for _, s := range h.Suggestions {
			k := key{s.Unit, s.Machine, s.UserUnit, s.UID}
			u := byUnit[k]
			if u == nil {
				u = &unitHosts{}
				byUnit[k] = u
				order = append(order, k)
			}
			u.hosts = append(u.hosts, h.Name)
			u.ss = append(u.ss, s)
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].unit != order[j].unit {
			return order[i].unit < order[j].unit
		}
		return order[i].machine < order[j].machine
	})
	out := make([]Suggestion, 0, len(order))
	for _, k := range order {
		u := byUnit[k]
		out = append(out, mergeUnit(u.hosts, u.ss))
	}
	return out
}

// mergeUnit merges one unit's suggestions from hosts (same order).
func mergeUnit(hosts []string, ss []Suggestion) Suggestion {
	m := ss[0]
	m.Node = ""
	m.Lines, m.NoChange, m.ArchNotes = nil, nil, nil
	m.Warnings, m.Notes, m.Kept = nil, nil, nil
	m.Total, m.FirstSeen, m.LastSeen = 0, time.Time{}, time.Time{}
	for i, s := range ss {
		m.Total += s.Total
		m.FirstSeen, m.LastSeen = minTime(m.FirstSeen, s.FirstSeen), maxTime(m.LastSeen, s.LastSeen)
		m.Applicable = m.Applicable && s.Applicable
		if i > 0 && s.Path != m.Path {
			m.Applicable = false
		}
	}
	m.Notes = append(m.Notes, fmt.Sprintf("fleet: merged from %d %s: %s", len(hosts), plural(len(hosts), "host", "hosts"), strings.Join(sanitizeAll(hosts), ", ")))
	for _, f := range []struct {
		what string
		get  func(Suggestion) string
	}{
		{"configuration (seccomp settings, systemd version)", func(s Suggestion) string {
			if s.Config == "" {
				return "unknown"
			}
			return s.Config
		}},
		{"filter mode", func(s Suggestion) string { return s.Mode }},
		{"syscall table", func(s Suggestion) string { return s.Table }},
	} {
		if d := disagreement(hosts, ss, f.get); d != "" {
			m.Warnings = append(m.Warnings, "hosts disagree on this unit's "+f.what+": "+d+"; the union below is not known to fit each: roll it out per host class")
			if f.what[0] == 'c' {
				m.Config = ""
			}
		}
	}
	seenWarn := map[string]bool{}
	for _, s := range ss {
		for _, w := range s.Warnings {
			if !seenWarn[w] {
				seenWarn[w] = true
				m.Warnings = append(m.Warnings, w)
			}
		}
		for _, n := range s.Notes {
			if !seenWarn["n:"+n] {
				seenWarn["n:"+n] = true
				m.Notes = append(m.Notes, n)
			}
		}
		for _, kl := range s.Kept {
			if !seenWarn["k:"+kl] {
				seenWarn["k:"+kl] = true
				m.Kept = append(m.Kept, kl)
			}
		}
	}
	m.Lines = mergeLines(hosts, ss, func(s Suggestion) []Line { return s.Lines })
	m.NoChange = mergeLines(hosts, ss, func(s Suggestion) []Line { return s.NoChange })
	m.ArchNotes = mergeArchNotes(hosts, ss)
	return m
}

// disagreement describes how hosts differ in get, "" when they agree.
func disagreement(hosts []string, ss []Suggestion, get func(Suggestion) string) string {
	by := map[string][]string{}
	var vals []string
	for i, s := range ss {
		v := get(s)
		if by[v] == nil {
			vals = append(vals, v)
		}
		by[v] = append(by[v], hosts[i])
	}
	if len(vals) < 2 {
		return ""
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = Sanitize(v, 64) + " on " + strings.Join(sanitizeAll(by[v]), ", ")
	}
	return strings.Join(parts, "; ")
}

func fleetLineKey(l Line) string {
	return l.Directive() + "\x00" + l.Lifts + "\x00" + strings.Join(l.Syscalls, " ") + "\x00" + strings.Join(l.Arches, " ")
}

func mergeLines(hosts []string, ss []Suggestion, get func(Suggestion) []Line) []Line {
	type acc struct {
		line     Line
		hosts    []string
		included int
	}
	accs := map[string]*acc{}
	var order []string
	for i, s := range ss {
		for _, l := range get(s) {
			k := fleetLineKey(l)
			a := accs[k]
			if a == nil {
				a = &acc{line: l}
				a.line.Actions = map[string]uint64{}
				a.line.Count, a.line.FirstSeen, a.line.LastSeen = 0, time.Time{}, time.Time{}
				a.line.Exes, a.line.Comms, a.line.ExesDropped = nil, nil, 0
				accs[k] = a
				order = append(order, k)
			}
			a.hosts = append(a.hosts, hosts[i])
			if l.Included {
				a.included++
			}
			ml := &a.line
			ml.Count += l.Count
			ml.FirstSeen, ml.LastSeen = minTime(ml.FirstSeen, l.FirstSeen), maxTime(ml.LastSeen, l.LastSeen)
			ml.Exes, ml.Comms = unionCap(ml.Exes, l.Exes, 8), unionCap(ml.Comms, l.Comms, 8)
			ml.ExesDropped += l.ExesDropped
			for act, n := range l.Actions {
				ml.Actions[act] += n
			}
			ml.Risky, ml.Foreign = ml.Risky || l.Risky, ml.Foreign || l.Foreign
		}
	}
	out := make([]Line, 0, len(order))
	for _, k := range order {
		a := accs[k]
		l := a.line
		l.Included = a.included == len(a.hosts)
		l.Reason = appendReason(l.Reason, fmt.Sprintf("fleet: seen on %d of %d %s: %s", len(a.hosts), len(hosts), plural(len(hosts), "host", "hosts"), strings.Join(sanitizeAll(a.hosts), ", ")))
		if a.included > 0 && a.included < len(a.hosts) {
			l.Reason = appendReason(l.Reason, fmt.Sprintf("fleet: active on %d of its %d hosts only (their configurations differ): commented out, review per host class", a.included, len(a.hosts)))
		}
		out = append(out, l)
	}
	return out
}

func mergeArchNotes(hosts []string, ss []Suggestion) []ArchNote {
	accs := map[string]*ArchNote{}
	seen := map[string][]string{}
	incl := map[string]int{}
	var order []string
	for i, s := range ss {
		for _, n := range s.ArchNotes {
			k := n.Arch + "\x00" + n.Directive
			a := accs[k]
			if a == nil {
				c := n
				c.Count, c.FirstSeen, c.LastSeen, c.Exes = 0, time.Time{}, time.Time{}, nil
				a = &c
				accs[k] = a
				order = append(order, k)
			}
			seen[k] = append(seen[k], hosts[i])
			if n.Included {
				incl[k]++
			}
			a.Count += n.Count
			a.FirstSeen, a.LastSeen = minTime(a.FirstSeen, n.FirstSeen), maxTime(a.LastSeen, n.LastSeen)
			a.Exes = unionCap(a.Exes, n.Exes, 8)
			a.Syscalls = unionCap(a.Syscalls, n.Syscalls, 64)
		}
	}
	out := make([]ArchNote, 0, len(order))
	for _, k := range order {
		a := *accs[k]
		a.Included = incl[k] == len(seen[k])
		a.Reason = appendReason(a.Reason, fmt.Sprintf("fleet: seen on %d of %d hosts: %s", len(seen[k]), len(hosts), strings.Join(sanitizeAll(seen[k]), ", ")))
		out = append(out, a)
	}
	return out
}

func appendReason(r, more string) string {
	if r == "" {
		return more
	}
	return r + "; " + more
}

func unionCap(a, b []string, max int) []string {
	for _, v := range b {
		found := false
		for _, w := range a {
			if v == w {
				found = true
				break
			}
		}
		if !found && len(a) < max {
			a = append(a, v)
		}
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Since drops the lines, calls needing no change and architecture notes
// last seen before t (zero: keeps all), and reports whether anything of
// the suggestion is left.
func Since(s Suggestion, t time.Time) (Suggestion, bool) {
	if t.IsZero() {
		return s, true
	}
	keep := func(ls []Line) []Line {
		var out []Line
		for _, l := range ls {
			if !l.LastSeen.Before(t) {
				out = append(out, l)
			}
		}
		return out
	}
	s.Lines, s.NoChange = keep(s.Lines), keep(s.NoChange)
	var notes []ArchNote
	for _, n := range s.ArchNotes {
		if !n.LastSeen.Before(t) {
			notes = append(notes, n)
		}
	}
	s.ArchNotes = notes
	// The header's records are what is left.
	s.Total, s.FirstSeen, s.LastSeen = 0, time.Time{}, time.Time{}
	for _, l := range append(append([]Line(nil), s.Lines...), s.NoChange...) {
		s.Total += l.Count
		s.FirstSeen, s.LastSeen = minTime(s.FirstSeen, l.FirstSeen), maxTime(s.LastSeen, l.LastSeen)
	}
	for _, n := range s.ArchNotes {
		s.Total += n.Count
		s.FirstSeen, s.LastSeen = minTime(s.FirstSeen, n.FirstSeen), maxTime(s.LastSeen, n.LastSeen)
	}
	s.Notes = append(s.Notes, "only what was seen since "+t.UTC().Format(time.RFC3339)+" (--since)")
	return s, len(s.Lines)+len(s.NoChange)+len(s.ArchNotes) > 0
}
