// Package apply installs a unit's seccompwatch drop-in: it turns one
// suggestion, read as data (the JSON schema of package suggest), into the
// directives it may write, renders the drop-in itself, writes it
// atomically, and checks over D-Bus that systemd now says what the drop-in
// says. It is the only code that writes into /etc/systemd.
//
// # What reaches the file
//
// Nothing the data carries is written as text. Each proposal is rebuilt
// from validated parts: SystemCallFilter= with syscall names of the tables
// and @groups of the table in use, SystemCallArchitectures= with the ABI
// names systemd knows, and "=no" for the boolean seccomp-backed directives
// (MemoryDenyWriteExecute, LockPersonality, ...). A line that fails
// validation refuses the whole plan: a suggestion with a forged name is not
// half applied. Comments are generated here, from the same validated
// names.
//
// # Opt-ins
//
// The suggestion's own Included flag is necessary, not sufficient: Build
// checks the opt-ins again with its own table and rules. A risky syscall
// (suggest.Risk) or a foreign binary needs AllowRisky; undoing a deliberate
// setting (a directive's "=no", a "~" removal, a line whose needs say so,
// an architecture) needs that name in Allow. The two are independent.
//
// # The file
//
// The drop-in carries a marker line with the SHA-256 of its body: Revert
// removes only a file that is still exactly what apply wrote, and a file at
// the path that apply did not write is never overwritten.
package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Errors of Decode and Build; test with errors.Is.
var (
	// ErrUnknown: the unit's configuration is unknown, so no verdict can be
	// trusted and nothing is applied.
	ErrUnknown = errors.New("the unit's configuration is unknown")
	// ErrInvalid: the data holds something apply does not write (a name
	// that is no syscall, group or ABI, a directive outside the sandbox
	// model, a malformed document).
	ErrInvalid = errors.New("invalid suggestion data")
	// ErrNotFound: the document has no suggestion for the unit.
	ErrNotFound = errors.New("no suggestion for the unit")
	// ErrNotRead: the daemon could not read the unit's configuration now
	// (its D-Bus call timed out, its bus was reconnecting): not an unknown
	// configuration, asking again may succeed.
	ErrNotRead = errors.New("the daemon could not read the unit's configuration from systemd")
)

// maxDocument bounds the JSON document read.
const maxDocument = 8 << 20

// Suggestion is the part of one suggestion (suggest's JSON schema) that
// apply reads.
type Suggestion struct {
	Unit       string     `json:"unit"`
	Machine    string     `json:"machine"`
	UserUID    *int       `json:"user_uid"`
	Applicable bool       `json:"applicable"`
	Mode       string     `json:"mode"`
	Lines      []Line     `json:"lines"`
	ArchNotes  []ArchNote `json:"arch_notes"`
	NoChange   []Line     `json:"no_change"`
	Warnings   []string   `json:"warnings"`
	Unknown    *struct {
		Reason string `json:"reason"`
		Retry  bool   `json:"retry"`
	} `json:"unknown"`
}

// Line is one proposed line of the JSON schema.
type Line struct {
	Directive string   `json:"directive"`
	Syscalls  []string `json:"syscalls"`
	Group     string   `json:"group"`
	Risky     bool     `json:"risky"`
	Foreign   bool     `json:"foreign"`
	Included  bool     `json:"included"`
	Reason    string   `json:"reason"`
	Verdict   *struct {
		Kind string `json:"kind"`
	} `json:"verdict"`
	Lifts string   `json:"lifts"`
	Needs []string `json:"needs"`
}

// ArchNote is one architecture note of the JSON schema.
type ArchNote struct {
	Arch        string   `json:"arch"`
	SystemdName string   `json:"systemd_name"`
	Directive   string   `json:"directive"`
	Syscalls    []string `json:"syscalls"`
	Included    bool     `json:"included"`
	Reason      string   `json:"reason"`
}

// Decode reads a suggestion document (RenderJSON's schema, version 1) and
// returns the suggestion of unit on machine ("" for the host).
func Decode(r io.Reader, unit, machine string) (*Suggestion, error) {
	return DecodeFor(r, unit, machine, -1)
}

