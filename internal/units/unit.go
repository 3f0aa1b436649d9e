package units

import (
	"errors"
	"fmt"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"strconv"
	"strings"
)

// Unit kinds: the systemd unit type of Unit.Name.
const (
	KindService = "service"
	KindScope   = "scope"
	KindSlice   = "slice"
	KindSocket  = "socket"
	KindMount   = "mount"
	KindSwap    = "swap"
)

// Sentinel errors of the parsers.
var (
	// ErrNotInUnit means a cgroup path names no systemd unit (the root
	// cgroup, a bare slice, a directory outside systemd's tree).
	ErrNotInUnit = errors.New("units: cgroup is not in a unit")
	// ErrBadPath means the input is not a cgroup path at all.
	ErrBadPath = errors.New("units: malformed cgroup path")
	// ErrNoCgroup means /proc/<pid>/cgroup content had neither a cgroup v2
	// line nor a name=systemd line.
	ErrNoCgroup = errors.New("units: no usable cgroup line")
)

// maxPathLen bounds the cgroup paths the parser accepts (the kernel's
// PATH_MAX); longer input is rejected, never truncated into a wrong name.
const maxPathLen = 4096

// Unit is what a cgroup path says about the systemd unit a process ran in.
type Unit struct {
	// Name is the unit, e.g. "nginx.service", "getty@tty1.service",
	// "session-3.scope"; empty when the cgroup is in no unit. For a
	// process in a container it is the unit inside the container.
	Name string `json:"name"`
	// Kind is the unit type (KindService, KindScope, ...), empty with Name.
	Kind string `json:"kind,omitempty"`
	// Slice is the slice the unit sits in ("system.slice",
	// "user-1000.slice", "app.slice" for user units), if any.
	Slice string `json:"slice,omitempty"`
	// UID is the user whose service manager (user@UID.service) runs the
	// unit, or -1 for units of the system manager.
	UID int `json:"uid"`
	// Machine names the container the unit runs in ("foo" for
	// machine-foo.scope, "libpod-<12 hex>" for a podman container), empty
	// on the host.
	Machine string `json:"machine,omitempty"`
	// ContainerID is the full container id where the path carries one
	// (libpod's 64 hex digits).
	ContainerID string `json:"container_id,omitempty"`
	// Path is the cgroup path the unit was derived from.
	Path string `json:"path,omitempty"`
}

// unitTypes lists the unit types that can own processes (and a cgroup).
var unitTypes = map[string]string{
	".service": KindService,
	".scope":   KindScope,
	".slice":   KindSlice,
	".socket":  KindSocket,
	".mount":   KindMount,
	".swap":    KindSwap,
}

// unitKind returns the kind of a complete (plain or instance) unit name
// of a type that can own processes, or "".
func unitKind(name string) string {
	if !unitname.Valid(name, unitname.Plain|unitname.Instance) {
		return ""
	}
	return unitTypes[name[strings.LastIndexByte(name, '.'):]]
}

