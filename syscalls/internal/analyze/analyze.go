// Package analyze parses the text that `systemd-analyze syscall-filter`
// prints: one block per filter group, each a line "@name", an indented
// "# description" line and indented entries (syscall names and nested
// @groups), blocks separated by blank lines. Sections that start with "#" in
// the first column (systemd's "# Ungrouped System Calls ..." and "# Unlisted
// System Calls ..." trailers, or a provenance header) are not groups and are
// skipped.
//
// It is shared by the syscalls package (host tables) and its generator
// (bundled tables), so that both read the format the same way.
package analyze

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrSyntax is wrapped by every error about malformed input.
var ErrSyntax = errors.New("malformed syscall-filter output")

// maxLine bounds one input line; systemd's lines are short.
const maxLine = 64 * 1024

// Group is one filter group as printed: its name (with the leading "@"), its
// description and its direct entries in the printed order.
type Group struct {
	Name        string
	Description string
	Entries     []string
}

// Parse reads syscall-filter output and returns its groups in the printed
// order. It fails on a group listed twice, an entry outside a group, a
// malformed name, or input without any group.
func Parse(r io.Reader) ([]Group, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var (
		groups []Group
		cur    *Group
		seen   = make(map[string]bool)
		lineNo int
	)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case line == "":
			cur = nil
		case line[0] == '#':
			// A column-0 comment ends the group block: trailers and headers.
			cur = nil
		case line[0] == '@':
			name := line
			if !validName(name[1:]) {
				return nil, fmt.Errorf("analyze: line %d: bad group name %q: %w", lineNo, name, ErrSyntax)
			}
			if seen[name] {
				return nil, fmt.Errorf("analyze: line %d: group %s listed twice: %w", lineNo, name, ErrSyntax)
			}
			seen[name] = true
			groups = append(groups, Group{Name: name})
			cur = &groups[len(groups)-1]
		case line[0] == ' ' || line[0] == '\t':
			text := strings.TrimLeft(line, " \t")
			if cur == nil {
				if strings.HasPrefix(text, "#") {
					continue // indented comment outside a group block
				}
				return nil, fmt.Errorf("analyze: line %d: entry %q outside a group: %w", lineNo, text, ErrSyntax)
			}
			if strings.HasPrefix(text, "#") {
				if cur.Description == "" && len(cur.Entries) == 0 {
					cur.Description = strings.TrimSpace(strings.TrimPrefix(text, "#"))
				}
				continue
			}
			if !validName(strings.TrimPrefix(text, "@")) {
				return nil, fmt.Errorf("analyze: line %d: bad entry %q in %s: %w", lineNo, text, cur.Name, ErrSyntax)
			}
			cur.Entries = append(cur.Entries, text)
		default:
			return nil, fmt.Errorf("analyze: line %d: unexpected %q: %w", lineNo, truncate(line), ErrSyntax)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("analyze: read: %w", err)
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("analyze: no groups found: %w", ErrSyntax)
	}
	return groups, nil
}

// Direct returns the groups as a map from group name to direct entries, the
// shape syscalls.NewTable takes.
func Direct(groups []Group) map[string][]string {
	m := make(map[string][]string, len(groups))
	for _, g := range groups {
		m[g.Name] = append([]string(nil), g.Entries...)
	}
	return m
}

// validName accepts what systemd uses for syscall and group names: lower
// case letters, digits, '_' and '-', not empty.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
