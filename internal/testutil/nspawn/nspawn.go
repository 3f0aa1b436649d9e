package nspawn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// RootfsTarball is where the debootstrapped rootfs is cached.
const RootfsTarball = "/var/tmp/seccompwatch-rootfs-bookworm.tar"

// rootfsDir is the extracted, shared, read-only lower layer.
const rootfsDir = "/var/tmp/seccompwatch-rootfs-bookworm"

const lockFile = "/var/tmp/seccompwatch-rootfs-bookworm.lock"

// Options configures Boot.
type Options struct {
	// Files are written into the container's filesystem before boot:
	// absolute path inside the container → content (e.g. unit files).
	Files map[string]string
	// SystemCallFilter lists syscalls added to nspawn's own seccomp
	// allow-list (--system-call-filter), so that a unit's filter is the
	// only thing denying them.
	SystemCallFilter []string
	// Env is passed to the container's PID 1 (--setenv), e.g.
	// "SYSTEMD_LOG_SECCOMP=1".
	Env []string
	// BootTimeout bounds the wait for systemd to be running (default 60s).
	BootTimeout time.Duration
}

// Container is a running systemd container.
type Container struct {
	// Leader is the host pid of the container's PID 1 (systemd).
	Leader int
	// Root is the container's root as seen from the host
	// ("/proc/<leader>/root").
	Root string
	// BusAddress is the D-Bus address of the container's system bus.
	BusAddress string
	// Machine is the container's machine name.
	Machine string
	// CgroupV1, Cgroup2 are the host cgroups the container runs in.
	CgroupV1, Cgroup2 string

	madeSliceV1, madeSliceV2 bool // this container created machine.slice

	cmd     *exec.Cmd
	done    chan struct{}
	work    string
	merged  string
	logPath string
	stopped bool
}

// Available returns nil when Boot can work here, else the reason.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (apt-get install systemd-container)", tool)
		}
	}
	if _, err := os.Stat(RootfsTarball); err != nil {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			return fmt.Errorf("no cached rootfs %s and no debootstrap (apt-get install debootstrap)", RootfsTarball)
		}
	}
	if _, v2 := cgroupRoots(); v2 == "" {
		return errors.New("no cgroup2 hierarchy")
	}
	return nil
}

// Boot starts a container in /machine.slice/machine-NAME.scope and waits
// until its systemd is running. When Available reports a reason it skips
// the test, or fails it under CI=true (testutil.Unavailable); it fails it
// on any other problem, and stops and cleans up the
// container when the test ends.
func Boot(t testing.TB, opts Options) *Container {
	t.Helper()
	if err := Available(); err != nil {
		testutil.Unavailable(t, "nspawn: "+err.Error())
	}
	if opts.BootTimeout <= 0 {
		opts.BootTimeout = 60 * time.Second
	}
	if err := ensureRootfs(t); err != nil {
		t.Fatalf("nspawn: rootfs: %v", err)
	}
	c, err := start(opts)
	if c != nil {
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("nspawn: cleanup: %v", err)
			}
		})
	}
	if err != nil {
		if c != nil {
			t.Logf("nspawn: container log:\n%s", c.logTail())
		}
		t.Fatalf("nspawn: %v", err)
	}
	return c
}

