package suggest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/sandbox"
)

// SchemaVersion is the "version" of the JSON document RenderJSON writes.
// Keys are only ever added; an incompatible change bumps it.
const SchemaVersion = 1

type jsonDoc struct {
	Version     int              `json:"version"`
	Suggestions []jsonSuggestion `json:"suggestions"`
}

type jsonSuggestion struct {
	Unit         string              `json:"unit"`
	Machine      string              `json:"machine"`
	Node         *string             `json:"node"`
	Config       *string             `json:"config"`
	UserUID      *int                `json:"user_uid"`
	Applicable   bool                `json:"applicable"`
	Path         *string             `json:"path"`
	Table        string              `json:"table"`
	Generator    string              `json:"generator"`
	Granularity  string              `json:"granularity"`
	Mode         string              `json:"mode"`
	Total        uint64              `json:"total"`
	FirstSeen    *string             `json:"first_seen"`
	LastSeen     *string             `json:"last_seen"`
	Lines        []jsonLine          `json:"lines"`
	ArchNotes    []jsonArchNote      `json:"arch_notes"`
	NoChange     []jsonLine          `json:"no_change"`
	Kept         []string            `json:"kept"`
	KeptEvidence map[string][]string `json:"kept_evidence,omitempty"`
	Warnings     []string            `json:"warnings"`
	Notes        []string            `json:"notes"`
	Dropin       string              `json:"dropin"`
	Unknown      *jsonUnknown        `json:"unknown,omitempty"`
}

// jsonUnknown is why a unit's configuration is unknown (mode "unknown"),
// and whether asking again may succeed (a D-Bus timeout).
type jsonUnknown struct {
	Reason string `json:"reason"`
	Retry  bool   `json:"retry"`
}

type jsonLine struct {
	Directive   string            `json:"directive"`
	Syscalls    []string          `json:"syscalls"`
	Group       string            `json:"group,omitempty"`
	Groups      []string          `json:"groups"`
	Adds        []string          `json:"adds,omitempty"`
	Arches      []string          `json:"arches"`
	Count       uint64            `json:"count"`
	FirstSeen   *string           `json:"first_seen"`
	LastSeen    *string           `json:"last_seen"`
	Exes        []string          `json:"exes"`
	ExesDropped uint64            `json:"exes_dropped"`
	Comms       []string          `json:"comms"`
	Actions     map[string]uint64 `json:"actions"`
	Risky       bool              `json:"risky"`
	Foreign     bool              `json:"foreign"`
	Observed    bool              `json:"observed"`
	Included    bool              `json:"included"`
	Reason      string            `json:"reason"`
	Verdict     *jsonVerdict      `json:"verdict"`
	Lifts       string            `json:"lifts,omitempty"`
	Needs       []string          `json:"needs,omitempty"`
}

// jsonVerdict is a line's verdict: its kind, the (first) denying
// directive and where it was set, and every denier in full.
type jsonVerdict struct {
	Kind      string           `json:"kind"`
	Directive string           `json:"directive"`
	Source    string           `json:"source"`
	Reason    string           `json:"reason"`
	Deniers   []sandbox.Denier `json:"deniers"`
	Also      []sandbox.Denier `json:"also"`
}

func toJSONVerdict(v *sandbox.Verdict) *jsonVerdict {
	if v == nil {
		return nil
	}
	jv := &jsonVerdict{Kind: string(v.Kind), Directive: v.Directive(), Source: Sanitize(v.Source(), 0), Reason: Sanitize(v.Reason, 0),
		Deniers: sanitizeDeniers(v.Deniers), Also: sanitizeDeniers(v.Also)}
	return jv
}

// sanitizeDeniers escapes the file names in deniers (a unit file path is
// the operator's, but a container's files are its own).
func sanitizeDeniers(ds []sandbox.Denier) []sandbox.Denier {
	out := make([]sandbox.Denier, len(ds))
	for i, d := range ds {
		d.Setting, d.NoLift, d.Lift = Sanitize(d.Setting, 0), Sanitize(d.NoLift, 0), Sanitize(d.Lift, 0)
		srcs := make([]sandbox.Source, len(d.Sources))
		for j, s := range d.Sources {
			srcs[j] = sandbox.Source{File: Sanitize(s.File, 0), Line: s.Line, Property: Sanitize(s.Property, 0)}
		}
		d.Sources = srcs
		out[i] = d
	}
	return out
}

type jsonArchNote struct {
	Arch        string       `json:"arch"`
	SystemdName string       `json:"systemd_name"`
	Directive   string       `json:"directive"`
	Syscalls    []string     `json:"syscalls"`
	Count       uint64       `json:"count"`
	FirstSeen   *string      `json:"first_seen"`
	LastSeen    *string      `json:"last_seen"`
	Exes        []string     `json:"exes"`
	Included    bool         `json:"included"`
	Reason      string       `json:"reason"`
	Verdict     *jsonVerdict `json:"verdict"`
}

func jsonTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	return &s
}

func sanitizeAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = Sanitize(s, 0)
	}
	return out
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func sanitizeActions(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[Sanitize(k, 32)] += v
	}
	return out
}

