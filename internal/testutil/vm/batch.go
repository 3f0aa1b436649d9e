package vm

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed guest/init.sh
var guestInit []byte

// Batch is a set of scenarios run in one boot.
type Batch struct {
	// Scenarios are host paths of bash scripts, run as root in the guest in
	// the order of their file names, each in its own `timeout`. A script's
	// exit code is its result. They see E2E (the share, /mnt/e2e), E2E_OUT
	// (their own output directory, brought back to the host), PATH with
	// $E2E/bin first, and Env.
	Scenarios []string
	// Files are copied into the share: share-relative path → host path
	// (e.g. "bin/seccompwatch" → a built binary, "lib.sh" → helpers).
	Files map[string]string
	// Env is written to the share's env file, which the runner sources.
	Env map[string]string
	// ScenarioTimeout bounds each scenario (default 5 minutes).
	ScenarioTimeout time.Duration
	// Boot configures the machine; Share is set by RunBatch.
	Boot Options
}

// Result is one scenario's outcome.
type Result struct {
	Name     string
	Ran      bool // false: the machine stopped before the scenario ended
	ExitCode int
	Duration time.Duration
	Log      string // the script's stdout and stderr
	OutDir   string // its $E2E_OUT on the host
}

// Report is a boot's outcome.
type Report struct {
	Results  []Result
	Boot     time.Duration // qemu start to poweroff
	BootTime string        // systemd-analyze in the guest (kernel, userspace)
	Console  string        // the serial console's file
	Journal  string        // the guest's journal file (journalctl -b), if saved
}

// RunBatch lays the batch out in share (an empty directory the caller
// owns and removes), boots img once and collects the scenarios' results.
// An error means the machine itself failed (qemu, timeout); scenario
// failures are in the results.
func RunBatch(ctx context.Context, img *Image, share string, b Batch) (*Report, error) {
	if b.ScenarioTimeout <= 0 {
		b.ScenarioTimeout = 5 * time.Minute
	}
	if err := os.MkdirAll(filepath.Join(share, "scenarios"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(share, "init.sh"), guestInit, 0o755); err != nil {
		return nil, err
	}
	env := map[string]string{"E2E_SCENARIO_TIMEOUT": strconv.Itoa(int(b.ScenarioTimeout.Seconds()))}
	for k, v := range b.Env {
		env[k] = v
	}
	var envText strings.Builder
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&envText, "%s=%s\n", k, shellQuote(env[k]))
	}
	if err := os.WriteFile(filepath.Join(share, "env"), []byte(envText.String()), 0o644); err != nil {
		return nil, err
	}
	var names []string
	for _, s := range b.Scenarios {
		dst := filepath.Join(share, "scenarios", filepath.Base(s))
		if err := copyFile(s, dst, 0o755); err != nil {
			return nil, err
		}
		names = append(names, strings.TrimSuffix(filepath.Base(s), ".sh"))
	}
	sort.Strings(names)
	for rel, src := range b.Files {
		dst := filepath.Join(share, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := copyFile(src, dst, 0o755); err != nil {
			return nil, err
		}
	}

	opts := b.Boot
	opts.Share = share
	if opts.Console == "" {
		opts.Console = filepath.Join(share, "console.log")
	}
	if opts.Timeout <= 0 {
		// Boot and poweroff take well under two minutes even emulated.
		opts.Timeout = 2*time.Minute + time.Duration(len(names))*b.ScenarioTimeout
	}
	start := time.Now()
	runErr := Run(ctx, img, opts)
	rep := &Report{Boot: time.Since(start), Console: opts.Console, Journal: filepath.Join(share, "out", "journal.txt")}
	if bt, err := os.ReadFile(filepath.Join(share, "out", "boot-time")); err == nil {
		rep.BootTime = strings.TrimSpace(string(bt))
	}
	for _, n := range names {
		r := Result{Name: n, OutDir: filepath.Join(share, "out", n)}
		if log, err := os.ReadFile(filepath.Join(r.OutDir, "log")); err == nil {
			r.Log = string(log)
		}
		if rc, err := os.ReadFile(filepath.Join(r.OutDir, "rc")); err == nil {
			var code, ms int
			if _, err := fmt.Sscan(string(rc), &code, &ms); err == nil {
				r.Ran, r.ExitCode, r.Duration = true, code, time.Duration(ms)*time.Millisecond
			}
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, runErr
}

// ConsoleTail returns the last n lines of the serial console.
func (r *Report) ConsoleTail(n int) string {
	b, err := os.ReadFile(r.Console)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	return tailLines(string(b), n)
}

// KernelTrouble returns the console's lines from the guest kernel's first
// report of trouble (a soft lockup, an RCU stall, an oops, a panic, a
// hung task), up to n lines, or "" if it reported none. The tail of a
// locked-up guest's console repeats the lockup; the first report holds
// the stack that says where.
func (r *Report) KernelTrouble(n int) string {
	b, err := os.ReadFile(r.Console)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if kernelTrouble(l) {
			end := min(i+n, len(lines))
			return strings.Join(lines[i:end], "\n")
		}
	}
	return ""
}

// kernelTrouble tells a console line that starts a kernel report of
// trouble.
func kernelTrouble(line string) bool {
	for _, m := range []string{"BUG: soft lockup", "rcu_preempt detected stalls", "rcu_sched detected stalls", "Oops:", "Kernel panic", "blocked for more than", "general protection fault", "BUG: kernel NULL pointer"} {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
