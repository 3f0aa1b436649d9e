package suggest

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Added returns the syscalls the drop-in would really add: those of its
// active lines (a group line counts the calls it adds too). Lines held
// back (risky, foreign, deliberate, unknown configuration) do not count.
func (s Suggestion) Added() []string {
	set := map[string]bool{}
	for _, l := range s.Lines {
		if !l.Included || !s.Applicable {
			continue
		}
		for _, n := range l.Syscalls {
			set[n] = true
		}
		for _, n := range l.Adds {
			set[n] = true
		}
	}
	for _, n := range s.ArchNotes {
		if n.Included && s.Applicable {
			for _, c := range n.Syscalls {
				set[c] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RenderWhy writes, as audit2why does for SELinux, what denied each call
// of a suggestion (only syscall when not empty): the verdict, where the
// denying setting was made, and the change that would lift it or why none
// is proposed. Values a process controls are sanitized.
func RenderWhy(w io.Writer, s Suggestion, syscall string) error {
	bw := bufio.NewWriter(w)
	where := "host"
	if s.Machine != "" {
		where = "machine " + quote(s.Machine, 0)
	}
	fmt.Fprintf(bw, "%s (%s): %d records between %s and %s; filter mode now: %s\n",
		quote(s.Unit, 0), where, s.Total, timeText(s.FirstSeen), timeText(s.LastSeen), s.Mode)
	n := 0
	entry := func(what string, l Line, verdict, reasonText, change string) {
		n++
		fmt.Fprintf(bw, "\n%s: %d records (%s), %s to %s\n", what, l.Count, actionsText(l.Actions), timeText(l.FirstSeen), timeText(l.LastSeen))
		if len(l.Exes) > 0 {
			fmt.Fprintf(bw, "  exe: %s\n", strings.Join(quoteAll(l.Exes), " "))
		}
		fmt.Fprintf(bw, "  verdict: %s\n", verdict)
		for _, part := range strings.Split(reasonText, "; ") {
			if part != "" {
				fmt.Fprintf(bw, "    %s\n", Sanitize(part, 0))
			}
		}
		if change != "" {
			fmt.Fprintf(bw, "  change: %s\n", change)
		}
	}
	match := func(calls []string) bool {
		if syscall == "" {
			return true
		}
		for _, c := range calls {
			if c == syscall {
				return true
			}
		}
		return false
	}
	for _, l := range s.Lines {
		if !match(l.Syscalls) {
			continue
		}
		kind := "unknown"
		if l.Verdict != nil {
			kind = string(l.Verdict.Kind)
		}
		what := strings.Join(l.Syscalls, " ")
		if l.Lifts != "" {
			what += " (" + l.Lifts + "=)"
		}
		change := l.Directive()
		switch {
		case change == "":
			change = "none proposed"
		case l.Included && s.Applicable:
			change += " (active in the drop-in)"
		default:
			change += " (held back, commented out in the drop-in)"
		}
		entry(what, l, kind, l.Reason, change)
	}
	for _, a := range s.ArchNotes {
		if !match(a.Syscalls) {
			continue
		}
		kind := "unknown"
		if a.Verdict != nil {
			kind = string(a.Verdict.Kind)
		}
		l := Line{Count: a.Count, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Exes: a.Exes}
		change := a.Directive
		if change == "" {
			change = "none proposed"
		} else if a.Included && s.Applicable {
			change += " (active in the drop-in)"
		} else {
			change += " (held back, commented out in the drop-in)"
		}
		entry(strings.Join(a.Syscalls, " ")+" ("+a.Arch+")", l, kind, a.Reason, change)
	}
	for _, l := range s.NoChange {
		if !match(l.Syscalls) {
			continue
		}
		kind := "none"
		if l.Verdict != nil {
			kind = string(l.Verdict.Kind)
		} else if strings.Contains(l.Reason, "ENOSYS on purpose") {
			kind = "benign"
		}
		entry(strings.Join(l.Syscalls, " "), l, kind, strings.TrimPrefix(l.Reason, "no change: "), "no change needed")
	}
	if n == 0 {
		if syscall != "" {
			fmt.Fprintf(bw, "\nno records of %s for this unit\n", Sanitize(syscall, 64))
		} else {
			fmt.Fprintln(bw, "\nno denials")
		}
	}
	for _, wn := range s.Warnings {
		fmt.Fprintf(bw, "\nWARNING: %s\n", wn)
	}
	return bw.Flush()
}
