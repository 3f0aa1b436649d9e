// Package testutil holds what the project's privileged tests share: how a
// test that cannot run here says so. Outside CI such a test is skipped with
// its reason; under CI=true (CI runs as root, with everything installed by
// scripts/setup.sh) it fails instead, so that a test never vanishes from CI
// silently because the machine changed.
package testutil

import (
	"os"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true in the environment).
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable ends the test because something it needs is missing: it
// skips with reason outside CI and fails with reason under CI=true.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("cannot run under CI=true: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot ends the test (see Unavailable) unless it runs as root; why
// says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root: "+why)
	}
}
