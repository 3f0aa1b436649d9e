// Command calls makes the system calls that systemd's seccomp-backed
// directives forbid, each with the arguments its directive checks, for the
// verdict tests that run it as a unit in a real systemd (nspawn). Each call
// is harmless when allowed: nothing on the host changes (adjtimex only
// reads, sethostname sets the container's current name, fchmodat touches a
// file of its own, ...). It prints one line per call: "NAME ok" or
// "NAME ERRNO", also into the file $CALLS_OUT when set (so that a test can
// tell that the program ran to its end).
//
//	calls mmap personality socket ...
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	failed := false
	var out strings.Builder
	for _, name := range os.Args[1:] {
		if err := call(name); err != nil {
			failed = true
			fmt.Fprintf(&out, "%s %v\n", name, err)
			continue
		}
		fmt.Fprintf(&out, "%s ok\n", name)
	}
	fmt.Print(out.String())
	if p := os.Getenv("CALLS_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func errOf(r uintptr, e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func call(name string) error {
	switch name {
	case "mmap": // MemoryDenyWriteExecute=: writable and executable
		b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err == nil {
			_ = unix.Munmap(b)
		}
		return err
	case "personality": // LockPersonality=: another persona (PER_LINUX32), then back
		r, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0x0008, 0, 0)
		if e == 0 {
			unix.Syscall(unix.SYS_PERSONALITY, r, 0, 0)
		}
		return errOf(r, e)
	case "sched_setscheduler": // RestrictRealtime=: SCHED_FIFO priority 1
		prio := int32(1)
		r, _, e := unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, 0, 1, uintptr(unsafe.Pointer(&prio)))
		if e == 0 { // back to SCHED_OTHER
			prio = 0
			unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, 0, 0, uintptr(unsafe.Pointer(&prio)))
		}
		return errOf(r, e)
	case "socket": // RestrictAddressFamilies=: AF_NETLINK
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "unshare": // RestrictNamespaces=: a new UTS namespace (this thread's only)
		return unix.Unshare(unix.CLONE_NEWUTS)
	case "adjtimex": // ProtectClock=: a read (modes 0)
		var tx unix.Timex
		_, err := unix.Adjtimex(&tx)
		return err
	case "sethostname": // ProtectHostname=: the name it has
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		return unix.Sethostname([]byte(h))
	case "fchmodat": // RestrictSUIDSGID=: set-user-ID on a file of its own (chmod(2) is fchmodat on amd64 and arm64)
		p := filepath.Join(os.TempDir(), fmt.Sprintf("calls-%d", os.Getpid()))
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			return err
		}
		defer os.Remove(p)
		return unix.Chmod(p, 0o4700)
	case "syslog": // ProtectKernelLogs=: the size of the buffer
		r, _, e := unix.Syscall(unix.SYS_SYSLOG, 10, 0, 0)
		return errOf(r, e)
	case "init_module": // ProtectKernelModules=: no module (EFAULT/EPERM when allowed)
		r, _, e := unix.Syscall(unix.SYS_INIT_MODULE, 0, 0, 0)
		return errOf(r, e)
	case "iopl": // PrivateDevices=: level 0
		r, _, e := unix.Syscall(unix.SYS_IOPL, 0, 0, 0)
		return errOf(r, e)
	case "_sysctl": // ProtectKernelTunables=: gone from the kernel, ENOSYS when allowed
		r, _, e := unix.Syscall(unix.SYS__SYSCTL, 0, 0, 0)
		return errOf(r, e)
	case "swapoff": // SystemCallFilter=@system-service: no path (EFAULT when allowed)
		r, _, e := unix.Syscall(unix.SYS_SWAPOFF, 0, 0, 0)
		return errOf(r, e)
	case "pkey_alloc": // outside @system-service, not risky: a key the process keeps until it exits (pkey_free is outside too), ENOSPC/EINVAL without protection keys
		r, _, e := unix.Syscall(unix.SYS_PKEY_ALLOC, 0, 0, 0)
		if e == unix.ENOSPC || e == unix.EINVAL {
			return nil // the kernel answered: the call was allowed
		}
		return errOf(r, e)
	case "sleep":
		time.Sleep(100 * time.Millisecond)
		return nil
	}
	return fmt.Errorf("unknown call %q", name)
}
