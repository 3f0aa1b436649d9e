package denier

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// UnitCgroups creates slice/unit in every cgroup hierarchy a unit lives in
// on this host: cgroup2 and, on v1 and hybrid hosts, name=systemd. It
// returns the directories (for Spec.Cgroups) and a function that removes
// them once their processes are gone.
func UnitCgroups(slice, unit string) (dirs []string, remove func(), err error) {
	roots := []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		roots = []string{"/sys/fs/cgroup"} // pure cgroup2
	}
	remove = func() {
		for _, d := range dirs {
			rmdir(d)
			// The slice goes with its last unit.
			if !hasSubdirs(filepath.Dir(d)) {
				rmdir(filepath.Dir(d))
			}
		}
	}
	for _, root := range roots {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue
		}
		dir := filepath.Join(root, slice, unit)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			remove()
			return nil, nil, fmt.Errorf("denier: cgroup: %w", err)
		}
		dirs = append(dirs, dir)
	}
	if len(dirs) == 0 {
		return nil, nil, errors.New("denier: no cgroup hierarchy found")
	}
	return dirs, remove, nil
}

// rmdir removes a cgroup, retrying while its last process is not yet
// reaped.
func rmdir(dir string) {
	for range 50 {
		if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasSubdirs(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	return false
}
