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
	if _, err := os.Stat("/sys/fs/cgroup/unified"); err != nil {
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
			return errors.New("no cgroup2 hierarchy")
		}
	}
	return nil
}

// Boot starts a container and waits until its systemd is running. It
// skips the test when Available reports a reason, fails it on any other
// problem, and stops and cleans up the container when the test ends.
func Boot(t testing.TB, opts Options) *Container {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("nspawn: %v", err)
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
	// Own cgroups, or the container lands in the root cgroup (FACTS.md).
	v1 := "/sys/fs/cgroup/systemd"
	v2 := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(v2); err != nil {
		v2 = "/sys/fs/cgroup"
		v1 = ""
	}
	if v1 != "" {
		c.CgroupV1 = v1 + "/" + id
		if err := os.Mkdir(c.CgroupV1, 0o755); err != nil {
			return c, fmt.Errorf("cgroup: %w", err)
		}
	}
	c.Cgroup2 = v2 + "/" + id
	if err := os.Mkdir(c.Cgroup2, 0o755); err != nil {
		return c, fmt.Errorf("cgroup: %w", err)
	}
	args := []string{"-D", c.merged, "-M", id, "-b", "--register=no", "--keep-unit",
		"--console=read-only", "--private-network"}
	for _, s := range opts.SystemCallFilter {
		args = append(args, "--system-call-filter="+s)
	}
	for _, e := range opts.Env {
		args = append(args, "--setenv="+e)
	}
	script := "echo $$ > " + c.Cgroup2 + "/cgroup.procs || exit 1; "
	if c.CgroupV1 != "" {
		script += "echo $$ > " + c.CgroupV1 + "/cgroup.procs || exit 1; "
	}
	script += `exec systemd-nspawn "$@"`
	c.logPath = c.work + "/console.log"
	logf, err := os.Create(c.logPath)
	if err != nil {
		return c, err
	}
	defer logf.Close()
	c.cmd = exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
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
	for _, cg := range []string{c.CgroupV1, c.Cgroup2} {
		if cg != "" {
			if err := removeCgroup(cg); err != nil {
				errs = append(errs, err)
			}
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
