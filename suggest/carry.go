package suggest

import (
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// CarryOver returns s with the directives of the unit's current drop-in at
// s.Path (current[s.Path]) carried over into Kept: the grants an earlier
// suggestion made are in the unit's filter now, so they no longer show up
// as denials, and rewriting the file without them would take them away.
// Directives the new suggestion already has are not repeated. Options
// outside [Service], and values with control characters, are not carried
// and produce a warning. RenderDiff applies CarryOver itself; whoever writes
// the file should write RenderDropin(CarryOver(s, current)), which is what
// the diff shows. CarryOver is idempotent.
func CarryOver(s Suggestion, current map[string]string) Suggestion {
	text, ok := current[s.Path]
	if !ok || text == "" || !s.Applicable {
		return s
	}
	opts, err := unit.DeserializeOptions(strings.NewReader(text))
	if err != nil {
		if w := "the current " + DropinName + " does not parse (" + Sanitize(err.Error(), 0) + "): nothing carried over from it"; !slices.Contains(s.Warnings, w) {
			s.Warnings = append(slices.Clone(s.Warnings), w)
		}
		return s
	}
	have := map[string]bool{}
	for _, l := range s.Lines {
		if l.Included {
			have[l.Directive()] = true
		}
	}
	for _, n := range s.ArchNotes {
		if n.Included {
			have[n.Directive] = true
		}
	}
	kept := append([]string(nil), s.Kept...)
	for _, k := range kept { // CarryOver of a carried suggestion changes nothing
		have[k] = true
	}
	warned := map[string]bool{}
	for _, w := range s.Warnings {
		warned[w] = true
	}
	warnings := slices.Clone(s.Warnings)
	for _, o := range opts {
		d := o.Name + "=" + o.Value
		switch {
		case o.Section != "Service" || !isPlain(d) || strings.ContainsAny(o.Name, "[]#;") || o.Name == "":
			if w := "not carried over from the current " + DropinName + ": " + quote("["+o.Section+"] "+d, 0); !warned[w] {
				warned[w] = true
				warnings = append(warnings, w)
			}
		case have[d]:
		default:
			have[d] = true
			kept = append(kept, d)
		}
	}
	s.Kept, s.Warnings = kept, warnings
	return s
}
