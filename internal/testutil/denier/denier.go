// Package denier makes real seccomp denials for tests: the test binary
// re-executes itself, the child joins the cgroups it is given, installs a
// real seccomp filter on itself (with TSYNC, so every thread is covered) and
// then makes the denied call, or execs a program that makes it.
//
// A test package opts in by calling MaybeRun first thing in TestMain:
//
//	func TestMain(m *testing.M) { denier.MaybeRun(); os.Exit(m.Run()) }
//
// and starts children with Command. The package is for tests only.
package denier

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

const envSpec = "SECCOMPWATCH_DENIER"

// Spec says which denial the child makes.
type Spec struct {
	// Syscall is the x86_64 name of the call the filter denies. Without
	// Exec, the child calls it (with harmless arguments) Count times; it
	// must be one the Go runtime does not make on its own after start-up.
	Syscall string
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
	nr, ok := numbers[spec.Syscall]
	if !ok {
		return fmt.Errorf("syscall %q not supported by the helper", spec.Syscall)
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
			Syscalls:      []seccomp.SyscallGroup{{Names: []string{spec.Syscall}, Action: action}},
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
	for range n {
		// Harmless arguments: a denied call never runs; an allowed one
		// (log action) fails with EFAULT/EINVAL or does nothing.
		_, _, _ = unix.RawSyscall6(nr, 0, 0, 0, 0, 0, 0)
	}
	return nil
}

// numbers holds the x86_64 numbers of the calls the helper may make:
// ones that do nothing harmful with zero arguments and that the Go runtime
// does not use.
var numbers = map[string]uintptr{
	"swapoff":       unix.SYS_SWAPOFF,
	"swapon":        unix.SYS_SWAPON,
	"acct":          unix.SYS_ACCT,
	"syslog":        unix.SYS_SYSLOG,
	"uname":         unix.SYS_UNAME,
	"getcpu":        unix.SYS_GETCPU,
	"sysinfo":       unix.SYS_SYSINFO,
	"personality":   unix.SYS_PERSONALITY,
	"arch_prctl":    unix.SYS_ARCH_PRCTL,
	"setdomainname": unix.SYS_SETDOMAINNAME,
	"getpriority":   unix.SYS_GETPRIORITY,
	"ustat":         unix.SYS_USTAT,
}

// Names lists the syscalls the helper can make, for error messages.
func Names() string {
	var s []string
	for n := range numbers {
		s = append(s, n)
	}
	return strings.Join(s, " ")
}
