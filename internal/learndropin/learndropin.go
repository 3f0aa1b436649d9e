// Package learndropin owns the runtime drop-in of `seccompwatch learn
// --method log`: its name, its exact content, and the clean-up of one a
// crashed learn left behind (run by the next learn, by the daemon at its
// start, and by `seccompwatch learn-cleanup`, the shipped unit's
// ExecStartPre=+).
//
// A file is learn's only when it is exactly what Content writes for the
// unit its directory is named after (the marker line first, then the owner
// line, then the fixed directives): a hand-written drop-in that merely
// starts with the marker, or one edited since, is left alone. It is a
// leftover only when its owner, the learn process named in the owner line
// (pid, start time in clock ticks after boot, boot id), is gone: a
// running learn's drop-in is never taken from it.
package learndropin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Marker is the first line of a learning drop-in.
const Marker = "# seccompwatch-learn v2: temporary; removed when learn ends"

// Suffix ends every learning drop-in's file name.
const Suffix = "seccompwatch-learn.conf"

// Dir is where learning drop-ins go (below a root): Dir/UNIT.d/NAME.
const Dir = "run/systemd/system"

// Owner names the learn process that wrote a drop-in.
type Owner struct {
	PID int
	// Start is the process's start time (field 22 of /proc/PID/stat).
	Start uint64
	// Boot is /proc/sys/kernel/random/boot_id.
	Boot string
}

// Self returns the calling process as an Owner.
func Self() (Owner, error) {
	pid := os.Getpid()
	start, err := startTime(pid)
	if err != nil {
		return Owner{}, err
	}
	boot, err := bootID()
	if err != nil {
		return Owner{}, err
	}
	return Owner{PID: pid, Start: start, Boot: boot}, nil
}

func (o Owner) line() string {
	return fmt.Sprintf("# owner: pid %d start %d boot %s", o.PID, o.Start, o.Boot)
}

// Alive reports whether the owner still runs: same boot, the pid exists
// and started at the same time (so a reused pid is not taken for it).
func (o Owner) Alive() bool {
	if b, err := bootID(); err != nil || b != o.Boot {
		return false
	}
	st, err := startTime(o.PID)
	return err == nil && st == o.Start
}

// Content is the drop-in for unit, owned by o: the filter reset and every
// call outside @system-service logged.
func Content(unit string, o Owner) string {
	return Marker + "\n" + o.line() + "\n" +
		"# seccompwatch learn for " + unit + ": the filter is reset and every call outside @system-service is logged.\n" +
		"[Service]\nSystemCallFilter=\nSystemCallLog=\nSystemCallLog=~@system-service\n"
}

// Parse returns the owner of a learning drop-in of unit, or false when
// content is not exactly what Content writes.
func Parse(unit, content string) (Owner, bool) {
	rest, ok := strings.CutPrefix(content, Marker+"\n# owner: ")
	if !ok {
		return Owner{}, false
	}
	line, _, _ := strings.Cut(rest, "\n")
	var o Owner
	if n, err := fmt.Sscanf(line, "pid %d start %d boot %s", &o.PID, &o.Start, &o.Boot); err != nil || n != 3 || o.PID <= 0 {
		return Owner{}, false
	}
	if Content(unit, o) != content {
		return Owner{}, false
	}
	return o, true
}

// Name returns a drop-in name that sorts after every drop-in the unit has
// (systemd applies the drop-ins of /etc, /run and /usr/lib sorted by file
// name).
func Name(dropIns []string) string {
	name := "zz-" + Suffix
	for {
		later := true
		for _, d := range dropIns {
			if filepath.Base(d) >= name && filepath.Base(d) != name {
				later = false
			}
		}
		if later {
			return name
		}
		name = "z" + name
	}
}

// Found is a learning drop-in Clean looked at.
type Found struct {
	// Path is the file (with the root prefix).
	Path string
	// Unit is the unit it was for.
	Unit string
	// Owner is the learn that wrote it.
	Owner Owner
	// Removed: it was a leftover and is gone now; else Err says why not
	// (nil: its owner still runs).
	Removed bool
	Err     error
}

// Clean removes the learning drop-ins below root whose learn is gone (and
// their directory when it is left empty). It returns every learning
// drop-in it found; files that are not exactly learn's are not looked at
// further. A caller that removed any must reload systemd.
func Clean(root string) []Found {
	matches, _ := filepath.Glob(filepath.Join(root, Dir, "*.d", "*"+Suffix))
	var out []Found
	for _, m := range matches {
		unit := strings.TrimSuffix(filepath.Base(filepath.Dir(m)), ".d")
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 4096 {
			continue
		}
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		o, ok := Parse(unit, string(b))
		if !ok {
			continue
		}
		f := Found{Path: m, Unit: unit, Owner: o}
		if !o.Alive() {
			if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
				f.Err = err
			} else {
				f.Removed = true
				_ = os.Remove(filepath.Dir(m)) // only when empty
			}
		}
		out = append(out, f)
	}
	return out
}

// Removed returns the paths of the removed ones.
func Removed(fs []Found) []string {
	var out []string
	for _, f := range fs {
		if f.Removed {
			out = append(out, f.Path)
		}
	}
	return out
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// startTime reads field 22 (starttime) of /proc/PID/stat; the command name
// (field 2, in parentheses) may hold spaces and parentheses, so fields are
// counted after its last ')'.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): starttime, field 22, is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
