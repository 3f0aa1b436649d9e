package units

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// deletedSuffix is what the kernel appends to the cgroup v2 path of a task
// whose cgroup has been removed.
const deletedSuffix = " (deleted)"

// ParseProcCgroup extracts the cgroup path from the content of
// /proc/<pid>/cgroup: the cgroup v2 ("0::") path when there is one (with a
// " (deleted)" suffix removed), otherwise the cgroup v1 name=systemd path.
// A v2 path of "/" gives way to a deeper name=systemd path: on a legacy
// (v1) host where cgroup2 was ever mounted every task shows "0::/".
// v2 reports whether the path came from the cgroup v2 line. It returns
// ErrNoCgroup when neither line is present.
func ParseProcCgroup(content []byte) (path string, v2 bool, err error) {
	var v1, unified string
	for len(content) > 0 {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		id, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		ctrl, p, ok := bytes.Cut(rest, []byte{':'})
		if !ok || len(p) == 0 || p[0] != '/' {
			continue
		}
		switch {
		case unified == "" && string(id) == "0" && len(ctrl) == 0:
			unified = strings.TrimSuffix(string(p), deletedSuffix)
		case v1 == "" && hasController(ctrl, "name=systemd"):
			v1 = string(p)
		}
	}
	if unified != "" && (unified != "/" || v1 == "" || v1 == "/") {
		return unified, true, nil
	}
	if v1 != "" {
		return v1, false, nil
	}
	return "", false, ErrNoCgroup
}

func hasController(list []byte, name string) bool {
	for _, c := range bytes.Split(list, []byte{','}) {
		if string(c) == name {
			return true
		}
	}
	return false
}

// ParseStatStart returns field 22 (starttime, in clock ticks since boot)
// of /proc/<pid>/stat content; the comm field may hold spaces and
// parentheses, so parsing starts after the last ')'.
func ParseStatStart(content []byte) (uint64, error) {
	i := bytes.LastIndexByte(content, ')')
	if i < 0 {
		return 0, fmt.Errorf("units: stat: no comm field")
	}
	fields := strings.Fields(string(content[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("units: stat: %d fields after comm", len(fields))
	}
	v, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("units: stat: starttime: %w", err)
	}
	return v, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat starttime; it is 100
// on every Linux architecture seccompwatch supports.
const clockTicks = 100

// procStart reads a process's start time in boot-time nanoseconds (at the
// 10 ms resolution of /proc).
func procStart(procRoot string, pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	ticks, err := ParseStatStart(b)
	if err != nil {
		return 0, err
	}
	return ticks * (1e9 / clockTicks), nil
}

// procCgroup reads and parses /proc/<pid>/cgroup.
func procCgroup(procRoot string, pid int) (string, bool, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", false, err
	}
	return ParseProcCgroup(b)
}