// libpodID returns the 64-hex container id of a "libpod-<id>.scope" or
// "libpod-payload-<id>" component.
func libpodID(comp string) (id string, scope bool) {
	switch {
	case strings.HasPrefix(comp, "libpod-payload-"):
		id = comp[len("libpod-payload-"):]
	case strings.HasPrefix(comp, "libpod-") && strings.HasSuffix(comp, ".scope"):
		id, scope = comp[len("libpod-"):len(comp)-len(".scope")], true
	default:
		return "", false
	}
	if len(id) != 64 {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return id, scope
}

// unescapeUnit undoes systemd's \xNN escaping in a name part; it returns
// the input unchanged when the result would hold non-printable bytes.
func unescapeUnit(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err == nil {
				if v < 0x20 || v >= 0x7f {
					return s
				}
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// machineName derives a container's name from the unit under
// machine.slice that holds its "payload": "foo" for machine-foo.scope
// (systemd-machined) and systemd-nspawn@foo.service, the unit's stem
// otherwise.
func machineName(comp string) string {
	if strings.HasPrefix(comp, "machine-") && strings.HasSuffix(comp, ".scope") {
		return unescapeUnit(comp[len("machine-") : len(comp)-len(".scope")])
	}
	stem := comp[:strings.LastIndexByte(comp, '.')]
	if _, inst, ok := strings.Cut(stem, "@"); ok {
		return unescapeUnit(inst)
	}
	return unescapeUnit(stem)
}

// userManagerUID returns N for a "user@N.service" component.
func userManagerUID(comp string) (int, bool) {
	if !strings.HasPrefix(comp, "user@") || !strings.HasSuffix(comp, ".service") {
		return 0, false
	}
	return unitname.ParseUID(comp[len("user@") : len(comp)-len(".service")])
}

// ParseCgroupPath derives the unit from a cgroup path such as
// "/system.slice/nginx.service" (v2, or v1 name=systemd), the way systemd
// does: after any slices, the first component is the unit; deeper
// directories are the unit's own (delegated) sub-cgroups and are covered
// by its filter, whatever they are called. user@UID.service starts a user
// manager's tree, and the unit is then the user's unit inside it (or the
// manager itself). A container starts only at
// "/machine.slice/<unit>/payload": only root can create cgroups in
// machine.slice, while anyone with a delegated subtree (user@UID.service,
// a Delegate=yes service) can make a "payload" directory, and what its
// owner builds below one is still that owner's unit. It returns
// ErrNotInUnit (with whatever was learnt, e.g. Machine) when the path
// names no unit, and ErrBadPath for input that is not a cgroup path.
func ParseCgroupPath(path string) (Unit, error) {
	u := Unit{UID: -1}
	if len(path) == 0 || path[0] != '/' || len(path) > maxPathLen || strings.IndexByte(path, 0) >= 0 {
		return u, fmt.Errorf("%w: %q", ErrBadPath, truncate(path))
	}
	u.Path = path
	comps := splitPath(path)
	if len(comps) == 0 {
		return u, ErrNotInUnit
	}
	start := 0
	if machine, ok := containerOf(comps); ok {
		u.Machine, start = machine, containerDepth
		if !event.ValidMachineName(u.Machine) {
			// A container's unit, but whose? Unknown beats a name that
			// could traverse a path or forge a line.
			return Unit{UID: -1}, fmt.Errorf("%w: container name %q", ErrBadPath, truncate(u.Machine))
		}
	}
	return parseTree(u, comps[start:])
}

// splitPath returns a cgroup path's components, each with one leading "_"
// of systemd's cg_escape dropped (it prefixes "_" to a name that starts
// with "_" or "." or looks like a controller file: "cpu.service" is the
// directory "_cpu.service"; cg_unescape drops one). The root is no
// component.
func splitPath(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	comps := strings.Split(path, "/")
	for i, c := range comps {
		comps[i] = strings.TrimPrefix(c, "_")
	}
	return comps
}

// parseTree names the unit of the components of one systemd's tree (the
// host's, or a container's below its payload) into u: after any slices
// the first unit, descending into a user manager (user@UID.service);
// libpod cgroups set Machine and ContainerID.
func parseTree(u Unit, comps []string) (Unit, error) {
	for _, c := range comps {
		if id, _ := libpodID(c); id != "" {
			u.Machine, u.ContainerID = "libpod-"+id[:12], id
		}
	}
	name, slice, rest := firstUnit(comps)
	if name == "" {
		return u, ErrNotInUnit
	}
	if uid, ok := userManagerUID(name); ok {
		if inner, islice, _ := firstUnit(rest); inner != "" && inner != "init.scope" {
			name, slice, u.UID = inner, islice, uid
		}
	}
	u.Name, u.Kind, u.Slice = name, unitKind(name), slice
	return u, nil
}

// containerDepth is where a container's own tree starts:
// machine.slice/<unit>/payload/...
const containerDepth = 3

// containerOf reports whether comps (a cgroup path's components) are in a
// container's own tree, "/machine.slice/<scope or service>/payload/...",
// and names its machine. Below machine.slice only root creates cgroups
// (systemd-machined's machine-NAME.scope, systemd-nspawn@NAME.service, a
// test harness); a "payload" anywhere else is a directory of whoever owns
// that subtree.
func containerOf(comps []string) (string, bool) {
	if len(comps) < containerDepth || comps[0] != "machine.slice" || comps[2] != "payload" {
		return "", false
	}
	switch unitKind(comps[1]) {
	case KindScope, KindService:
		return machineName(comps[1]), true
	}
	return "", false
}

// firstUnit skips leading slices and returns the next component when it
// is a unit that owns processes, the last slice skipped, and the
// components below the unit.
func firstUnit(comps []string) (name, slice string, rest []string) {
	for i, c := range comps {
		switch unitKind(c) {
		case KindSlice:
			slice = c
		case "":
			return "", "", nil
		default:
			return c, slice, comps[i+1:]
		}
	}
	return "", "", nil
}

// truncate shortens hostile input for error messages.
func truncate(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
