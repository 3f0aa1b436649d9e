package units

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is a live process of a unit, with the identity a SECCOMP record
// carries: the real uid ("uid=") and the login uid ("auid=", 4294967295
// when unset, as for every process systemd's PID 1 starts).
type Process struct {
	PID       int
	UID, AUID uint32
}

// SystemUnitProcesses scans /proc once and returns the live processes of
// every unit of the host's system manager (no container, no user
// manager), by unit name. Nobody but root and the unit itself can put a
// process into a system unit's cgroup, so a process found here is evidence
// a record's sender cannot forge (unlike its exe). A pid whose start time
// changed while it was read (reused) is left out.
func (a *Attributor) SystemUnitProcesses() (map[string][]Process, error) {
	ents, err := os.ReadDir(a.opts.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("units: scan %s: %w", a.opts.ProcRoot, err)
	}
	out := make(map[string][]Process)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		s1, err := procStart(a.opts.ProcRoot, pid)
		if err != nil {
			continue
		}
		path, _, err := procCgroup(a.opts.ProcRoot, pid)
		if err != nil {
			continue
		}
		u, err := ParseCgroupPath(path)
		if err != nil || u.UID >= 0 || u.Machine != "" && u.ContainerID == "" {
			continue // no unit, a user manager's, a container's
		}
		dir := filepath.Join(a.opts.ProcRoot, e.Name())
		st, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue
		}
		uid, err := ParseStatusUID(st)
		if err != nil {
			continue
		}
		lb, err := os.ReadFile(filepath.Join(dir, "loginuid"))
		if err != nil {
			continue
		}
		auid, err := strconv.ParseUint(strings.TrimSpace(string(lb)), 10, 32)
		if err != nil {
			continue
		}
		if s2, err := procStart(a.opts.ProcRoot, pid); err != nil || s2 != s1 {
			continue
		}
		out[u.Name] = append(out[u.Name], Process{PID: pid, UID: uid, AUID: uint32(auid)})
	}
	return out, nil
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
