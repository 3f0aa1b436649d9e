package sandbox

import (
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Entry is one name of a merged SystemCallFilter= or SystemCallLog= set.
type Entry struct {
	// Errno is the ":ERRNO" of a deny-list entry ("" for none: the
	// filter's default action).
	Errno string
	// Source is the assignment that put the entry there.
	Source Source
}

// Filter is a merged SystemCallFilter= (or SystemCallLog=) setting, with
// systemd's semantics (src/core/load-fragment.c config_parse_syscall_filter
// and src/shared/seccomp-util.c seccomp_parse_syscall_filter, v252):
//
//   - an empty assignment resets the set and the mode;
//   - the first assignment after a reset decides the mode: allow-list, or
//     deny-list when it starts with "~"; an allow-list filter implicitly
//     starts with @default (not so for SystemCallLog=);
//   - a later entry adds to the set when its polarity matches the mode and
//     removes from it otherwise;
//   - a word with ":errno" in an assignment without "~" is dropped whole,
//     in either mode ("Allow-listed system calls cannot take error
//     number"); in an allow-list "~name:errno" removes name like "~name"
//     (systemd 252 keeps no errno for it: observed over D-Bus);
//   - names that are neither a known syscall nor a group of the table are
//     dropped, as systemd drops them ("Failed to parse system call").
type Filter struct {
	// Set reports an assignment since the last reset.
	Set bool
	// AllowList is the mode (meaningful when Set).
	AllowList bool
	// Entries maps each name of the set to its entry.
	Entries map[string]Entry
	// Removed maps names an assignment of the other polarity took out of
	// the set (a deliberate "~name" in an allow-list) to where; a later
	// re-adding clears it.
	Removed map[string]Source
	// Dropped lists words systemd ignores, with why ("name:errno" in an
	// allow assignment, unknown names), for warnings.
	Dropped []string
	// Sources are the assignments since the last reset, in order.
	Sources []Source
}

// Assign applies one assignment value (continuations joined) made at src.
// table expands @groups; with a nil table, or for a group the table does not
// know, "@group" is kept as written. isFilter selects SystemCallFilter=
// rules (@default, errno) over SystemCallLog= ones.
func (f *Filter) Assign(value string, src Source, table *syscalls.Table, isFilter bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		*f = Filter{Sources: nil}
		return
	}
	invert := false
	if value[0] == '~' {
		invert = true
		value = value[1:]
	}
	if !f.Set {
		f.Set = true
		f.AllowList = !invert
		f.Entries = make(map[string]Entry)
		f.Removed = nil
		if isFilter && f.AllowList {
			f.apply("@default", "", false, src, table)
		}
	}
	f.Sources = append(f.Sources, src)
	for _, w := range strings.Fields(value) {
		name, errno := w, ""
		if i := strings.IndexByte(w, ':'); i >= 0 {
			name, errno = w[:i], normErrno(w[i+1:])
			if !isFilter {
				errno = ""
			} else if !invert {
				f.Dropped = append(f.Dropped, w+" at "+src.String()+": an allowed call cannot take an error number (systemd ignores the word)")
				continue
			}
		}
		if name == "" {
			continue
		}
		if !knownName(name, table) {
			f.Dropped = append(f.Dropped, name+" at "+src.String()+": not a system call or group systemd knows (systemd ignores it)")
			continue
		}
		f.apply(name, errno, invert, src, table)
	}
}

// knownName reports whether systemd would accept name in a filter.
func knownName(name string, table *syscalls.Table) bool {
	if name[0] == '@' {
		return table == nil || table.HasGroup(name)
	}
	return syscalls.Known(name) || (table != nil && len(table.Groups(name)) > 0)
}

func (f *Filter) apply(name, errno string, invert bool, src Source, table *syscalls.Table) {
	// Add when the polarity matches the mode. In an allow-list an inverted
	// entry removes the call, also with an errno: systemd 252 keeps no
	// "name:errno" entry then (seen over D-Bus in nspawn), so the call gets
	// the filter's default action.
	add := invert != f.AllowList
	names := []string{name}
	if name[0] == '@' && table != nil && table.HasGroup(name) {
		names = table.Members(name)
	}
	for _, n := range names {
		if add {
			f.Entries[n] = Entry{Errno: errno, Source: src}
			if errno == "" {
				delete(f.Removed, n)
			}
		} else {
			delete(f.Entries, n)
			if f.AllowList {
				if f.Removed == nil {
					f.Removed = make(map[string]Source)
				}
				f.Removed[n] = src
			}
		}
	}
}

// List returns the sorted entries, each "name" or "name:ERRNO", as
// systemd's D-Bus property spells them.
func (f *Filter) List() []string {
	if len(f.Entries) == 0 {
		return nil
	}
	out := make([]string, 0, len(f.Entries))
	for n, e := range f.Entries {
		if e.Errno != "" {
			n += ":" + e.Errno
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FilterFromList builds a Filter from what D-Bus reports (the allow-list
// flag and the expanded names, possibly "name:ERRNO"), all from src.
func FilterFromList(allowList bool, names []string, src Source) Filter {
	f := Filter{Set: allowList || len(names) > 0, AllowList: allowList, Entries: map[string]Entry{}}
	if f.Set {
		f.Sources = []Source{src}
	}
	for _, n := range names {
		name, errno := n, ""
		if i := strings.IndexByte(n, ':'); i >= 0 {
			name, errno = n[:i], normErrno(n[i+1:])
		}
		f.Entries[name] = Entry{Errno: errno, Source: src}
	}
	return f
}

// normErrno spells an errno the way systemd's D-Bus API does ("EPERM"):
// numbers become names where known; other text is kept upper-cased.
func normErrno(s string) string {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 4096 {
		if name := unix.ErrnoName(syscall.Errno(n)); name != "" {
			return name
		}
		return s
	}
	return strings.ToUpper(s)
}
