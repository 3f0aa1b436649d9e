package apply

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// A learned proposal (`seccompwatch learn --format json`) tightens a unit:
// it is the whole sandbox learn saw the unit live in. apply writes it to
// its own drop-in, LearnedName, which sorts before the drop-in of lifted
// denials (50-seccompwatch.conf): a later fix of a denial (a call added, a
// directive's =no) overrides the learned setting, never the other way
// round. A new learned proposal replaces the file as a whole.

// LearnedName is the file name of the learned drop-in.
const LearnedName = "40-seccompwatch-learned.conf"

// Learned is the part of learn --format json's output that apply reads.
type Learned struct {
	Unit     string `json:"unit"`
	Method   string `json:"method"`
	Proposal struct {
		Unit  string        `json:"unit"`
		Table string        `json:"table"`
		Lines []LearnedLine `json:"lines"`
	} `json:"proposal"`
}

// LearnedLine is one line of a learned proposal (package propose's Line).
type LearnedLine struct {
	Directive string `json:"directive"`
	Value     string `json:"value"`
	Commented bool   `json:"commented"`
	Kept      bool   `json:"kept"`
	Skipped   bool   `json:"skipped"`
	Evidence  string `json:"evidence"`
	Note      string `json:"note"`
}

// DecodeLearned reads learn --format json's output and checks it is unit's.
func DecodeLearned(r io.Reader, unit string) (*Learned, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("%w: the document exceeds %d bytes", ErrInvalid, maxDocument)
	}
	var l Learned
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if l.Unit == "" && l.Proposal.Unit == "" {
		return nil, fmt.Errorf("%w: not the output of seccompwatch learn --format json (no unit)", ErrInvalid)
	}
	if l.Unit != unit || l.Proposal.Unit != unit {
		return nil, fmt.Errorf("%w: the proposal is %s's, not %s's", ErrNotFound, shown(l.Unit), unit)
	}
	return &l, nil
}

// namespaceTypes are RestrictNamespaces= type names.
var namespaceTypes = []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"}

// familyName is the shape of an address family name (systemd ignores, with
// a warning, a name it does not know; Verify then finds it missing).
var familyName = regexp.MustCompile(`^AF_[A-Z0-9]{2,12}$`)

// learnedValues checks the values of one learned directive: only the
// tightening values learn proposes, each name validated.
func learnedValues(key string, values []string, t *syscalls.Table) error {
	if len(values) == 0 {
		return fmt.Errorf("%w: empty %s=", ErrInvalid, key)
	}
	one := len(values) == 1
	for _, v := range values {
		ok := false
		switch {
		case key == "SystemCallFilter":
			ok = syscalls.Known(v) || strings.HasPrefix(v, "@") && t.HasGroup(v)
		case key == "SystemCallArchitectures":
			ok = abiName(v)
		case key == "RestrictAddressFamilies":
			ok = v == "none" && one || familyName.MatchString(v)
		case key == "RestrictNamespaces":
			ok = v == "yes" && one || slices.Contains(namespaceTypes, v)
		case boolDirectives[key]:
			ok = v == "yes" && one
		}
		if !ok {
			return fmt.Errorf("%w: %s=%s is not a value learn proposes", ErrInvalid, key, shown(v))
		}
	}
	return nil
}

// BuildLearned turns a learned proposal into the plan apply may write: the
// proposed lines, each validated; lines learn proposed commented out (they
// do more than filter calls) only with their directive in o.Allow; risky
// calls only with o.AllowRisky; kept and skipped lines never.
func BuildLearned(l *Learned, o Options) (Plan, error) {
	if o.Table == nil {
		return Plan{}, fmt.Errorf("apply: no syscall table")
	}
	if err := unitname.Validate(l.Unit, unitname.Any); err != nil {
		return Plan{}, invalidf("unit %s: %v", shown(l.Unit), err)
	}
	p := Plan{Unit: l.Unit}
	for _, ln := range l.Proposal.Lines {
		key := ln.Directive
		if key != "SystemCallFilter" && key != "SystemCallArchitectures" && key != "RestrictAddressFamilies" &&
			key != "RestrictNamespaces" && !boolDirectives[key] {
			return Plan{}, invalidf("directive %q: apply writes the seccomp-backed directives of the sandbox model only", shown(key))
		}
		if ln.Kept {
			continue
		}
		if ln.Skipped {
			p.Held = append(p.Held, key+"=: not proposed by learn ("+shown(ln.Evidence)+")")
			continue
		}
		values := strings.Fields(ln.Value)
		if err := learnedValues(key, values, o.Table); err != nil {
			return Plan{}, err
		}
		it := Item{Key: key, Values: values, Learned: true, Note: suggest.Sanitize(ln.Evidence, 300)}
		if ln.Commented && !o.Allow[key] {
			p.Held = append(p.Held, it.Line()+": proposed commented out ("+shown(ln.Note)+"); written only with --allow "+key)
			continue
		}
		if key == "SystemCallFilter" && !o.AllowRisky {
			var risky []string
			for _, v := range values {
				if r, _ := suggest.Risk(o.Table, v); r && !strings.HasPrefix(v, "@") {
					risky = append(risky, v)
				}
			}
			if len(risky) > 0 {
				p.Held = append(p.Held, it.Line()+": needs --allow-risky ("+strings.Join(risky, " ")+" seen, but risky: review)")
				continue
			}
		}
		p.Items = append(p.Items, it)
	}
	return p, nil
}
