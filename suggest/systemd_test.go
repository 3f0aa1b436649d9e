package suggest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// TestSystemdParsesDropin has the host's real systemd parser
// (`systemd-analyze verify`) load rendered drop-ins, hostile values
// included: it must load them and complain about nothing in them. A
// planted unknown key proves that the check sees complaints.
func TestSystemdParsesDropin(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testutil.Unavailable(t, "systemd-analyze not installed (scripts/setup.sh installs systemd)")
	}
	for _, gc := range goldenCases() {
		for _, plant := range []bool{false, true} {
			s := gc.suggestion(t)
			s.Applicable, s.Unit = true, "demo.service"
			var buf bytes.Buffer
			if err := RenderDropin(&buf, s); err != nil {
				t.Fatal(err)
			}
			if plant {
				buf.WriteString("PlantedUnknownKey=1\n")
			}
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "demo.service.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			unitText := "[Service]\nExecStart=/bin/true\nSystemCallFilter=read\n"
			if err := os.WriteFile(filepath.Join(dir, "demo.service"), []byte(unitText), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "demo.service.d", DropinName), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, "demo.service"))
			cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=debug")
			out, _ := cmd.CombinedOutput()
			var complaints []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, DropinName+":") {
					complaints = append(complaints, l)
				}
			}
			if !strings.Contains(string(out), "DropIn Path: "+filepath.Join(dir, "demo.service.d", DropinName)) {
				t.Errorf("%s: systemd did not load the drop-in:\n%s", gc.name, out)
			}
			if plant != (len(complaints) == 1) || plant && !strings.Contains(complaints[0], "PlantedUnknownKey") {
				t.Errorf("%s (planted %v): systemd complained %q about:\n%s", gc.name, plant, complaints, buf.String())
			}
		}
	}
}
