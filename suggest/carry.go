package suggest

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

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
	opts, err := unit.DeserializeOptions(strings.NewReader(withoutComments(text)))
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
	if ev := keptEvidence(text, kept); len(ev) > 0 {
		m := make(map[string][]string, len(s.KeptEvidence)+len(ev))
		for k, v := range s.KeptEvidence {
			m[k] = v
		}
		for k, v := range ev {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
		s.KeptEvidence = m
	}
	return s
}

// withoutComments drops comment lines, as systemd does before anything
// else (also inside a continuation, and a comment ending in a backslash
// continues nothing); go-systemd's lexer would let such a comment swallow
// the next line.
func withoutComments(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		t := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// Bounds on the evidence carried over per kept directive.
const (
	maxKeptEvidenceLines = 24
	maxKeptEvidenceWidth = 200
)

// commentText keeps a comment line that is printable text as it is (the
// evidence seccompwatch wrote: sanitizing it again would double its
// escapes on every rewrite) and sanitizes anything else; either way it is
// cut at maxKeptEvidenceWidth.
func commentText(t string) string {
	ok := utf8.ValidString(t) && len(t) <= maxKeptEvidenceWidth
	for _, r := range t {
		ok = ok && unicode.IsPrint(r)
	}
	if ok {
		return t
	}
	return Sanitize(t, maxKeptEvidenceWidth)
}

// keptEvidence returns, for each kept directive, the comment lines right
// above it in the current drop-in (its evidence, as an earlier suggestion
// wrote it: since the last lone "#"), without their "# " and sanitized, so
// that a rewritten file keeps why each grant was made.
func keptEvidence(text string, kept []string) map[string][]string {
	want := make(map[string]bool, len(kept))
	for _, k := range kept {
		want[k] = true
	}
	out := map[string][]string{}
	var block []string
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "" || t == "#" || strings.HasPrefix(t, "["):
			block = nil
		case strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";"):
			if len(block) < maxKeptEvidenceLines {
				block = append(block, commentText(strings.TrimSpace(t[1:])))
			}
		default:
			name, value, ok := strings.Cut(t, "=")
			d := strings.TrimSpace(name) + "=" + strings.TrimSpace(value)
			if ok && want[d] && len(block) > 0 {
				if _, seen := out[d]; !seen {
					out[d] = block
				}
			}
			block = nil
		}
	}
	return out
}
