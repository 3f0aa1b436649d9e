package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/vm"
)

// buildUnitsTest builds internal/units' test binary (static) into dir.
func buildUnitsTest(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "units.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-trimpath", "-o", bin, "./internal/units")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c ./internal/units: %v\n%s", err, out)
	}
	return bin
}

// TestVMLegacyCgroups boots the VM a second time on a legacy cgroup v1
// host (the kernel command line asks systemd for it) and runs
// legacy/*.sh there: the project's machines are hybrid, the VM's default
// is pure cgroup2, and attribution must work on all three.
func TestVMLegacyCgroups(t *testing.T) {
	if err := vm.Available(); err != nil {
		testutil.Unavailable(t, "vm: "+err.Error())
	}
	if testing.Short() && !testutil.InCI() {
		t.Skip("the VM suite takes minutes: skipped with -short only (make test and CI never pass -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img, err := vm.EnsureImage(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	unitsTest := buildUnitsTest(ctx, t, work)
	scenarios, err := filepath.Glob("legacy/*.sh")
	if err != nil || len(scenarios) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	rep, err := vm.RunBatch(ctx, img, filepath.Join(work, "share"), vm.Batch{
		Scenarios:       scenarios,
		ScenarioTimeout: 3 * time.Minute,
		Files:           map[string]string{"lib.sh": "lib.sh", "bin/units.test": unitsTest},
		Boot:            vm.Options{Cmdline: []string{"systemd.unified_cgroup_hierarchy=0", "systemd.legacy_systemd_cgroup_controller=1"}},
	})
	if err != nil {
		t.Fatalf("vm: %v\nconsole (tail):\n%s\nthe guest kernel's first report of trouble:\n%s", err, rep.ConsoleTail(60), rep.KernelTrouble(80))
	}
	for _, r := range rep.Results {
		t.Run(r.Name, func(t *testing.T) {
			if !r.Ran {
				t.Fatalf("did not finish (the machine stopped first)\n%s", r.Log)
			}
			t.Logf("%s in %s", r.Name, r.Duration)
			if r.ExitCode != 0 {
				t.Errorf("exit %d\n%s", r.ExitCode, strings.TrimSpace(r.Log))
			} else if testing.Verbose() {
				t.Logf("%s", strings.TrimSpace(r.Log))
			}
		})
	}
}
