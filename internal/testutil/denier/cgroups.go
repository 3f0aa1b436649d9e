package denier

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// UnitCgroups creates slice/unit in every cgroup hierarchy a unit lives in
// on this host: cgroup2 and, on v1 and hybrid hosts, name=systemd. slice
// may be a path of several components (a user manager's
// "user.slice/user-UID.slice/user@UID.service/app.slice", a container's
// "machine.slice/machine-NAME.scope/payload/system.slice"). It returns the
// unit directories (for Spec.Cgroups) and a function that removes them
// once their processes are gone, and then every parent it created that
// has no other cgroup below it (the slice also when another call made it).
func UnitCgroups(slice, unit string) (dirs []string, remove func(), err error) {
	roots := []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		roots = []string{"/sys/fs/cgroup"} // pure cgroup2
	}
	var made []string // parents created, deepest first per root
	remove = func() {
		for _, d := range dirs {
			rmdir(d)
			// The slice goes with its last unit (another call's unit may
			// share it: it created the slice, this one found it).
			if !hasSubdirs(filepath.Dir(d)) {
				rmdir(filepath.Dir(d))
			}
		}
		for _, d := range made {
			if !hasSubdirs(d) {
				rmdir(d)
			}
		}
	}
	for _, root := range roots {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue
		}
		var parents []string
		for p := filepath.Join(root, slice); p != root && p != "/"; p = filepath.Dir(p) {
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				parents = append(parents, p)
			}
		}
		dir := filepath.Join(root, slice, unit)
		err := os.MkdirAll(dir, 0o755)
		made = append(made, parents...)
		if err != nil {
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
