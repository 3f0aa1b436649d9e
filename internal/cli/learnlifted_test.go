package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// TestLiftedByApply: the directives apply's own drop-in turned off are
// found with the denial they lift; a file edited since apply wrote it
// (or none) gives nothing.
func TestLiftedByApply(t *testing.T) {
	tb, ok := syscalls.Bundled("252")
	if !ok {
		t.Fatal("no bundled 252 table")
	}
	root := t.TempDir()
	path, err := apply.Path(root, "chrony.service", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := liftedByApply(root, "chrony.service", tb); len(got) != 0 {
		t.Fatalf("no drop-in: %v", got)
	}
	f := apply.File{Unit: "chrony.service", Items: []apply.Item{
		{Key: "SystemCallFilter", Values: []string{"clock_adjtime"}, Calls: []string{"clock_adjtime"}, Kind: "filter"},
		{Key: "ProtectClock", Values: []string{"no"}, Calls: []string{"clock_adjtime"}, Kind: "directive"},
	}}
	content := f.Render("test")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got := liftedByApply(root, "chrony.service", tb)
	if len(got) != 1 || !strings.Contains(got["ProtectClock"], "to lift a denial of clock_adjtime") ||
		!strings.Contains(got["ProtectClock"], "/etc/systemd/system/chrony.service.d/50-seccompwatch.conf") {
		t.Fatalf("lifted %v", got)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(content, "ProtectClock=no", "ProtectKernelLogs=no", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := liftedByApply(root, "chrony.service", tb); len(got) != 0 {
		t.Fatalf("an edited drop-in is not apply's: %v", got)
	}
}
