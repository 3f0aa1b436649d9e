package syscalls

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// TestHostEqualsBundled runs the real systemd-analyze. On a host with
// systemd 252 (this project's machines) its table must be exactly the
// bundled 252 table, which was captured from it.
func TestHostEqualsBundled(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testutil.Unavailable(t, "systemd-analyze not installed (scripts/setup.sh installs systemd)")
	}
	host, err := Host(context.Background())
	if err != nil {
		t.Fatalf("Host: %v", err)
	}
	if host.Source != "host systemd-analyze (systemd "+host.Version+")" {
		t.Errorf("Source = %q", host.Source)
	}
	bundled, ok := Bundled(host.Version)
	if !ok {
		t.Skipf("host systemd %s is not bundled (bundled: %v)", host.Version, BundledVersions())
	}
	if !slices.Equal(host.GroupNames(), bundled.GroupNames()) {
		t.Fatalf("groups: host %v, bundled %v", host.GroupNames(), bundled.GroupNames())
	}
	for _, g := range host.GroupNames() {
		if !slices.Equal(host.Members(g), bundled.Members(g)) {
			t.Errorf("%s: host %v, bundled %v", g, host.Members(g), bundled.Members(g))
		}
		if host.Description(g) != bundled.Description(g) {
			t.Errorf("%s: description host %q, bundled %q", g, host.Description(g), bundled.Description(g))
		}
	}
}

func fakeAnalyze(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "systemd-analyze")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHostFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bin  func(t *testing.T) string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }},
		{"fails", func(t *testing.T) string { return fakeAnalyze(t, "echo boom >&2; exit 1\n") }},
		{"bad version", func(t *testing.T) string { return fakeAnalyze(t, "echo hello\n") }},
		{"filter fails", func(t *testing.T) string {
			return fakeAnalyze(t, "[ \"$1\" = --version ] && { echo 'systemd 260 (260.1)'; exit 0; }\nexit 3\n")
		}},
		{"garbage output", func(t *testing.T) string {
			return fakeAnalyze(t, "[ \"$1\" = --version ] && { echo 'systemd 260 (260.1)'; exit 0; }\necho 'not a table'\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tab, err := hostWith(context.Background(), tc.bin(t))
			if !errors.Is(err, ErrNoHost) {
				t.Errorf("hostWith = %v, %v; want ErrNoHost", tab, err)
			}
		})
	}
}

func TestHostFake(t *testing.T) {
	t.Parallel()
	bin := fakeAnalyze(t, "[ \"$1\" = --version ] && { printf 'systemd 260 (260.1-1)\\n+PAM\\n'; exit 0; }\n"+
		"[ \"$1 $2\" = '--no-pager syscall-filter' ] || exit 9\nprintf '@mount\\n    # Mounting\\n    mount\\n'\n")
	tab, err := hostWith(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Version != "260" || tab.Source != "host systemd-analyze (systemd 260)" || !tab.InGroup("mount", "@mount") {
		t.Errorf("got %q %q %v", tab.Version, tab.Source, tab.GroupNames())
	}
}

func TestHostContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hostWith(ctx, fakeAnalyze(t, "sleep 5\n")); !errors.Is(err, ErrNoHost) {
		t.Errorf("canceled: err = %v; want ErrNoHost", err)
	}
}
