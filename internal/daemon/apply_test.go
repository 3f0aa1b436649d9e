package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil/nspawn"
)

// waitSubscribed waits until src is bound to the audit stream: a denial
// made before that is never seen (a fixed 200 ms sleep stood here, which
// a loaded host outlasts).
func waitSubscribed(t *testing.T, src *auditstream.Source, done chan error) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !src.Stats().Connected; time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("audit source stopped at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("audit source not subscribed within 15s")
		}
	}
}

// applyUnits are the units of TestContainerApply: name → settings; each
// runs /usr/local/bin/calls-NAME with the calls of applyCalls.
var applyUnits = map[string]string{
	// kill, one call outside @system-service (not risky)
	"kill": "SystemCallFilter=@system-service",
	// a directive's denial (errno; SYSTEMD_LOG_SECCOMP=1 makes it seen)
	"mdwe": "MemoryDenyWriteExecute=yes",
	// a deliberate "~" removal from the allow-list
	"removed": "SystemCallFilter=@system-service\nSystemCallFilter=~fchmodat",
	// a drop-in systemd has not loaded yet resets the filter after ours
	"override": "SystemCallFilter=@system-service",
}

var applyCalls = map[string]string{"kill": "pkey_alloc", "mdwe": "mmap", "removed": "fchmodat", "override": "pkey_alloc"}

