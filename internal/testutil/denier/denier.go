// Package denier makes real seccomp denials for tests: the test binary
// re-executes itself, the child joins the cgroups it is given, installs a
// real seccomp filter on itself (with TSYNC, so every thread is covered) and
// then makes the denied call, or execs a program that makes it.
//
// A test package opts in by calling MaybeRun first thing in TestMain:
//
//	func TestMain(m *testing.M) { denier.MaybeRun(); os.Exit(m.Run()) }
//
// and starts children with Command. The package is for tests and the
// benchmark programs under bench/, which call MaybeRun first in main.
package denier

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

const envSpec = "SECCOMPWATCH_DENIER"

// Spec says which denial the child makes.
type Spec struct {
	// Syscall is the name (in the native ABI's table) of the call the
	// filter denies. Without Exec, the child calls it (all arguments zero)
	// Count times; it must be one the Go runtime does not make on its own
	// after start-up. With a log action the call really runs: only
	// harmless ones then.
	Syscall string
	// More are further syscalls denied with the same action and called
	// once per round after Syscall (for many distinct unit×syscall pairs).
	More []string
	// Rate, when positive, spreads the Count rounds evenly at that many
	// rounds per second; the child then prints each round's start time
	// (Unix nanoseconds, one per line) to stdout.
	Rate int
	// Action is the filter's action for the call: kill_process,
	// kill_thread, trap, errno, log or user_notif.
	Action string
	// Log loads the filter with SECCOMP_FILTER_FLAG_LOG, which errno, trap
	// and trace need to produce an audit record.
	Log bool
	// Count is how many calls to make (default 1). Killing actions end the
	// child at the first.
	Count int
	// Cgroups are cgroup directories (v1 and/or v2) the child moves itself
	// into before it installs the filter.
	Cgroups []string
	// Exec, when set, is a program the child executes after installing the
	// filter (argv = Exec + Args); the program makes the denied call itself.
	Exec string
	// Args are the arguments for Exec.
	Args []string
	// Linger keeps the child alive that long after its calls (without
	// Exec), so that its records are read while it runs.
	Linger time.Duration
	// UID, when not 0, is the user (uid and gid, no supplementary groups)
	// the child becomes after joining Cgroups and before installing the
	// filter: a denial by another user than the test's.
	UID int
}

// Command returns a command that re-executes the current test binary as a
// denier child with the given spec. The caller starts and waits for it.
func Command(spec Spec) (*exec.Cmd, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envSpec+"="+string(b))
	return cmd, nil
}

// MaybeRun turns the process into a denier child when it was started by
// Command; otherwise it returns at once. A child never returns: it exits 0
// when its calls were made (and survived), 3 when it could not set itself
// up, with the reason on stderr.
func MaybeRun() {
	v, ok := os.LookupEnv(envSpec)
	if !ok {
		return
	}
	var spec Spec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		fail("bad spec: %v", err)
	}
	if err := run(spec); err != nil {
		fail("%v", err)
	}
	os.Exit(0)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "denier: "+format+"\n", args...)
	os.Exit(3)
}

var actions = map[string]seccomp.Action{
	"kill_process": seccomp.ActionKillProcess,
	"kill_thread":  seccomp.ActionKillThread,
	"trap":         seccomp.ActionTrap,
	"errno":        seccomp.ActionErrno,
	"log":          seccomp.ActionLog,
	"user_notif":   seccomp.ActionUserNotify,
	"trace":        seccomp.ActionTrace,
}

func run(spec Spec) error {
	names := append([]string{spec.Syscall}, spec.More...)
	nrs := make([]uintptr, len(names))
	for i, name := range names {
		nr, ok := syscalls.Number(pipeline.NativeArch(), name)
		if !ok {
			return fmt.Errorf("unknown syscall %q", name)
		}
		nrs[i] = uintptr(nr)
	}
	action, ok := actions[spec.Action]
	if !ok {
		return fmt.Errorf("unknown action %q", spec.Action)
	}
	for _, cg := range spec.Cgroups {
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	if spec.UID != 0 {
		// Go applies these to every thread of the process.
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(spec.UID, spec.UID, spec.UID); err != nil {
			return fmt.Errorf("setresgid: %w", err)
		}
		if err := syscall.Setresuid(spec.UID, spec.UID, spec.UID); err != nil {
			return fmt.Errorf("setresuid: %w", err)
		}
	}
	// prctl(NO_NEW_PRIVS) and seccomp() must run on the same thread.
	runtime.LockOSThread()
	flag := seccomp.FilterFlagTSync
	if spec.Log {
		flag |= seccomp.FilterFlagLog
	}
	filter := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       flag,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls:      []seccomp.SyscallGroup{{Names: names, Action: action}},
		},
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		return fmt.Errorf("load filter: %w", err)
	}
	if spec.Exec != "" {
		argv := append([]string{spec.Exec}, spec.Args...)
		return fmt.Errorf("exec: %w", syscall.Exec(spec.Exec, argv, os.Environ()))
	}
	n := max(spec.Count, 1)
	var out *bufio.Writer
	var interval time.Duration
	start := time.Now()
	if spec.Rate > 0 {
		out = bufio.NewWriter(os.Stdout)
		defer out.Flush()
		interval = time.Second / time.Duration(spec.Rate)
	}
	for i := range n {
		if out != nil {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			fmt.Fprintln(out, time.Now().UnixNano())
		}
		for _, nr := range nrs {
			// A denied call never runs; an allowed (logged) one gets
			// zero arguments.
			_, _, _ = unix.RawSyscall6(nr, 0, 0, 0, 0, 0, 0)
		}
	}
	if out != nil {
		out.Flush()
	}
	time.Sleep(spec.Linger)
	return nil
}
