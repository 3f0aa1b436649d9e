package suggest

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/unit"
)

// parseUnit parses a drop-in with go-systemd's unit parser.
func parseUnit(text string) ([]*unit.UnitOption, error) {
	return unit.DeserializeOptions(strings.NewReader(text))
}

// checkLines enforces the line-level invariants of rendered text: valid
// UTF-8, printable, no line ending in a backslash (a systemd continuation),
// no line longer than go-systemd's limit, and every line a comment, the
// [Service] header or a SystemCallFilter=/SystemCallArchitectures= line.
func checkLines(t testing.TB, text string) {
	t.Helper()
	if !utf8.ValidString(text) {
		t.Errorf("output is not valid UTF-8")
	}
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("output does not end in a newline")
	}
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		for _, r := range l {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Errorf("line %d has non-printable %U: %q", i+1, r, l)
			}
		}
		if strings.HasSuffix(l, `\`) || strings.HasSuffix(l, " ") {
			t.Errorf("line %d ends in a backslash or space: %q", i+1, l)
		}
		if len(l) >= 2048 {
			t.Errorf("line %d is %d bytes long", i+1, len(l))
		}
		switch {
		case l == "#", strings.HasPrefix(l, "# "), l == "[Service]":
		case strings.HasPrefix(l, "SystemCallFilter="), strings.HasPrefix(l, "SystemCallArchitectures="):
		default:
			t.Errorf("line %d is neither a comment nor one of our directives: %q", i+1, l)
		}
	}
}
