package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/learndropin"
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
	leftover := learndropin.Content("crashed.service", deadLearn(t))
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

// deadLearn names a learn process that is gone (a child that ran and was
// reaped), as the owner line of a crashed learn's drop-in does.
func deadLearn(t *testing.T) learndropin.Owner {
	t.Helper()
	self, err := learndropin.Self()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return learndropin.Owner{PID: cmd.Process.Pid, Start: 1, Boot: self.Boot}
}

// TestContainerLearnCleanup: a daemon start on a real systemd 252 (nspawn)
// removes the learning drop-in a killed learn left, reloads systemd (the
// unit no longer lists it), and logs it; the drop-in of a learn that still
// runs and a hand-edited file with the marker stay. seccompwatch
// learn-cleanup (the shipped unit's ExecStartPre=+) does the same.
func TestContainerLearnCleanup(t *testing.T) {
	requireRoot(t)
	bin, _ := buildTestBinaries(t)
	c := nspawn.Boot(t, nspawn.Options{Files: map[string]string{
		"/etc/systemd/system/crashed.service": "[Service]\nType=oneshot\nExecStart=/bin/true\nSystemCallFilter=@system-service\n",
		"/etc/systemd/system/running.service": "[Service]\nType=oneshot\nExecStart=/bin/true\nSystemCallFilter=@system-service\n",
		"/etc/systemd/system/edited.service":  "[Service]\nType=oneshot\nExecStart=/bin/true\nSystemCallFilter=@system-service\n",
	}})
	self, err := learndropin.Self()
	if err != nil {
		t.Fatal(err)
	}
	dropIn := func(unit string) string {
		return filepath.Join(c.Root, "run/systemd/system", unit+".d/zz-seccompwatch-learn.conf")
	}
	write := func(unit, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(dropIn(unit)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dropIn(unit), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// /run is the booted container's tmpfs: the files go there now.
	write("crashed.service", learndropin.Content("crashed.service", deadLearn(t)))
	write("running.service", learndropin.Content("running.service", self))
	write("edited.service", learndropin.Content("edited.service", deadLearn(t))+"Nice=5\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dropIns := func(unit string) string {
		t.Helper()
		o, err := c.Run(ctx, "systemctl", "show", "-p", "DropInPaths", unit)
		if err != nil {
			t.Fatalf("systemctl show %s: %v %s", unit, err, o)
		}
		return string(o)
	}
	if o, err := c.Run(ctx, "systemctl", "daemon-reload"); err != nil {
		t.Fatalf("daemon-reload: %v %s", err, o)
	}
	// systemd has the leftover in force: the check below can fail.
	if !strings.Contains(dropIns("crashed.service"), "zz-seccompwatch-learn.conf") {
		t.Fatalf("systemd did not load the leftover: %s", dropIns("crashed.service"))
	}

	cmd := exec.CommandContext(ctx, bin, "run", "--web.listen-address=127.0.0.1:0", "--state.dir=", "--systemd.table=252",
		"--units.root="+c.Root, "--dbus.address="+c.BusAddress, "--log.format=json", "--attribution.no-bpf")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var logged []map[string]any
	var lines []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			logged = append(logged, m)
		}
		if m["msg"] == "listening" {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		t.Errorf("daemon: %v", err)
	}
	t.Logf("daemon's log:\n%s", strings.Join(lines, "\n"))
	var removedLine, keptLine, reloadLine bool
	for _, m := range logged {
		msg, _ := m["msg"].(string)
		switch {
		case strings.HasPrefix(msg, "removed a learning drop-in a crashed seccompwatch learn left"):
			removedLine = m["unit"] == "crashed.service" && m["file"] == dropIn("crashed.service")
		case strings.HasPrefix(msg, "a learning drop-in of a running seccompwatch learn is kept"):
			keptLine = m["unit"] == "running.service"
		case msg == "systemd reloaded after removing learning drop-ins":
			reloadLine = m["removed"] == float64(1)
		}
	}
	if !removedLine || !keptLine || !reloadLine {
		t.Errorf("log lines: removed %v, kept %v, reloaded %v", removedLine, keptLine, reloadLine)
	}
	if _, err := os.Stat(dropIn("crashed.service")); err == nil {
		t.Error("the leftover is still there")
	}
	if _, err := os.Stat(filepath.Dir(dropIn("crashed.service"))); err == nil {
		t.Error("the leftover's empty directory is still there")
	}
	if o := dropIns("crashed.service"); strings.Contains(o, "seccompwatch-learn") {
		t.Errorf("systemd still has the leftover: %s", o)
	}
	for _, unit := range []string{"running.service", "edited.service"} {
		if _, err := os.Stat(dropIn(unit)); err != nil {
			t.Errorf("%s's drop-in was removed: %v", unit, err)
		}
	}

	// learn-cleanup: the running learn's file becomes a leftover.
	write("running.service", learndropin.Content("running.service", deadLearn(t)))
	out, err := exec.CommandContext(ctx, bin, "learn-cleanup", "--root", c.Root, "--dbus.address", c.BusAddress).CombinedOutput()
	t.Logf("learn-cleanup:\n%s", out)
	if err != nil {
		t.Fatalf("learn-cleanup: %v", err)
	}
	if !strings.Contains(string(out), "removed "+dropIn("running.service")) || !strings.Contains(string(out), "systemd reloaded") {
		t.Error("learn-cleanup did not say what it removed and that it reloaded")
	}
	if _, err := os.Stat(dropIn("running.service")); err == nil {
		t.Error("learn-cleanup left the leftover")
	}
	if _, err := os.Stat(dropIn("edited.service")); err != nil {
		t.Errorf("learn-cleanup removed the edited file: %v", err)
	}
	out, err = exec.CommandContext(ctx, bin, "learn-cleanup", "--root", c.Root, "--dbus.address", c.BusAddress).CombinedOutput()
	if err != nil || strings.Contains(string(out), "removed") || strings.Contains(string(out), "reloaded") {
		t.Errorf("a second learn-cleanup: %v %s", err, out)
	}
}
