package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

//go:embed recipe
var recipe embed.FS

// CacheRoot is where images are cached, one directory per recipe hash.
const CacheRoot = "/var/tmp"

const cachePrefix = "seccompwatch-vm-"

// Image is a built VM image.
type Image struct {
	Dir           string // the cache directory
	Kernel        string // vmlinux (ELF, PVH entry)
	Initrd        string
	Disk          string // ext4 root disk; always booted snapshot=on
	KernelVersion string
}

// RecipeHash returns the hash of every file of the recipe, which names the
// image's cache directory.
func RecipeHash() string {
	h := sha256.New()
	var names []string
	_ = fs.WalkDir(recipe, "recipe", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		b, _ := recipe.ReadFile(n)
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Available returns nil when images can be built and booted here, else
// the reason (a missing tool names the package that brings it).
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (debootstrap, qemu's 9p share)")
	}
	for tool, pkg := range map[string]string{
		"qemu-system-x86_64": "qemu-system-x86", "debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs",
		"cpio": "cpio", "modprobe": "kmod", "depmod": "kmod", "xz": "xz-utils", "apt-get": "apt",
	} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (apt-get install %s; scripts/setup.sh does)", tool, pkg)
		}
	}
	// The initramfs has no loader: busybox must be static.
	f, err := elf.Open("/bin/busybox")
	if err != nil {
		return fmt.Errorf("no usable /bin/busybox (apt-get install busybox-static): %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("/bin/busybox is not static (apt-get install busybox-static)")
		}
	}
	return nil
}

// EnsureImage returns the image of the current recipe, building it first
// when the cache has none (minutes; logf receives the build's progress).
func EnsureImage(ctx context.Context, logf func(format string, args ...any)) (*Image, error) {
	hash := RecipeHash()
	dir := filepath.Join(CacheRoot, cachePrefix+hash)
	img := &Image{Dir: dir, Kernel: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "initrd.img"),
		Disk: filepath.Join(dir, "root.img")}

	lf, err := os.OpenFile(filepath.Join(CacheRoot, cachePrefix+"build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("vm: lock: %w", err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN) //nolint:errcheck

	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		if err := build(ctx, dir, logf); err != nil {
			return nil, err
		}
	}
	// Mark it used, and remove the images of other recipes not used for
	// a while (another worktree's recipe may be in use right now).
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, "complete"), now, now)
	removeStale(hash, staleAfter, logf)
	kv, err := os.ReadFile(filepath.Join(dir, "kernel-version"))
	if err != nil {
		return nil, err
	}
	img.KernelVersion = strings.TrimSpace(string(kv))
	return img, nil
}

// build runs the recipe into a temporary directory and renames it into
// place, so that a cache directory is either complete or absent.
func build(ctx context.Context, dir string, logf func(string, ...any)) error {
	tmp, err := os.MkdirTemp(CacheRoot, cachePrefix+"new.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "build.sh")
	b, _ := recipe.ReadFile("recipe/build.sh")
	if err := os.WriteFile(script, b, 0o755); err != nil {
		return err
	}
	out := filepath.Join(tmp, "image")
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	logf("vm: building the image for recipe %s into %s (once; a few minutes)", RecipeHash(), dir)
	cmd := exec.CommandContext(ctx, "bash", script, out)
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGKILL}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, logWriter{logf})
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vm: image build: %v\n%s", err, tailLines(buf.String(), 40))
	}
	if err := os.WriteFile(filepath.Join(out, "complete"), []byte(time.Since(start).Round(time.Second).String()+"\n"), 0o644); err != nil {
		return err
	}
	os.RemoveAll(dir) // a partial directory from a build killed mid-rename
	if err := os.Rename(out, dir); err != nil {
		return err
	}
	logf("vm: image built in %s", time.Since(start).Round(time.Second))
	return nil
}

// staleAfter is how long an image of another recipe is kept unused.
const staleAfter = 6 * time.Hour

// removeStale removes the cached images of other recipe hashes (about a
// gigabyte each) that were not used for maxAge. A VM booted from one keeps
// its open file.
func removeStale(keep string, maxAge time.Duration, logf func(string, ...any)) {
	ents, _ := os.ReadDir(CacheRoot)
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, cachePrefix) || n == cachePrefix+keep {
			continue
		}
		if strings.HasPrefix(n, cachePrefix+"new.") || strings.HasPrefix(n, cachePrefix+"build.") {
			continue // another builder's work in progress (or its leftover: it removes it)
		}
		if fi, err := os.Stat(filepath.Join(CacheRoot, n, "complete")); err == nil && time.Since(fi.ModTime()) < maxAge {
			continue
		}
		logf("vm: removing the image of another recipe, unused for %s: %s", maxAge, n)
		os.RemoveAll(filepath.Join(CacheRoot, n))
	}
}

// logWriter turns a stream into logf lines.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if l != "" {
			w.logf("%s", l)
		}
	}
	return len(p), nil
}

func tailLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
