package suggest

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// diffContext is the number of context lines around each hunk.
const diffContext = 3

// maxDiffCells bounds the LCS table; beyond it the diff replaces the whole
// file in one hunk (still correct, just not minimal).
const maxDiffCells = 4 << 20

// RenderDiff writes a unified diff that turns the unit's current drop-in at
// s.Path (current[s.Path], absent or "" for a new file) into the rendered
// drop-in. Headers are "--- a/<path>" / "+++ b/<path>" ("--- /dev/null" for
// a new file), so `patch -p1` or `git apply` from / can use it. The other
// drop-ins of the unit in current are listed (unchanged) before the diff.
// The new content is RenderDropin(CarryOver(s, current)): directives of the
// current drop-in are kept.
// Nothing is written but comments for a suggestion that is not Applicable.
// The content of current is written as given: it is root-owned
// configuration, not process-controlled.
func RenderDiff(w io.Writer, s Suggestion, current map[string]string) error {
	s = CarryOver(s, current)
	var buf bytes.Buffer
	if err := RenderDropin(&buf, s); err != nil {
		return err
	}
	if !s.Applicable {
		if _, err := fmt.Fprintf(w, "# %s: not applicable, no diff (advisory only)\n", quote(s.Unit, 0)); err != nil {
			return fmt.Errorf("suggest: render diff: %w", err)
		}
		return nil
	}
	var out bytes.Buffer
	others := make([]string, 0, len(current))
	for p := range current {
		if p != s.Path {
			others = append(others, p)
		}
	}
	sort.Strings(others)
	for _, p := range others {
		fmt.Fprintf(&out, "# other drop-in of %s, unchanged: %s\n", s.Unit, quote(p, 0))
	}
	old, exists := current[s.Path]
	exists = exists && old != ""
	writeUnified(&out, s.Path, old, buf.String(), exists)
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("suggest: render diff: %w", err)
	}
	return nil
}

// noEOLMark marks a last line without a newline, so that it differs from
// the same text with one.
const noEOLMark = "\x00"

// splitLines splits text into lines without their newlines; a last line
// without one carries noEOLMark.
func splitLines(text string) []string {
	if text == "" {
		return nil
	}
	noEOL := !strings.HasSuffix(text, "\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if noEOL {
		lines[len(lines)-1] += noEOLMark
	}
	return lines
}

type edit struct {
	op   byte // ' ', '-', '+'
	text string
}

// diffLines returns the edit script from a to b (LCS; one big replace when
// the table would be too large).
func diffLines(a, b []string) []edit {
	// Common prefix and suffix are context.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []edit
	for _, l := range a[:pre] {
		out = append(out, edit{' ', l})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if (len(ma)+1)*(len(mb)+1) > maxDiffCells {
		for _, l := range ma {
			out = append(out, edit{'-', l})
		}
		for _, l := range mb {
			out = append(out, edit{'+', l})
		}
	} else {
		n, m := len(ma), len(mb)
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				out = append(out, edit{' ', ma[i]})
				i++
				j++
			case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
				out = append(out, edit{'+', mb[j]})
				j++
			default:
				out = append(out, edit{'-', ma[i]})
				i++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		out = append(out, edit{' ', l})
	}
	return out
}

// writeUnified writes the unified diff of old → new for path.
func writeUnified(out *bytes.Buffer, path, old, new string, exists bool) {
	a, b := splitLines(old), splitLines(new)
	edits := diffLines(a, b)
	changed := false
	for _, e := range edits {
		if e.op != ' ' {
			changed = true
			break
		}
	}
	if !changed {
		fmt.Fprintf(out, "# %s is up to date\n", path)
		return
	}
	if exists {
		fmt.Fprintf(out, "--- a%s\n", path)
	} else {
		out.WriteString("--- /dev/null\n")
	}
	fmt.Fprintf(out, "+++ b%s\n", path)
	// Positions (0-based) of each edit in a and b.
	type pos struct{ ai, bi int }
	ps := make([]pos, len(edits))
	ai, bi := 0, 0
	for k, e := range edits {
		ps[k] = pos{ai, bi}
		if e.op != '+' {
			ai++
		}
		if e.op != '-' {
			bi++
		}
	}
	for k := 0; k < len(edits); {
		if edits[k].op == ' ' {
			k++
			continue
		}
		start := max(k-diffContext, 0)
		end := k
		for end < len(edits) {
			if edits[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(edits) && edits[run].op == ' ' {
				run++
			}
			if run == len(edits) || run-end > 2*diffContext {
				end = min(end+diffContext, len(edits))
				break
			}
			end = run
		}
		na, nb := 0, 0
		for _, e := range edits[start:end] {
			if e.op != '+' {
				na++
			}
			if e.op != '-' {
				nb++
			}
		}
		fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(ps[start].ai, na), hunkRange(ps[start].bi, nb))
		for i := start; i < end; i++ {
			text, noEOL := strings.CutSuffix(edits[i].text, noEOLMark)
			out.WriteByte(edits[i].op)
			out.WriteString(text)
			out.WriteByte('\n')
			if noEOL {
				out.WriteString("\\ No newline at end of file\n")
			}
		}
		k = end
	}
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// UnifiedDiff returns the unified diff that turns old (exists false: no
// file) into new for path, with the headers RenderDiff writes, or one
// "# PATH is up to date" comment when nothing changes. The texts are
// written as given: callers pass root-owned or self-rendered content.
func UnifiedDiff(path, old, new string, exists bool) string {
	var out bytes.Buffer
	writeUnified(&out, path, old, new, exists)
	return out.String()
}
