package daemon

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil/nspawn"
)

// TestContainerLearn: seccompwatch learn on a real systemd 252 (nspawn) for
// a unit whose filter (@system-service, kill) is too tight for its
// pkey_alloc call: the learning drop-in resets the filter and logs the
// calls outside @system-service, the unit runs, learn proposes
// @system-service plus pkey_alloc, and removes its drop-in. A learning
// drop-in an earlier learn left is removed first; SIGTERM during learning
// restores the unit too.
func TestContainerLearn(t *testing.T) {
	requireRoot(t)
	bin, callsBin := buildTestBinaries(t)
	leftover := learnMarkerForTest + "\n[Service]\nSystemCallFilter=\n"
	c := nspawn.Boot(t, nspawn.Options{Files: map[string]string{
		"/etc/systemd/system/learner.service":                "[Service]\nType=oneshot\nExecStart=/usr/local/bin/calls-learner pkey_alloc sleep\nSystemCallFilter=@system-service\n",
		"/usr/local/bin/calls-learner":                       string(callsBin),
		"/etc/systemd/system/learner.service.d/10-hand.conf": "[Service]\nEnvironment=HAND=1\n",
	}, SystemCallFilter: []string{"pkey_alloc"}})
	if err := os.Chmod(filepath.Join(c.Root, "usr/local/bin/calls-learner"), 0o755); err != nil {
		t.Fatal(err)
	}
	// /run is the booted container's tmpfs: a leftover goes there now.
	crashed := filepath.Join(c.Root, "run/systemd/system/crashed.service.d/zz-seccompwatch-learn.conf")
	if err := os.MkdirAll(filepath.Dir(crashed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crashed, []byte(leftover), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	target := []string{"learn", "--method", "log", "--systemd.table=252", "--machine", c.Machine, "--root", c.Root, "--dbus.address", c.BusAddress}
	learnDropin := filepath.Join(c.Root, "run/systemd/system/learner.service.d/zz-seccompwatch-learn.conf")

	out, err := exec.CommandContext(ctx, bin, append(target, "--for", "3s", "learner")...).CombinedOutput()
	t.Logf("learn:\n%s", out)
	if err != nil {
		t.Fatalf("learn: %v", err)
	}
	for _, want := range []string{
		"removed a learning drop-in an earlier learn left",
		"SystemCallLog=~@system-service",
		"SystemCallFilter=@system-service\n# pkey_alloc: 1 call",
		"\nSystemCallFilter=pkey_alloc\n",
		"restored learner.service",
		"exposure: before ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("learn's output lacks %q", want)
		}
	}
	if _, err := os.Stat(crashed); err == nil {
		t.Error("the leftover learning drop-in is still there")
	}
	if _, err := os.Stat(learnDropin); err == nil {
		t.Error("the learning drop-in is still there")
	}
	if o, _ := c.Run(ctx, "systemctl", "show", "-p", "DropInPaths", "-p", "SystemCallLog", "learner.service"); strings.Contains(string(o), "seccompwatch-learn") || !strings.Contains(string(o), "SystemCallLog=~\n") {
		t.Errorf("systemd still has the learning drop-in:\n%s", o)
	}

	// SIGTERM while learning: the unit is restored all the same.
	cmd := exec.CommandContext(ctx, bin, append(target, "--for", "2m", "learner")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "restarted learner.service") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	werr := cmd.Wait()
	t.Logf("learn, SIGTERM:\n%s", strings.Join(lines, "\n"))
	text := strings.Join(lines, "\n")
	if werr != nil || !strings.Contains(text, "interrupted by a signal") || !strings.Contains(text, "restored learner.service") {
		t.Errorf("after SIGTERM: %v", werr)
	}
	if _, err := os.Stat(learnDropin); err == nil {
		t.Error("the learning drop-in is still there after SIGTERM")
	}
}

// learnMarkerForTest is internal/cli's learnMarker (a test here cannot
// import cli).
const learnMarkerForTest = "# seccompwatch-learn v1: temporary; removed when learn ends"