func toJSONLines(ls []Line) []jsonLine {
	out := make([]jsonLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, jsonLine{
			Directive: l.Directive(), Syscalls: nonNil(l.Syscalls), Group: l.Group,
			Groups: nonNil(l.Groups), Adds: l.Adds, Arches: nonNil(l.Arches), Count: l.Count,
			FirstSeen: jsonTime(l.FirstSeen), LastSeen: jsonTime(l.LastSeen),
			Exes: sanitizeAll(l.Exes), ExesDropped: l.ExesDropped, Comms: sanitizeAll(l.Comms),
			Actions: sanitizeActions(l.Actions), Risky: l.Risky, Foreign: l.Foreign,
			Observed: l.Observed, Included: l.Included, Reason: l.Reason,
			Verdict: toJSONVerdict(l.Verdict), Lifts: l.Lifts, Needs: l.Needs,
		})
	}
	return out
}

// RenderJSON writes suggestions as one JSON document, in the order given
// (the schema is documented in the package doc). Values a process controls
// are sanitized as in drop-ins.
func RenderJSON(w io.Writer, ss []Suggestion) error {
	// Written one suggestion at a time, so that memory does not grow with
	// the number of units; the bytes are those of encoding jsonDoc whole.
	if len(ss) == 0 {
		return encodeJSON(w, jsonDoc{Version: SchemaVersion, Suggestions: []jsonSuggestion{}})
	}
	if _, err := fmt.Fprintf(w, "{\n  \"version\": %d,\n  \"suggestions\": [\n    ", SchemaVersion); err != nil {
		return err
	}
	for i, s := range ss {
		if i > 0 {
			if _, err := io.WriteString(w, ",\n    "); err != nil {
				return err
			}
		}
		js, err := toJSONSuggestion(s)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(js, "    ", "  ")
		if err != nil {
			return fmt.Errorf("suggest: render json: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n  ]\n}\n")
	return err
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("suggest: render json: %w", err)
	}
	return nil
}

func toJSONSuggestion(s Suggestion) (jsonSuggestion, error) {
	var dropin bytes.Buffer
	if err := RenderDropin(&dropin, s); err != nil {
		return jsonSuggestion{}, err
	}
	unit := s.Unit
	if !unitname.Valid(unit, unitname.Any) {
		unit = Sanitize(unit, 0) // a valid name is plain already; \x2d stays as systemd spells it
	}
	js := jsonSuggestion{
		Unit: unit, Machine: Sanitize(s.Machine, 0), Applicable: s.Applicable,
		Table: s.Table, Generator: Sanitize(s.Generator, 64), Granularity: s.Granularity.String(),
		Mode: s.Mode, Total: s.Total, FirstSeen: jsonTime(s.FirstSeen), LastSeen: jsonTime(s.LastSeen),
		Lines: toJSONLines(s.Lines), NoChange: toJSONLines(s.NoChange),
		ArchNotes: make([]jsonArchNote, 0, len(s.ArchNotes)),
		Kept:      nonNil(s.Kept), KeptEvidence: s.KeptEvidence,
		Warnings: nonNil(s.Warnings), Notes: nonNil(s.Notes), Dropin: dropin.String(),
	}
	if s.Mode == "unknown" {
		js.Unknown = &jsonUnknown{Reason: Sanitize(s.Unknown, 0), Retry: s.Retry}
	}
	if s.UserUnit {
		uid := s.UID
		js.UserUID = &uid
	}
	if s.Node != "" {
		n := Sanitize(s.Node, 0)
		js.Node = &n
	}
	if s.Config != "" {
		c := s.Config
		js.Config = &c
	}
	if s.Applicable {
		p := s.Path
		js.Path = &p
	}
	for _, n := range s.ArchNotes {
		js.ArchNotes = append(js.ArchNotes, jsonArchNote{
			Arch: n.Arch, SystemdName: n.SystemdName, Directive: n.Directive,
			Syscalls: nonNil(n.Syscalls), Count: n.Count,
			FirstSeen: jsonTime(n.FirstSeen), LastSeen: jsonTime(n.LastSeen),
			Exes: sanitizeAll(n.Exes), Included: n.Included, Reason: n.Reason,
			Verdict: toJSONVerdict(n.Verdict),
		})
	}
	return js, nil
}

// ComputeAll computes a suggestion per unit aggregate, in the order of
// units (Snapshot's order); policies maps a unit name to its policy
// (missing: unknown). Units of other machines are looked up by
// "<machine>/<unit>".
func ComputeAll(units []UnitAggregate, policies map[string]*Policy, opts Options) []Suggestion {
	out := make([]Suggestion, 0, len(units))
	for _, u := range units {
		key := u.Unit
		if u.Machine != "" {
			key = u.Machine + "/" + u.Unit
		}
		out = append(out, Compute(u, policies[key], opts))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Unit != out[j].Unit {
			return out[i].Unit < out[j].Unit
		}
		return out[i].Machine < out[j].Machine
	})
	return out
}
