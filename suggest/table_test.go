package suggest

import (
	"testing"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// testTable returns the bundled systemd 252 table: tests and golden files
// pin it so that they pass on any host, whatever its systemd.
func testTable(tb testing.TB) *syscalls.Table {
	tb.Helper()
	t, ok := syscalls.Bundled("252")
	if !ok {
		tb.Fatal(`syscalls.Bundled("252") is missing`)
	}
	return t
}

func TestPinnedTable(t *testing.T) {
	tb := testTable(t)
	for _, c := range []struct {
		syscall, group string
		in             bool
	}{
		{"mount", "@mount", true},
		{"mount", "@system-service", false},
		{"socket", "@system-service", true},
		{"chown", "@privileged", true},
		{"chown", "@system-service", true},
	} {
		if got := tb.InGroup(c.syscall, c.group); got != c.in {
			t.Errorf("InGroup(%s, %s) = %v, want %v", c.syscall, c.group, got, c.in)
		}
	}
	t.Logf("table source: %q", tb.Source)
}