// ensureRootfs builds the tarball (debootstrap, once) and extracts it
// (once), under a file lock shared with other test processes.
func ensureRootfs(t testing.TB) error {
	lf, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(rootfsDir + "/usr/lib/systemd/systemd"); err == nil {
		return nil
	}
	if _, err := os.Stat(RootfsTarball); err != nil {
		t.Logf("nspawn: building %s with debootstrap (once, ~45 s)", RootfsTarball)
		tmp, err := os.MkdirTemp("/var/tmp", "seccompwatch-debootstrap.")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		out, err := exec.Command("debootstrap", "--variant=minbase",
			"--include=systemd,systemd-sysv,dbus", "bookworm", tmp+"/root").CombinedOutput()
		if err != nil {
			return fmt.Errorf("debootstrap: %v: %s", err, tail(out))
		}
		if out, err := exec.Command("tar", "-C", tmp+"/root", "-cf", RootfsTarball+".tmp", ".").CombinedOutput(); err != nil {
			return fmt.Errorf("tar: %v: %s", err, tail(out))
		}
		if err := os.Rename(RootfsTarball+".tmp", RootfsTarball); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("/var/tmp", "seccompwatch-rootfs-extract.")
	if err != nil {
		return err
	}
	if out, err := exec.Command("tar", "-C", tmp, "-xf", RootfsTarball).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("extract: %v: %s", err, tail(out))
	}
	os.RemoveAll(rootfsDir) // a partial leftover
	if err := os.Rename(tmp, rootfsDir); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

func start(opts Options) (*Container, error) {
	id := fmt.Sprintf("swnspawn-%d-%04x", os.Getpid(), rand.Uint32()&0xffff)
	c := &Container{Machine: id, done: make(chan struct{})}
	var err error
	c.work, err = os.MkdirTemp("/var/tmp", "seccompwatch-nspawn.")
	if err != nil {
		return nil, err
	}
	upper, wk := c.work+"/upper", c.work+"/overlay-work"
	c.merged = c.work + "/root"
	for _, d := range []string{upper, wk, c.merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return c, err
		}
	}
	if err := unix.Mount("overlay", c.merged, "overlay", 0,
		"lowerdir="+rootfsDir+",upperdir="+upper+",workdir="+wk); err != nil {
		c.merged = ""
		return c, fmt.Errorf("overlay mount: %w", err)
	}
	for p, content := range opts.Files {
		dst := filepath.Join(c.merged, filepath.Clean("/"+p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return c, err
		}
		if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
			return c, err
		}
	}
	// Own cgroups, or the container lands in the root cgroup (FACTS.md):
	// /machine.slice/machine-NAME.scope, where systemd-machined would put
	// it, because only a cgroup there is taken for a container (anyone
	// can make a "payload" directory in a subtree delegated to them).
	v1, v2 := cgroupRoots()
	if v2 == "" {
		return c, errors.New("no cgroup2 hierarchy")
	}
	scope := "machine.slice/" + ScopeName(id)
	if v1 != "" {
		c.CgroupV1 = v1 + "/" + scope
		c.madeSliceV1, err = makeScope(c.CgroupV1)
		if err != nil {
			return c, err
		}
	}
	c.Cgroup2 = v2 + "/" + scope
	c.madeSliceV2, err = makeScope(c.Cgroup2)
	if err != nil {
		return c, err
	}
	args := []string{"-D", c.merged, "-M", id, "-b", "--register=no", "--keep-unit",
		"--console=read-only", "--private-network"}
	for _, s := range opts.SystemCallFilter {
		args = append(args, "--system-call-filter="+s)
	}
	for _, e := range opts.Env {
		args = append(args, "--setenv="+e)
	}
	// The paths hold a backslash (\x2d): they reach the shell quoted,
	// through the environment.
	script := `echo $$ > "$SW_CG2/cgroup.procs" || exit 1; `
	if c.CgroupV1 != "" {
		script += `echo $$ > "$SW_CG1/cgroup.procs" || exit 1; `
	}
	script += `exec systemd-nspawn "$@"`
	c.logPath = c.work + "/console.log"
	logf, err := os.Create(c.logPath)
	if err != nil {
		return c, err
	}
	defer logf.Close()
	c.cmd = exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	c.cmd.Env = append(os.Environ(), "SW_CG2="+c.Cgroup2, "SW_CG1="+c.CgroupV1)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		close(c.done)
		return c, fmt.Errorf("start systemd-nspawn: %w", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()

	deadline := time.Now().Add(opts.BootTimeout)
	for {
		select {
		case <-c.done:
			return c, errors.New("systemd-nspawn exited during boot")
		default:
		}
		// The first child may be nspawn's short-lived outer helper: look
		// again each time until the child is PID 1 of its namespace.
		c.Leader = childOf(c.cmd.Process.Pid)
		if c.Leader != 0 {
			c.Root = fmt.Sprintf("/proc/%d/root", c.Leader)
			sock := c.Root + "/run/dbus/system_bus_socket"
			if _, err := os.Stat(sock); err == nil {
				c.BusAddress = "unix:path=" + sock
				break
			}
		}
		if time.Now().After(deadline) {
			return c, errors.New("timed out waiting for the container's system bus")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	out, _ := c.Run(ctx, "systemctl", "is-system-running", "--wait")
	state := strings.TrimSpace(string(out))
	if state != "running" && state != "degraded" {
		return c, fmt.Errorf("systemd is %q", state)
	}
	return c, nil
}

// ScopeName is the cgroup systemd-machined gives machine name:
// "machine-" + the name escaped as in unit names ("-" is \x2d) + ".scope".
func ScopeName(name string) string {
	return "machine-" + strings.ReplaceAll(name, "-", `\x2d`) + ".scope"
}

// systemdIsPID1 reports whether systemd runs the host (and so owns
// machine.slice).
func systemdIsPID1() bool {
	b, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(b)) == "systemd"
}

// cgroupRoots returns the name=systemd (v1, "" on pure cgroup2) and
// cgroup2 ("" when absent) mounts.
func cgroupRoots() (v1, v2 string) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "", "/sys/fs/cgroup" // pure cgroup2
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		v2 = "/sys/fs/cgroup/unified"
	}
	if _, err := os.Stat("/sys/fs/cgroup/systemd/cgroup.procs"); err == nil {
		v1 = "/sys/fs/cgroup/systemd"
	}
	return v1, v2
}