// TestContainerApply: seccompwatch apply against a real systemd 252
// (nspawn) and the daemon on the host, which serves the suggestions on its
// unix socket. Each unit is denied for real (records read back over
// netlink); then apply: without a terminal and without --yes it is a dry
// run; with --yes --restart the killed unit runs clean (no new record);
// again it changes nothing; a directive's change needs --allow; a "~"
// removal is held back; a later drop-in that systemd loads on apply's
// reload is caught by the property check; --revert removes exactly the
// file and the directory it made; a unit whose configuration is unknown is
// refused; hostile data from a fake server never reaches a file.
func TestContainerApply(t *testing.T) {
	requireRoot(t)
	work := t.TempDir()
	bin, callsBin := buildTestBinaries(t)
	files := map[string]string{}
	for name, settings := range applyUnits {
		files["/etc/systemd/system/"+name+".service"] = fmt.Sprintf("[Service]\nType=oneshot\nEnvironment=CALLS_OUT=/var/tmp/calls-%s.out\nExecStart=/usr/local/bin/calls-%s %s\n%s\n",
			name, name, applyCalls[name], settings)
		files["/usr/local/bin/calls-"+name] = string(callsBin)
	}
	c := nspawn.Boot(t, nspawn.Options{Files: files, Env: []string{"SYSTEMD_LOG_SECCOMP=1"}, SystemCallFilter: []string{"pkey_alloc", "mmap", "fchmodat"}})
	for name := range applyUnits {
		if err := os.Chmod(filepath.Join(c.Root, "usr/local/bin/calls-"+name), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	perExe := map[string]int{}
	src, err := auditstream.NewSource(auditstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	srcDone := make(chan error, 1)
	bar := newBarrier(src)
	go func() {
		srcDone <- src.Run(sctx, func(rec auditstream.Record, _ []byte) {
			bar.note(rec)
			if strings.HasPrefix(rec.Exe, "/usr/local/bin/calls-") {
				mu.Lock()
				perExe[strings.TrimPrefix(rec.Exe, "/usr/local/bin/calls-")]++
				mu.Unlock()
			}
		})
	}()
	defer func() { scancel(); <-srcDone }()
	waitSubscribed(t, src, srcDone)
	records := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return perExe[name]
	}

	sock := filepath.Join(t.TempDir(), "api.sock")
	r := start(t, Config{UnixSocket: sock})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for name := range applyUnits {
		_, _ = c.Run(ctx, "systemctl", "start", name+".service") // denied: fails
	}
	for name := range applyUnits {
		unit := name + ".service"
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(r.get(t, "/api/v1/suggestions/"+unit+"?format=json&machine="+c.Machine), applyCalls[name]) {
			if time.Now().After(deadline) {
				t.Fatalf("the daemon has no suggestion for %s (records %d)", unit, records(name))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("unix socket: %v %v", fi, err)
	}

	// --machine alone: apply finds the container's root and bus through
	// its leader.
	target := []string{"--systemd.table=252", "--machine", c.Machine, "--daemon.socket", sock}
	apply := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(append([]string{"apply"}, target...), args...)...)
		cmd.Stdin = nil // not a terminal
		out, err := cmd.CombinedOutput()
		t.Logf("apply %s:\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	dropin := func(name string) string {
		return filepath.Join(c.Root, "etc/systemd/system", name+".service.d", "50-seccompwatch.conf")
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("kill", func(t *testing.T) {
		out, err := apply("kill")
		if err != nil || !strings.Contains(out, "dry run") || !strings.Contains(out, "+SystemCallFilter=pkey_alloc") {
			t.Fatalf("dry run: %v\n%s", err, out)
		}
		if read(dropin("kill")) != "" {
			t.Fatal("the dry run wrote the drop-in")
		}
		before := records("kill")
		_ = os.Remove(filepath.Join(c.Root, "var/tmp/calls-kill.out"))
		out, err = apply("--yes", "--restart", "kill")
		if err != nil || !strings.Contains(out, "result success") {
			t.Fatalf("apply --yes --restart: %v\n%s", err, out)
		}
		content := read(dropin("kill"))
		if !strings.Contains(content, "\n[Service]\n") || !strings.Contains(content, "\nSystemCallFilter=pkey_alloc\n") {
			t.Fatalf("drop-in:\n%s", content)
		}
		if fi, err := os.Stat(dropin("kill")); err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("drop-in mode: %v %v", fi, err)
		}
		// The unit's own file is never touched.
		if got, want := read(filepath.Join(c.Root, "etc/systemd/system/kill.service")), files["/etc/systemd/system/kill.service"]; got != want {
			t.Errorf("apply changed the unit file:\n%s\nwant\n%s", got, want)
		}
		bar.wait(t) // every record made so far has been read
		if n := records("kill") - before; n != 0 {
			t.Errorf("%d new records after apply", n)
		}
		if got := read(filepath.Join(c.Root, "var/tmp/calls-kill.out")); got != "pkey_alloc ok\n" {
			t.Errorf("the unit did not run to its end: %q", got)
		}
		// Idempotent: nothing new, the file stays as it is.
		out, err = apply("--yes", "kill")
		if err != nil || !strings.Contains(out, "nothing to do") || read(dropin("kill")) != content {
			t.Errorf("second apply: %v\n%s", err, out)
		}
		// --revert removes the file and the directory apply made.
		out, err = apply("--revert", "kill")
		if err != nil || !strings.Contains(out, "removed") {
			t.Fatalf("revert: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Dir(dropin("kill"))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the drop-in directory is left: %v", err)
		}
		if out, _ := c.Run(ctx, "systemctl", "show", "-p", "DropInPaths", "kill.service"); strings.Contains(string(out), "50-seccompwatch") {
			t.Errorf("systemd still has the drop-in: %s", out)
		}
		out, err = apply("--revert", "kill")
		if err != nil || !strings.Contains(out, "nothing to revert") {
			t.Errorf("second revert: %v\n%s", err, out)
		}
	})

	t.Run("machine", func(t *testing.T) {
		// Without --machine the host has no kill.service: apply names the
		// machine whose unit it is, writes nothing.
		out, err := exec.CommandContext(ctx, bin, "apply", "--systemd.table=252", "--daemon.socket", sock, "--yes", "mdwe").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "apply --machine "+c.Machine+" mdwe.service") || read(dropin("mdwe")) != "" {
			t.Errorf("without --machine: %v\n%s", err, out)
		}
		for _, args := range [][]string{
			{"--machine", "no-such-machine", "mdwe"},                                                      // not running here
			{"--machine", c.Machine, "--root", c.Root, "mdwe"},                                            // --root without its bus
			{"--machine", c.Machine, "--root", "/proc/self/root", "--dbus.address", c.BusAddress, "mdwe"}, // the host's own root
		} {
			cmd := exec.CommandContext(ctx, bin, append([]string{"apply", "--systemd.table=252", "--daemon.socket", sock, "--yes"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil || read(dropin("mdwe")) != "" {
				t.Errorf("apply %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			t.Logf("apply %s: %s", strings.Join(args, " "), out)
		}
	})

	t.Run("directive", func(t *testing.T) {
		out, err := apply("--yes", "mdwe")
		if err == nil || !strings.Contains(out, "needs --allow MemoryDenyWriteExecute") || read(dropin("mdwe")) != "" {
			t.Fatalf("without --allow: %v\n%s", err, out)
		}
		before := records("mdwe")
		out, err = apply("--yes", "--restart", "--allow", "MemoryDenyWriteExecute", "mdwe")
		if err != nil || !strings.Contains(read(dropin("mdwe")), "\nMemoryDenyWriteExecute=no\n") {
			t.Fatalf("with --allow: %v\n%s", err, out)
		}
		bar.wait(t)
		if n := records("mdwe") - before; n != 0 {
			t.Errorf("%d new records after apply", n)
		}
	})

	t.Run("removal", func(t *testing.T) {
		out, err := apply("--yes", "--allow-risky", "removed")
		if err == nil || !strings.Contains(out, "held back") || !strings.Contains(out, "--allow fchmodat") || read(dropin("removed")) != "" {
			t.Fatalf("a ~ removal was not held back: %v\n%s", err, out)
		}
	})

	t.Run("later drop-in", func(t *testing.T) {
		// On disk, not yet loaded: the daemon's suggestion cannot know it;
		// apply's reload loads it and the property check catches it.
		later := filepath.Join(c.Root, "etc/systemd/system/override.service.d/90-later.conf")
		if err := c.WriteFile("/etc/systemd/system/override.service.d/90-later.conf", "[Service]\nSystemCallFilter=\nSystemCallFilter=@system-service\n"); err != nil {
			t.Fatal(err)
		}
		out, err := apply("--yes", "override")
		if err == nil || !strings.Contains(out, "SystemCallFilter still denies pkey_alloc") || !strings.Contains(out, "/etc/systemd/system/override.service.d/90-later.conf") {
			t.Fatalf("the override was not caught: %v\n%s", err, out)
		}
		_ = os.Remove(later)
		if _, err := apply("--revert", "override"); err != nil {
			t.Error(err)
		}
	})

	t.Run("unknown configuration", func(t *testing.T) {
		// Records of a unit no unit file under --root describes.
		log := filepath.Join(work, "ghost.log")
		line := `type=SECCOMP msg=audit(1700000000.000:1): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=4242 comm="ghost" exe="/usr/bin/ghost" sig=31 arch=c000003e syscall=330 compat=0 ip=0x0 code=0x80000000` + "\n"
		if err := os.WriteFile(log, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		empty := t.TempDir()
		out, err := exec.CommandContext(ctx, bin, "apply", "--systemd.table=252", "--replay", log, "--replay.attribute-all", "--root", empty, "--dbus.address", c.BusAddress, "--yes", "ghost.service").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "configuration is unknown") {
			t.Fatalf("unknown configuration: %v\n%s", err, out)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("something was written below --root: %v", entries)
		}
	})

	t.Run("hostile data", func(t *testing.T) {
		// A fake daemon on a trusted socket path (root's) that answers
		// with a syscall name carrying a newline and a directive.
		before := read(dropin("kill"))
		fake := filepath.Join(t.TempDir(), "fake.sock")
		ln, err := net.Listen("unix", fake)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"version":1,"suggestions":[{"unit":"kill.service","machine":%q,"user_uid":null,"applicable":true,"mode":"allow-list","lines":[{"directive":"SystemCallFilter=pkey_alloc\nExecStartPre=/bin/touch /pwned","syscalls":["pkey_alloc\nExecStartPre=/bin/touch /pwned"],"included":true,"verdict":{"kind":"filter"}}]}]}`, c.Machine)
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		cmd := exec.CommandContext(ctx, bin, "apply", "--systemd.table=252", "--machine", c.Machine, "--root", c.Root, "--dbus.address", c.BusAddress, "--daemon.socket", fake, "--yes", "kill")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err == nil || !strings.Contains(buf.String(), "invalid suggestion data") {
			t.Fatalf("hostile data accepted: %v\n%s", err, buf.String())
		}
		if after := read(dropin("kill")); after != before || strings.Contains(after, "ExecStartPre") {
			t.Fatalf("the drop-in changed:\n%s", after)
		}
		if _, err := os.Stat(filepath.Join(c.Root, "pwned")); err == nil {
			t.Fatal("the injected command ran")
		}
	})
}
