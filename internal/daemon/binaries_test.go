package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// testBinaries are the static programs the container tests need, built
// once per test binary: the calls helper (internal/testutil/calls) and the
// seccompwatch CLI.
var testBinaries struct {
	once  sync.Once
	dir   string
	calls []byte
	err   error
}

// buildTestBinaries returns the path of the seccompwatch binary and the
// content of the calls helper (for a container's file system).
func buildTestBinaries(t *testing.T) (cli string, calls []byte) {
	t.Helper()
	b := &testBinaries
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "seccompwatch-testbin.")
		if b.err != nil {
			return
		}
		for out, pkg := range map[string]string{
			"calls":        "github.com/seccompwatch/seccompwatch/internal/testutil/calls",
			"seccompwatch": "github.com/seccompwatch/seccompwatch/cmd/seccompwatch",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(b.dir, out), pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.err = &buildError{pkg: pkg, out: string(out), err: err}
				return
			}
		}
		b.calls, b.err = os.ReadFile(filepath.Join(b.dir, "calls"))
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return filepath.Join(b.dir, "seccompwatch"), b.calls
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }
