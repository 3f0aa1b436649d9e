package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/auditd"
)

// proc is the daemon run as a process of its own, its log in a file.
type proc struct {
	cmd    *exec.Cmd
	url    string
	output func() string
}

// startDaemon runs `seccompwatch run` (multicast, no D-Bus unless args say
// otherwise) and waits until /healthz answers 200.
func startDaemon(t *testing.T, args ...string) *proc {
	t.Helper()
	testutil.RequireRoot(t, "CAP_AUDIT_READ")
	port := freePort(t)
	// No host unit files (not these tests' subject: reading them took 10 s
	// of a -race build's start on a loaded host); args may say otherwise.
	all := append([]string{"run", "--web.listen-address=127.0.0.1:" + port, "--dbus.address=none", "--log.level=info", "--units.root=" + t.TempDir()}, args...)
	cmd := command(t, nil, all...)
	logf := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd.Stdout, cmd.Stderr = f, f
	p := &proc{cmd: cmd, url: "http://127.0.0.1:" + port, output: func() string { b, _ := os.ReadFile(logf); return string(b) }}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// A hang detector: a daemon that exits is seen at once.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if exited(cmd) {
			t.Fatalf("daemon exited before it was healthy:\n%s", p.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not healthy within 60s:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) health(t *testing.T) httpapi.Health {
	t.Helper()
	resp, err := http.Get(p.url + "/healthz")
	if err != nil {
		t.Fatalf("daemon gone: %v\n%s", err, p.output())
	}
	defer resp.Body.Close()
	var h httpapi.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// counter returns the value of the metric line named name (no labels).
func (p *proc) counter(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatalf("daemon gone: %v\n%s", err, p.output())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// stop ends the daemon by SIGTERM and wants a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, p.output())
	}
}

// smallTmpfs mounts a 64 KiB tmpfs of the test's own and unmounts it at
// the end.
func smallTmpfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes to dir until the file system is full and returns the file.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Also the last partial block.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	return name
}

// TestStateDirFaults runs the daemon with --state.dir on a full disk and on
// a read-only one: every failed save is logged and counted
// (seccompwatch_state_write_errors_total), /healthz says the state is
// degraded and why, the daemon stays up, and once the disk is writable
// again the next save succeeds.
func TestStateDirFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		why    string
		break_ func(t *testing.T, mnt string) (repair func())
	}{
		{"full", "no space left on device", func(t *testing.T, mnt string) func() {
			filler := fill(t, mnt)
			return func() { os.Remove(filler) }
		}},
		{"read-only", "read-only file system", func(t *testing.T, mnt string) func() {
			if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := unix.Mount("", mnt, "", unix.MS_REMOUNT, ""); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := smallTmpfs(t)
			stateDir := filepath.Join(mnt, "state")
			if err := os.Mkdir(stateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			repair := tc.break_(t, mnt)
			p := startDaemon(t, "--state.dir="+stateDir, "--state.save-interval=1s")
			deadline := time.Now().Add(15 * time.Second)
			for p.counter(t, "seccompwatch_state_write_errors_total") < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("failed saves not counted:\n%s", p.output())
				}
				time.Sleep(100 * time.Millisecond)
			}
			errs := p.counter(t, "seccompwatch_state_write_errors_total")
			h := p.health(t)
			if !h.Healthy || h.Checks["state"].Status != "degraded" || !strings.Contains(h.Checks["state"].Detail, tc.why) {
				t.Errorf("/healthz: %+v, want healthy with state degraded (%s)", h, tc.why)
			}
			if n := strings.Count(p.output(), "state not saved (kept in memory; retrying)"); n < 3 || !strings.Contains(p.output(), tc.why) {
				t.Errorf("%d failed saves logged, want ≥ 3 naming %q:\n%s", n, tc.why, p.output())
			}
			repair()
			deadline = time.Now().Add(10 * time.Second)
			for p.health(t).Checks["state"].Status != "ok" {
				if time.Now().After(deadline) {
					t.Fatalf("state still degraded after the disk was repaired:\n%s", p.output())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, err := os.Stat(filepath.Join(stateDir, "denials.json")); err != nil {
				t.Errorf("no state file after the repair: %v", err)
			}
			t.Logf("%s: %v failed saves counted and logged, daemon up, saved again after the repair", tc.name, errs)
			p.stop(t)
		})
	}
}

