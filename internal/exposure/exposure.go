// Package exposure scores a unit's configuration with systemd's own
// `systemd-analyze security --offline=true`, before and after a proposed
// drop-in: it writes the unit file and its drop-ins (in the order systemd
// applies them) into a temporary directory, scores that, and removes it.
package exposure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// ErrNoAnalyze means systemd-analyze is not installed.
var ErrNoAnalyze = errors.New("exposure: systemd-analyze not found")

// DropIn is one drop-in file's name and content.
type DropIn struct {
	Name, Content string
}

var overall = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9]+\.[0-9])`)

// Score returns the overall exposure (0–10, lower is better) of unit made
// of fragment (the unit file's content) and dropIns, in order.
func Score(ctx context.Context, unit, fragment string, dropIns []DropIn) (float64, error) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return 0, ErrNoAnalyze
	}
	dir, err := os.MkdirTemp("", "seccompwatch-exposure-")
	if err != nil {
		return 0, fmt.Errorf("exposure: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, unit), []byte(fragment), 0o644); err != nil {
		return 0, fmt.Errorf("exposure: %w", err)
	}
	if len(dropIns) > 0 {
		d := filepath.Join(dir, unit+".d")
		if err := os.Mkdir(d, 0o755); err != nil {
			return 0, fmt.Errorf("exposure: %w", err)
		}
		for i, di := range dropIns {
			// The index keeps systemd's order whatever the names.
			name := fmt.Sprintf("%04d-%s", i, filepath.Base(di.Name))
			if err := os.WriteFile(filepath.Join(d, name), []byte(di.Content), 0o644); err != nil {
				return 0, fmt.Errorf("exposure: %w", err)
			}
		}
	}
	out, err := exec.CommandContext(ctx, bin, "security", "--offline=true", "--no-pager", filepath.Join(dir, unit)).CombinedOutput()
	m := overall.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("exposure: systemd-analyze security: %v: %s", err, lastLine(out))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func lastLine(b []byte) string {
	s := string(b)
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	if i := len(s) - 200; i > 0 {
		s = s[i:]
	}
	return s
}
