package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUnavailable runs a test that calls Unavailable in a child, with and
// without CI=true: skipped outside CI, failed under it.
func TestUnavailable(t *testing.T) {
	if os.Getenv("TESTUTIL_CHILD") == "1" {
		Unavailable(t, "the widget is missing")
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"true", true}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnavailable$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTUTIL_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		if failed != tc.wantFail || !strings.Contains(string(out), "the widget is missing") {
			t.Errorf("CI=%q: failed=%v, want %v:\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if !tc.wantFail && !strings.Contains(string(out), "--- SKIP") {
			t.Errorf("CI=%q: not skipped:\n%s", tc.ci, out)
		}
	}
}
