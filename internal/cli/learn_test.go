package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// learnPrograms counts the learn programs in the kernel's listing.
func learnPrograms(t *testing.T) int {
	t.Helper()
	n := 0
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return n
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && info.Name == "sw_learn" {
			n++
		}
		p.Close()
	}
}

// TestLearnBPF: learn watches a shell loop in a unit-shaped cgroup (no
// systemd: --cgroup and unit files under --root), proposes a sandbox from
// what it did, scores it with systemd-analyze, and leaves no program
// behind.
func TestLearnBPF(t *testing.T) {
	testutil.RequireRoot(t, "loads an eBPF program")
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testutil.Unavailable(t, "needs systemd-analyze")
	}
	mount, err := observe.Cgroup2Mount()
	if err != nil {
		testutil.Unavailable(t, err.Error())
	}
	dirs, remove, err := denier.UnitCgroups(fmt.Sprintf("swlearncli-%d.slice", os.Getpid()), "loop.service")
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	var cg string
	for _, d := range dirs {
		if strings.HasPrefix(d, mount+"/") {
			cg = d
		}
	}
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitDir, "loop.service"), []byte("[Service]\nExecStart=/bin/sh -c 'while :; do ls /; sleep 0.01; done'\nMemoryDenyWriteExecute=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(cg, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	loop := exec.Command("/bin/sh", "-c", "while :; do ls / >/dev/null; sleep 0.01; done")
	loop.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	// A socket made before the window, as a daemon's listening socket is
	// made at start-up: no socket() call shows it, the open socket does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	loop.ExtraFiles = []*os.File{lf}
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = loop.Process.Kill(); _ = loop.Wait() }()
	before := learnPrograms(t)
	var out, errb bytes.Buffer
	code := Main([]string{"learn", "loop.service", "--for", "2s", "--cgroup", cg, "--root", root, "--systemd.table", "252", "--format", "json"}, nil, &out, &errb)
	// The loop must have run through the window: a learn that saw
	// nothing says so (exit 1), and this tells a dead loop from a blind
	// program.
	if err := loop.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the loop is gone after the learn: %v", err)
	}
	if code != 0 {
		t.Fatalf("learn exited %d: %s", code, errb.String())
	}
	var got learnJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if got.Calls == 0 || got.Processes < 2 {
		t.Errorf("calls %d, processes %d: the loop (sh and its ls children) was not seen", got.Calls, got.Processes)
	}
	lines := map[string]string{}
	for _, l := range got.Proposal.Lines {
		state := l.Value
		switch {
		case l.Kept:
			state = "kept"
		case l.Skipped:
			state = "skipped"
		case l.Commented:
			state = "#" + l.Value
		}
		if _, dup := lines[l.Directive]; !dup {
			lines[l.Directive] = state
		}
	}
	for d, want := range map[string]string{"MemoryDenyWriteExecute": "kept", "SystemCallArchitectures": "native", "SystemCallFilter": "@system-service", "ProtectClock": "#yes",
		"RestrictAddressFamilies": "AF_INET"} {
		if lines[d] != want {
			t.Errorf("%s: %q, want %q (all: %v)", d, lines[d], want, lines)
		}
	}
	if got.ExposureBefore == nil || got.ExposureAfter == nil || !(*got.ExposureAfter < *got.ExposureBefore) {
		t.Errorf("exposure before %v after %v: want both, lower after", got.ExposureBefore, got.ExposureAfter)
	}
	if !strings.Contains(got.DropIn, "\nRestrictAddressFamilies=AF_INET\n") || !strings.Contains(got.DropIn, "open sockets (made before the window, e.g. at start-up): AF_INET 1") {
		t.Errorf("the rendered drop-in lacks the open socket's family and its evidence:\n%s", got.DropIn)
	}
	if got.EventsLost != 0 || got.ProcessesLost != 0 {
		t.Errorf("lost events %d, processes %d", got.EventsLost, got.ProcessesLost)
	}
	// The kernel frees a closed program after an RCU grace period.
	for i := 0; ; i++ {
		n := learnPrograms(t)
		if n <= before {
			break
		}
		if i == 200 {
			t.Errorf("%d learn programs in the kernel 10 s after learn ended, %d before", n, before)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("calls %d from %d processes, exposure %.1f -> %.1f", got.Calls, got.Processes, *got.ExposureBefore, *got.ExposureAfter)
}

// TestLearnIdle: a learn whose window saw no call of the unit (here a
// cgroup with no process) proposes nothing and says why, with what tells
// an idle unit from a program the kernel did not run.
func TestLearnIdle(t *testing.T) {
	testutil.RequireRoot(t, "loads an eBPF program")
	mount, err := observe.Cgroup2Mount()
	if err != nil {
		testutil.Unavailable(t, err.Error())
	}
	dirs, remove, err := denier.UnitCgroups(fmt.Sprintf("swlearnidle-%d.slice", os.Getpid()), "idle.service")
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	var cg string
	for _, d := range dirs {
		if strings.HasPrefix(d, mount+"/") {
			cg = d
		}
	}
	for _, format := range []string{"dropin", "json"} {
		var out, errb bytes.Buffer
		code := Main([]string{"learn", "idle.service", "--for", "1s", "--cgroup", cg, "--root", t.TempDir(), "--systemd.table", "252", "--format", format, "--no-exposure"}, nil, &out, &errb)
		want := "idle.service made no system call in 1s (its cgroup " + cg + " holds 0 processes at the end; the program ran for "
		if code != ExitError || !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), "nothing to propose from") || out.Len() != 0 {
			t.Errorf("--format %s: exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout, and %q", format, code, out.String(), errb.String(), ExitError, want)
		}
	}
}
