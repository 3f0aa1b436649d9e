package units

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Process is a live process of a unit, with the identity a SECCOMP record
// carries: the real uid ("uid=") and the login uid ("auid=", 4294967295
// when unset, as for every process systemd's PID 1 starts).
type Process struct {
	PID       int
	UID, AUID uint32
}

// UnitProcesses returns the live processes of the host's system unit
// named unit (not a container's, not a user manager's), read from the
// unit's cgroups: the cgroup2 index (rescanned once when it knows none),
// or on a legacy host the name=systemd tree. Nobody but root and the unit
// itself can put a process into a system unit's cgroup, so a process
// found here is evidence a record's sender cannot forge (unlike its exe).
// A process is listed only when /proc still places it in the unit and its
// start time did not change while it was read (a reused pid is left out).
func (a *Attributor) UnitProcesses(unit string) ([]Process, error) {
	dirs, err := a.unitDirs(unit)
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue // removed meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 0 {
				continue
			}
			if p, ok := a.unitProcess(unit, pid); ok {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// isHostSystemUnit reports whether u is a unit of the host's system
// manager named unit (a quadlet's libpod payload stays its host unit's).
func isHostSystemUnit(u Unit, unit string) bool {
	return u.Name == unit && u.UID < 0 && (u.Machine == "" || u.ContainerID != "")
}

// unitDirs returns the cgroup directories of the host system unit.
func (a *Attributor) unitDirs(unit string) ([]string, error) {
	if a.idx != nil {
		dirs := a.idx.dirsOf(unit)
		if len(dirs) == 0 && a.idx.rescanIfOlder(time.Second) {
			dirs = a.idx.dirsOf(unit)
		}
		return dirs, nil
	}
	// Legacy (v1 only): walk name=systemd.
	const v1 = "/sys/fs/cgroup/systemd"
	var dirs []string
	err := filepath.WalkDir(v1, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(v1, p)
		if err != nil || rel == "." {
			return nil
		}
		if u, err := ParseCgroupPath("/" + filepath.ToSlash(rel)); err == nil && isHostSystemUnit(u, unit) {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("units: walk %s: %w", v1, err)
	}
	return dirs, nil
}

// unitProcess reads pid's identity, checking that /proc places it in the
// unit and that it is one process throughout.
func (a *Attributor) unitProcess(unit string, pid int) (Process, bool) {
	s1, err := procStart(a.opts.ProcRoot, pid)
	if err != nil {
		return Process{}, false
	}
	path, _, err := procCgroup(a.opts.ProcRoot, pid)
	if err != nil {
		return Process{}, false
	}
	if u, err := ParseCgroupPath(path); err != nil || !isHostSystemUnit(u, unit) {
		return Process{}, false
	}
	dir := filepath.Join(a.opts.ProcRoot, strconv.Itoa(pid))
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return Process{}, false
	}
	uid, err := ParseStatusUID(st)
	if err != nil {
		return Process{}, false
	}
	lb, err := os.ReadFile(filepath.Join(dir, "loginuid"))
	if err != nil {
		return Process{}, false
	}
	auid, err := strconv.ParseUint(strings.TrimSpace(string(lb)), 10, 32)
	if err != nil {
		return Process{}, false
	}
	if s2, err := procStart(a.opts.ProcRoot, pid); err != nil || s2 != s1 {
		return Process{}, false
	}
	return Process{PID: pid, UID: uid, AUID: uint32(auid)}, true
}

// ParseStatusUID returns the real uid (the first of the "Uid:" line's four
// fields) of /proc/<pid>/status content.
func ParseStatusUID(content []byte) (uint32, error) {
	for len(content) > 0 {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		rest, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 4 {
			return 0, fmt.Errorf("units: status: Uid line has %d fields", len(f))
		}
		v, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("units: status: uid: %w", err)
		}
		return uint32(v), nil
	}
	return 0, fmt.Errorf("units: status: no Uid line")
}
