package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options configures one boot.
type Options struct {
	// Share is the host directory shared read-write over 9p; the guest's
	// e2e.service runs init.sh from it.
	Share string
	// Console is the file the serial console (kernel, systemd, the
	// runner's output) is written to.
	Console string
	// Timeout bounds the whole boot, from qemu's start to its exit
	// (default 10 minutes).
	Timeout time.Duration
	// MemoryMiB is the guest's memory (default 1024).
	MemoryMiB int
	// CPUs is the guest's processor count (default 2).
	CPUs int
	// Cmdline is appended to the kernel command line (e.g. a KEY=VALUE
	// word reaches PID 1's environment).
	Cmdline []string
}

// Accel returns qemu's -accel argument for this host: "kvm" only where a
// hardware KVM module (kvm_intel, kvm_amd) is loaded, else "tcg". A
// /dev/kvm backed by another module (kvm_pvm, a nested "pagetable VM")
// opens, but runs a stock kernel slower than emulation.
func Accel() string {
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
				f.Close()
				return "kvm"
			}
		}
	}
	return "tcg,thread=multi"
}

// Args returns qemu's command line for img and opts.
func Args(img *Image, opts Options) []string {
	cmdline := append([]string{
		// softlockup_panic: a guest whose kernel locks up stops at once
		// (panic=-1 reboots, -no-reboot exits) with the first lockup's
		// trace on the console, instead of spinning until the timeout.
		"console=ttyS0", "panic=-1", "softlockup_panic=1", "fsck.mode=skip", "quiet", "loglevel=4",
		"systemd.show_status=error", "rd.udev.log_level=3", "net.ifnames=0",
	}, opts.Cmdline...)
	cpu := "max"
	accel := Accel()
	if accel == "kvm" {
		cpu = "host"
	}
	return []string{
		"-nodefaults", "-no-user-config", "-no-reboot",
		"-machine", "pc", "-accel", accel, "-cpu", cpu,
		"-smp", strconv.Itoa(opts.CPUs), "-m", strconv.Itoa(opts.MemoryMiB),
		"-display", "none", "-monitor", "none", "-nic", "none",
		"-serial", "file:" + opts.Console,
		"-kernel", img.Kernel, "-initrd", img.Initrd, "-append", strings.Join(cmdline, " "),
		"-drive", "file=" + img.Disk + ",if=virtio,format=raw,snapshot=on,cache=unsafe",
		"-virtfs", "local,path=" + opts.Share + ",mount_tag=e2e,security_model=none,id=e2e",
	}
}

// ErrTimeout is returned by Run when the guest did not power off in time.
var ErrTimeout = errors.New("vm: the guest did not power off in time (killed)")

// Run boots img and waits until the guest powers off, Timeout passes or
// ctx ends; in the last two cases it kills qemu (by its pid) and waits for
// it. It returns qemu's error, if any; the guest's results are in Share.
func Run(ctx context.Context, img *Image, opts Options) error {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.MemoryMiB <= 0 {
		opts.MemoryMiB = 1024
	}
	if opts.CPUs <= 0 {
		opts.CPUs = 2
	}
	if opts.Console == "" {
		opts.Console = filepath.Join(opts.Share, "console.log")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cmd := exec.Command("qemu-system-x86_64", Args(img, opts)...)
	// qemu's snapshot overlay is a temporary file it unlinks at once; keep
	// it beside the image, on disk, rather than on a small /tmp.
	cmd.Env = append(os.Environ(), "TMPDIR="+CacheRoot)
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("vm: qemu: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("vm: qemu: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	case <-ctx.Done():
		_ = unix.Kill(cmd.Process.Pid, unix.SIGKILL)
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ErrTimeout
		}
		return ctx.Err()
	}
}