// TestUnicastReadOnlyStateDir: unicast cannot record the kernel audit
// state before changing it, so it changes nothing and says why.
func TestUnicastReadOnlyStateDir(t *testing.T) {
	before := hostAudit(t)
	mnt := smallTmpfs(t)
	if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	out, err := command(t, nil, "run", "--audit.mode=unicast", "--audit.backlog-limit=5555", "--web.listen-address=127.0.0.1:0",
		"--state.dir="+mnt, "--dbus.address=none", "--log.level=error").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "read-only file system") ||
		!strings.Contains(string(out), "cannot record the kernel audit state before changing it, so nothing was changed") {
		t.Fatalf("unicast on a read-only --state.dir: %v\n%s", err, out)
	}
	if after, err := auditstream.ReadAuditState(); err != nil || after != before {
		t.Fatalf("audit state %+v (%v), want %+v unchanged", after, err, before)
	}
}

// TestCorruptStateKeptAside starts the daemon on a damaged denials.json and
// on a damaged audit-state record: each is renamed NAME.corrupt-<time>, a
// warning names it, and the daemon starts.
func TestCorruptStateKeptAside(t *testing.T) {
	for _, tc := range []struct {
		file, content, warning string
	}{
		{"denials.json", `{"version":1,"units":[{"unit":"nginx.service","syscalls":[`, "state not restored: starting empty"},
		{"denials.json", "\x00\x00\x00\x00", "state not restored: starting empty"},
		{auditstream.AuditStateFile, `{"version":1,"pid":1234,"saved":{"enabled":0,"pid"`, "cannot be read, so it cannot be restored: check `auditctl -s`"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startDaemon(t, "--state.dir="+dir)
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("damaged %s not kept aside: %v", tc.file, aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != tc.content {
				t.Errorf("kept-aside file changed: %q", b)
			}
			out := p.output()
			if !strings.Contains(out, tc.warning) || !strings.Contains(out, "kept as "+aside[0]) || !strings.Contains(out, `"level":"warn"`) {
				t.Errorf("no clear warning naming %s:\n%s", aside[0], out)
			}
			if h := p.health(t); !h.Healthy {
				t.Errorf("daemon not healthy: %+v", h)
			}
			p.stop(t)
		})
	}
}

// TestUnicastRefusedBesideAuditd: with a real auditd holding the audit pid,
// `run --audit.mode=unicast` exits 1 with one line naming the holder, and
// changes nothing (no kernel setting, no audit-state record).
func TestUnicastRefusedBesideAuditd(t *testing.T) {
	before := hostAudit(t)
	a := auditd.Start(t, before)
	during, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stderr strings.Builder
	cmd := command(t, nil, "run", "--audit.mode=unicast", "--audit.backlog-limit=5555", "--web.listen-address=127.0.0.1:0",
		"--state.dir="+dir, "--dbus.address=none", "--log.level=error", "--log.format=console")
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	last := strings.TrimSpace(stderr.String())
	last = last[strings.LastIndexByte(last, '\n')+1:]
	want := "audit pid is held by pid " + strconv.Itoa(a.Cmd.Process.Pid) + " (auditd)"
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.HasPrefix(last, "seccompwatch run: ") || !strings.Contains(last, want) {
		t.Fatalf("unicast beside auditd: %v; last line %q, want one naming %q\n%s", err, last, want, stderr.String())
	}
	if now, err := auditstream.ReadAuditState(); err != nil || now != during {
		t.Errorf("refused unicast changed the kernel: %+v (%v), want %+v", now, err, during)
	}
	if _, err := os.Stat(filepath.Join(dir, auditstream.AuditStateFile)); !os.IsNotExist(err) {
		t.Errorf("refused unicast left an audit-state record: %v", err)
	}
	t.Logf("refusal: %s", last)
}
