package unitprops

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// syscallSet merges SystemCallFilter= or SystemCallLog= assignments with
// systemd's semantics (src/core/load-fragment.c, config_parse_syscall_filter
// and config_parse_syscall_log):
//
//   - an empty assignment resets the set and the mode;
//   - the first assignment after a reset decides the mode: allow-list, or
//     deny-list when it starts with "~"; an allow-list filter implicitly
//     starts with @default (not so for SystemCallLog=);
//   - a later entry adds to the set when its polarity matches the mode
//     (plain in allow-list mode, "~" in deny-list mode) and removes from it
//     otherwise;
//   - entries may be @groups (expanded with the table) and may carry an
//     ":errno" suffix, kept as ":NAME".
type syscallSet struct {
	set       bool // an assignment was seen since the last reset
	allowList bool
	entries   map[string]string // name -> errno suffix ("" for none)
}

// assign applies one assignment value (continuations already normalised).
func (s *syscallSet) assign(value string, table *syscalls.Table, isFilter bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		*s = syscallSet{}
		return
	}
	invert := false
	if value[0] == '~' {
		invert = true
		value = value[1:]
	}
	if !s.set {
		s.set = true
		s.allowList = !invert
		s.entries = make(map[string]string)
		if isFilter && s.allowList {
			s.apply("@default", "", false, table)
		}
	}
	for _, w := range splitWords(value) {
		name, errno := w, ""
		if i := strings.IndexByte(w, ':'); i >= 0 {
			name, errno = w[:i], normErrno(w[i+1:])
			if !isFilter {
				errno = ""
			}
		}
		if name == "" {
			continue
		}
		s.apply(name, errno, invert, table)
	}
}

func (s *syscallSet) apply(name, errno string, invert bool, table *syscalls.Table) {
	add := invert != s.allowList // allow-list & plain, or deny-list & "~"
	names := []string{name}
	if name[0] == '@' && table != nil && table.HasGroup(name) {
		names = table.Members(name)
	}
	for _, n := range names {
		if add {
			s.entries[n] = errno
		} else {
			delete(s.entries, n)
		}
	}
}

// list returns the sorted entries, each "name" or "name:ERRNO".
func (s *syscallSet) list() []string {
	if len(s.entries) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.entries))
	for n, e := range s.entries {
		if e != "" {
			n += ":" + e
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// normErrno spells an errno the way systemd's D-Bus API does ("EPERM"):
// numbers become names where known; unknown text is kept upper-cased.
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

// parseErrorNumber parses SystemCallErrorNumber=: "kill", an errno name or
// a number. ok is false for garbage (systemd ignores such lines).
func parseErrorNumber(s string) (v int32, ok bool) {
	s = strings.TrimSpace(s)
	if s == "kill" {
		return ErrorNumberKill, true
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n >= 4096 {
			return 0, false
		}
		return int32(n), true
	}
	if e, found := errnoValues()[strings.ToUpper(s)]; found {
		return e, true
	}
	return 0, false
}

// splitWords splits a word list (SystemCallFilter=, SystemCallLog=,
// SystemCallArchitectures=) the way systemd does for these keys: on
// whitespace, without unquoting.
func splitWords(s string) []string {
	return strings.Fields(s)
}

// errnoValues maps errno names ("EPERM") to numbers.
var errnoValues = sync.OnceValue(func() map[string]int32 {
	m := make(map[string]int32, 160)
	for n := 1; n < 200; n++ {
		if name := unix.ErrnoName(syscall.Errno(n)); name != "" {
			m[name] = int32(n)
		}
	}
	return m
})
