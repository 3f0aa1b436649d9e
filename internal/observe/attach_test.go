package observe

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/google/go-cmp/cmp"
)

// churn attaches a do-nothing program to sys_enter and detaches it, over
// and over, until stop is closed (as another learn, or any other tracer
// of sys_enter, does), counting the cycles in n.
func churn(t *testing.T, stop <-chan struct{}, n *atomic.Int64) <-chan struct{} {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "sw_churn", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
		AttachTo: "sys_enter", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}, License: "Dual MIT/GPL",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer prog.Close()
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			l, err := link.AttachTracing(link.TracingOptions{Program: prog})
			if err != nil {
				t.Errorf("churn: %v", err)
				return
			}
			l.Close()
			n.Add(1)
		}
	}()
	return done
}

// syscallState returns /proc/PID/syscall's first field: "running" when in
// user space, else the number of the call it is in.
func syscallState(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// TestAttachToRunningTasks: tasks already running when the program
// attaches, one blocked in a system call (read) and one spinning in user
// space, have every call they make after the attach seen, exactly, while
// another program attaches to and detaches from sys_enter in a loop (the
// tasks stop at a second gate until it has, so that it provably happens
// between their calls); so has a task moved after the attach into a
// descendant cgroup made after it. The kernel enables the syscall tracepoint of every
// existing task at the first attach (SYSCALL_WORK_SYSCALL_TRACEPOINT) and
// a task checks it at each entry, so only a call already entered before
// the attach is not seen (the blocked task's first read).
func TestAttachToRunningTasks(t *testing.T) {
	requireObserver(t)
	mount, unit, _ := learnCgroup(t)
	const n = 100000
	// getppid × n, a second gate (read), getppid × n
	calls := []rawCall{{nr: 110, repeat: n}, {nr: 0, args: []uint64{0, rawData, 1}}, {nr: 110, repeat: n}}
	dir := t.TempDir()
	blocked, err := writeRawELF(dir, "blocked", 0, calls)
	if err != nil {
		t.Fatal(err)
	}
	// The spinner passes its first gate at once, says so with a byte on
	// stdout and spins until the test writes its flag.
	spinner, err := writeRawELF(dir, "spinner", 0, append([]rawCall{{nr: 1, args: []uint64{1, rawData, 1}}, {spin: true}}, calls...))
	if err != nil {
		t.Fatal(err)
	}
	cgfd, err := syscall.Open(unit, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(cgfd)
	// Both run in the learned cgroup before the program exists.
	bCmd, bGate := gatedIn(t, blocked, cgfd)
	sIn, sGate, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sCmd := exec.Command(spinner)
	sCmd.Stdin = sIn
	sCmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	marker, err := sCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sCmd.Start(); err != nil {
		t.Fatal(err)
	}
	sIn.Close()
	t.Cleanup(func() { _ = sCmd.Process.Kill(); _ = sCmd.Wait() })
	if _, err := sGate.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := marker.Read(make([]byte, 1)); err != nil {
		t.Fatalf("the spinner's marker: %v", err)
	}
	waitState := func(c *exec.Cmd, want, what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			st := syscallState(c.Process.Pid)
			if st == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /proc/%d/syscall says %q", what, c.Process.Pid, st)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitState(sCmd, "running", "the spinner never reached its spin")
	stop := make(chan struct{})
	var cycles atomic.Int64
	churned := churn(t, stop, &cycles)
	defer func() { close(stop); <-churned }()
	ob, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	id, err := ob.Add(mount, unit)
	if err != nil {
		t.Fatal(err)
	}
	if st := syscallState(bCmd.Process.Pid); st != "0" {
		t.Fatalf("the blocked program is not in its read at the attach: %q", st)
	}
	if st := syscallState(sCmd.Process.Pid); st != "running" {
		t.Fatalf("the spinner is not in user space at the attach: %q", st)
	}
	// A descendant made after the attach, and a process moved into it.
	late := filepath.Join(unit, "late")
	if err := os.Mkdir(late, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.Remove(late) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	// Started outside, moved in while blocked in its gate (so that its
	// start-up calls are not the cgroup's).
	lCmd, lGate := gated(t, blocked)
	if err := os.WriteFile(filepath.Join(late, "cgroup.procs"), []byte(strconv.Itoa(lCmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	mem, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", sCmd.Process.Pid), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	release := func() {
		for _, g := range []*os.File{bGate, lGate} {
			if _, err := g.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := mem.WriteAt(binary.LittleEndian.AppendUint64(nil, 1), rawFlag); err != nil {
			t.Fatal(err)
		}
	}
	release()
	// Both at their second gate: the other program attaches and detaches
	// a few times before they go on.
	waitState(bCmd, "0", "the blocked program never reached its second gate")
	waitState(sCmd, "0", "the spinner never reached its second gate")
	waitState(lCmd, "0", "the late program never reached its second gate")
	k0 := cycles.Load()
	for deadline := time.Now().Add(10 * time.Second); cycles.Load() < k0+3; {
		if time.Now().After(deadline) {
			t.Fatal("the other program did not attach and detach within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	for _, g := range []*os.File{bGate, sGate, lGate} {
		if _, err := g.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		g.Close()
	}
	for _, c := range []*exec.Cmd{bCmd, sCmd, lCmd} {
		if err := c.Wait(); err != nil {
			t.Fatalf("%s: %v", c.Path, err)
		}
	}
	obs, st, err := ob.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	got := obs[id]
	// Each: getppid × 2n, the second gate's read, exit_group.
	want := &Observation{Cgroup: unit, Calls: 3 * (2*n + 2), Processes: 3,
		Syscalls: map[string][]string{"x86_64": {"exit_group", "getppid", "read"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("observation (-want +got):\n%s", d)
	}
	checkStats(t, st, got)
	t.Logf("%d calls seen of 3 × (%d getppid, read, exit_group), while another program attached and detached %d times", got.Calls, 2*n, cycles.Load())
}
