package syscalls

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"

	"github.com/seccompwatch/seccompwatch/syscalls/internal/analyze"
)

// ErrNoHost is wrapped by Host's errors: systemd-analyze is missing, fails,
// or prints something that is not a group table.
var ErrNoHost = errors.New("syscalls: no host systemd-analyze table")

// ErrSyntax is wrapped by ParseAnalyze's errors about malformed input.
var ErrSyntax = analyze.ErrSyntax

// maxAnalyzeOutput bounds what Host reads from systemd-analyze.
const maxAnalyzeOutput = 8 << 20

// ParseAnalyze reads the output of `systemd-analyze syscall-filter` and
// returns its group table, nesting resolved, labelled with version and
// source. The "# Ungrouped ..." and "# Unlisted ..." trailers are skipped.
func ParseAnalyze(r io.Reader, version, source string) (*Table, error) {
	groups, err := analyze.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("syscalls: parse syscall-filter output: %w", err)
	}
	desc := make(map[string]string, len(groups))
	for _, g := range groups {
		desc[g.Name] = g.Description
	}
	return newTable(version, source, analyze.Direct(groups), desc), nil
}

// Host runs the local `systemd-analyze syscall-filter` and
// `systemd-analyze --version` and returns the host's own table, with Source
// "host systemd-analyze (systemd VERSION)". Every error wraps ErrNoHost.
func Host(ctx context.Context) (*Table, error) {
	return hostWith(ctx, "systemd-analyze")
}

var versionRE = regexp.MustCompile(`^systemd ([0-9]+)\b`)

func hostWith(ctx context.Context, bin string) (*Table, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("syscalls: host: %w: %w", ErrNoHost, err)
	}
	out, err := runAnalyze(ctx, path, "--version")
	if err != nil {
		return nil, err
	}
	first, _, _ := bytes.Cut(out, []byte("\n"))
	m := versionRE.FindSubmatch(first)
	if m == nil {
		return nil, fmt.Errorf("syscalls: host: %w: unexpected --version output %q", ErrNoHost, truncate(first))
	}
	version := string(m[1])
	out, err = runAnalyze(ctx, path, "--no-pager", "syscall-filter")
	if err != nil {
		return nil, err
	}
	t, err := ParseAnalyze(bytes.NewReader(out), version, "host systemd-analyze (systemd "+version+")")
	if err != nil {
		return nil, fmt.Errorf("syscalls: host: %w: %w", ErrNoHost, err)
	}
	return t, nil
}

func runAnalyze(ctx context.Context, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=cat", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("syscalls: host: %w: %w", ErrNoHost, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("syscalls: host: %w: %w", ErrNoHost, err)
	}
	out, readErr := io.ReadAll(io.LimitReader(bufio.NewReader(stdout), maxAnalyzeOutput+1))
	if readErr == nil && len(out) > maxAnalyzeOutput {
		readErr = fmt.Errorf("more than %d bytes", maxAnalyzeOutput)
		_, _ = io.Copy(io.Discard, stdout) // let the process finish writing
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("syscalls: host: %w: %s %v: %w (stderr: %q)", ErrNoHost, path, args, err, truncate(stderr.Bytes()))
	}
	if readErr != nil {
		return nil, fmt.Errorf("syscalls: host: %w: read %s output: %w", ErrNoHost, path, readErr)
	}
	return out, nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