// DecodeFor is Decode for a unit of user uid's manager (uid ≥ 0) or a
// system unit (uid -1).
func DecodeFor(r io.Reader, unit, machine string, uid int) (*Suggestion, error) {
	var doc struct {
		Version     int          `json:"version"`
		Suggestions []Suggestion `json:"suggestions"`
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("%w: the document exceeds %d bytes", ErrInvalid, maxDocument)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if doc.Version != suggest.SchemaVersion {
		return nil, fmt.Errorf("%w: schema version %d, want %d", ErrInvalid, doc.Version, suggest.SchemaVersion)
	}
	for i := range doc.Suggestions {
		s := &doc.Suggestions[i]
		if s.Unit == unit && s.Machine == machine && (s.UserUID == nil && uid < 0 || s.UserUID != nil && *s.UserUID == uid) {
			return s, nil
		}
	}
	return nil, ErrNotFound
}

// OnlyMachine returns the machine of the suggestions of unit in a
// suggestion document when they are all of one machine (none of the
// host), else "": for an error that names the --machine to give.
func OnlyMachine(doc []byte, unit string) string {
	var d struct {
		Suggestions []Suggestion `json:"suggestions"`
	}
	if len(doc) > maxDocument || json.Unmarshal(doc, &d) != nil {
		return ""
	}
	m := ""
	for _, s := range d.Suggestions {
		switch {
		case s.Unit != unit || s.UserUID != nil:
		case s.Machine == "" || m != "" && s.Machine != m:
			return ""
		default:
			m = s.Machine
		}
	}
	if !event.ValidMachineName(m) {
		return ""
	}
	return m
}

// Options are the opt-ins of the person applying, and the table that
// judges risk and names groups.
type Options struct {
	Table      *syscalls.Table
	Allow      map[string]bool
	AllowRisky bool
}

// Item is one directive apply writes: Key=Values, every value validated.
type Item struct {
	// Key is SystemCallFilter, SystemCallArchitectures or a boolean
	// directive of sandbox.Directives.
	Key    string
	Values []string
	// Calls are the denied calls it lifts; Kind the verdict kind (both
	// validated, for the comment and the report).
	Calls []string
	Kind  string
	// Learned: a line of a learned proposal (BuildLearned); Note is its
	// evidence (sanitized), written as the comment above it.
	Learned bool
	Note    string
}

// Line returns the directive as written.
func (it Item) Line() string { return it.Key + "=" + strings.Join(it.Values, " ") }

// Plan is what apply would write for one unit.
type Plan struct {
	Unit  string
	Items []Item
	// Held lists the proposals not written, each with why (sanitized).
	Held []string
}

// boolDirectives are the directives whose proposal is "=no".
var boolDirectives = map[string]bool{
	"MemoryDenyWriteExecute": true, "LockPersonality": true, "RestrictRealtime": true,
	"RestrictSUIDSGID": true, "ProtectHostname": true, "ProtectKernelTunables": true,
	"ProtectKernelModules": true, "ProtectKernelLogs": true, "ProtectClock": true,
	"PrivateDevices": true,
}

var kinds = map[string]bool{
	string(sandbox.KindFilter): true, string(sandbox.KindFilterRemoved): true,
	string(sandbox.KindArchitecture): true, string(sandbox.KindDirective): true,
	string(sandbox.KindLogged): true,
}

// abiNames are SystemCallArchitectures= values systemd knows.
func abiName(n string) bool {
	if n == "native" {
		return true
	}
	for _, a := range syscalls.Arches() {
		if a.SystemdName() == n {
			return true
		}
	}
	return false
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// shown is a data value made safe for a terminal or an error message.
func shown(s string) string { return suggest.Sanitize(s, 120) }

// Build turns a suggestion into the plan apply may write, checking every
// name and every opt-in itself.
func Build(s *Suggestion, o Options) (Plan, error) {
	if o.Table == nil {
		return Plan{}, errors.New("apply: no syscall table")
	}
	if err := unitname.Validate(s.Unit, unitname.Any); err != nil {
		return Plan{}, invalidf("unit %s: %v", shown(s.Unit), err)
	}
	p := Plan{Unit: s.Unit}
	if s.Mode == "unknown" && s.Unknown != nil && s.Unknown.Retry {
		return p, fmt.Errorf("%w: %s", ErrNotRead, suggest.Sanitize(s.Unknown.Reason, 400))
	}
	if s.Mode == "unknown" {
		why := ""
		if s.Unknown != nil && s.Unknown.Reason != "" {
			why = ": " + suggest.Sanitize(s.Unknown.Reason, 400)
		} else if len(s.Warnings) > 0 {
			why = ": " + shown(strings.Join(s.Warnings, "; "))
		}
		return p, fmt.Errorf("%w to seccompwatch%s; nothing is applied", ErrUnknown, why)
	}
	if !s.Applicable {
		return p, invalidf("%s is not a unit a drop-in can be applied to", shown(s.Unit))
	}
	for _, l := range s.Lines {
		it, held, err := buildLine(l, o)
		if err != nil {
			return Plan{}, err
		}
		if held != "" {
			p.Held = append(p.Held, held)
			continue
		}
		p.Items = append(p.Items, it)
	}
	for _, n := range s.ArchNotes {
		if !n.Included {
			if n.Directive != "" {
				p.Held = append(p.Held, shown(n.Directive)+": held back by the suggestion ("+shown(n.Reason)+")")
			}
			continue
		}
		if !abiName(n.SystemdName) {
			return Plan{}, invalidf("architecture %q is not one systemd knows", shown(n.SystemdName))
		}
		vals := strings.Fields(strings.TrimPrefix(n.Directive, "SystemCallArchitectures="))
		if !strings.HasPrefix(n.Directive, "SystemCallArchitectures=") || len(vals) == 0 {
			return Plan{}, invalidf("architecture directive %q", shown(n.Directive))
		}
		for _, v := range vals {
			if !abiName(v) {
				return Plan{}, invalidf("architecture %q is not one systemd knows", shown(v))
			}
		}
		calls, err := validCalls(n.Syscalls)
		if err != nil {
			return Plan{}, err
		}
		it := Item{Key: "SystemCallArchitectures", Values: vals, Calls: calls, Kind: string(sandbox.KindArchitecture)}
		if !o.Allow["SystemCallArchitectures"] {
			p.Held = append(p.Held, it.Line()+": needs --allow SystemCallArchitectures (a compat ABI widens the kernel's attack surface)")
			continue
		}
		p.Items = append(p.Items, it)
	}
	return p, nil
}

func validCalls(names []string) ([]string, error) {
	for _, n := range names {
		if !syscalls.Known(n) {
			return nil, invalidf("%q is not a system call name", shown(n))
		}
	}
	return slices.Clone(names), nil
}

// buildLine validates one line; held is why it is not written ("" when
// it is).
func buildLine(l Line, o Options) (it Item, held string, err error) {
	if l.Verdict == nil {
		return it, "", fmt.Errorf("%w to seccompwatch (a line without a verdict); nothing is applied", ErrUnknown)
	}
	calls, err := validCalls(l.Syscalls)
	if err != nil {
		return it, "", err
	}
	if len(calls) == 0 {
		return it, "", invalidf("a line without syscalls: %q", shown(l.Directive))
	}
	if !kinds[l.Verdict.Kind] {
		return it, "", invalidf("verdict kind %q of a proposed line", shown(l.Verdict.Kind))
	}
	for _, n := range l.Needs {
		if !syscalls.Known(n) && !sandbox.IsDirective(n) {
			return it, "", invalidf("opt-in name %q", shown(n))
		}
	}
	it = Item{Calls: calls, Kind: l.Verdict.Kind}
	needs := slices.Clone(l.Needs)
	risky := l.Foreign
	switch {
	case l.Lifts == "":
		it.Key = "SystemCallFilter"
		if l.Group != "" {
			if !strings.HasPrefix(l.Group, "@") || !o.Table.HasGroup(l.Group) {
				return it, "", invalidf("%q is not a group of %s", shown(l.Group), o.Table.Source)
			}
			it.Values = []string{l.Group}
		} else {
			it.Values = calls
		}
		if l.Directive != it.Line() {
			return it, "", invalidf("directive %q does not match its syscalls", shown(l.Directive))
		}
		members := it.Values
		if l.Group != "" {
			members = o.Table.Members(l.Group)
		}
		for _, m := range members {
			if r, _ := suggest.Risk(o.Table, m); r {
				risky = true
			}
		}
		if it.Kind == string(sandbox.KindFilterRemoved) {
			for _, c := range calls {
				if !slices.Contains(needs, c) {
					needs = append(needs, c)
				}
			}
		}
	case boolDirectives[l.Lifts]:
		it.Key, it.Values = l.Lifts, []string{"no"}
		if l.Directive == "" {
			return it, "no change proposed for " + l.Lifts + "= (" + shown(l.Reason) + ")", nil
		}
		if l.Directive != it.Line() {
			return it, "", invalidf("directive %q is not %s", shown(l.Directive), it.Line())
		}
		if !slices.Contains(needs, l.Lifts) {
			needs = append(needs, l.Lifts) // always deliberate
		}
	default:
		if l.Directive == "" && sandbox.IsDirective(l.Lifts) {
			return it, "no change proposed for " + l.Lifts + "= (" + shown(l.Reason) + ")", nil
		}
		return it, "", invalidf("directive %q: apply writes SystemCallFilter=, SystemCallArchitectures= and the boolean directives' =no only", shown(l.Directive))
	}
	var missing []string
	for _, n := range needs {
		if !o.Allow[n] {
			missing = append(missing, "--allow "+n)
		}
	}
	if risky && !o.AllowRisky {
		missing = append(missing, "--allow-risky")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return it, it.Line() + ": needs " + strings.Join(missing, " and ") + " (" + shown(l.Reason) + ")", nil
	}
	if !l.Included {
		return it, it.Line() + ": held back by the suggestion (" + shown(l.Reason) + ")", nil
	}
	return it, "", nil
}
