package unitprops

import (
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

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

// errorNumberName spells a SystemCallErrorNumber= value as the sandbox
// model does: "" for kill (as when unset), or the errno's name ("EPERM"),
// or its number.
func errorNumberName(v int32) string {
	if v == ErrorNumberKill {
		return ""
	}
	if name := unix.ErrnoName(syscall.Errno(v)); name != "" {
		return name
	}
	return strconv.Itoa(int(v))
}