// makeScope creates dir (a scope in machine.slice) and, when missing,
// machine.slice; madeSlice says whether this call created the slice.
// Another container's cleanup may remove the slice between the two
// mkdirs: then it is made again.
func makeScope(dir string) (madeSlice bool, err error) {
	for range 5 {
		if err := os.Mkdir(filepath.Dir(dir), 0o755); err == nil {
			madeSlice = true
		} else if !errors.Is(err, os.ErrExist) {
			return madeSlice, fmt.Errorf("cgroup: %w", err)
		}
		err = os.Mkdir(dir, 0o755)
		if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return madeSlice, fmt.Errorf("cgroup: %w", err)
	}
	return madeSlice, nil
}

// childOf returns the only child of pid when it is PID 1 of its own pid
// namespace (the container's init), or 0.
func childOf(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) != 1 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			ids := strings.Fields(rest)
			if len(ids) == 2 && ids[1] == "1" {
				return n
			}
		}
	}
	return 0
}

// Run runs a command inside the container (nsenter into all its
// namespaces) and returns its combined output.
func (c *Container) Run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(c.Leader), "-a"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("nspawn: %s: %w: %s", strings.Join(args, " "), err, tail(out))
	}
	return out, nil
}

// WriteFile writes a file into the running container (e.g. a drop-in).
func (c *Container) WriteFile(path, content string) error {
	dst := filepath.Join(c.merged, filepath.Clean("/"+path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, []byte(content), 0o644)
}

// Stop stops the container (SIGTERM to systemd-nspawn, SIGKILL after 10 s)
// and removes its mount, directories and cgroups. It is idempotent.
func (c *Container) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				<-c.done
			}
		}
	}
	if c.merged != "" {
		if err := unix.Unmount(c.merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", c.merged, err))
		}
	}
	for _, cg := range []struct {
		dir       string
		madeSlice bool
	}{{c.CgroupV1, c.madeSliceV1}, {c.Cgroup2, c.madeSliceV2}} {
		if cg.dir == "" {
			continue
		}
		if err := removeCgroup(cg.dir); err != nil {
			errs = append(errs, err)
		}
		if cg.madeSlice || !systemdIsPID1() {
			// Another test's container may still be in it (EBUSY): it
			// goes with the last one, also when that one did not make
			// it. Where systemd is PID 1 the slice is its own.
			_ = os.Remove(filepath.Dir(cg.dir))
		}
	}
	if c.work != "" {
		if err := os.RemoveAll(c.work); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroup removes a cgroup tree bottom-up, waiting briefly for
// processes to leave.
func removeCgroup(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var last error
	for _, d := range dirs {
		for i := 0; i < 50; i++ {
			if last = os.Remove(d); last == nil || errors.Is(last, os.ErrNotExist) {
				last = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if last != nil {
			return fmt.Errorf("remove cgroup %s: %w", d, last)
		}
	}
	return nil
}

func (c *Container) logTail() string {
	data, _ := os.ReadFile(c.logPath)
	return tail(data)
}

// tail returns the last lines of out, at most 40.
func tail(out []byte) string {
	var lines []string
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
