package unitprops

import (
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// boolDirectives are the boolean seccomp-backed settings, as D-Bus
// properties of the same name.
var boolDirectives = []string{
	"MemoryDenyWriteExecute", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID",
	"ProtectHostname", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
	"ProtectClock", "PrivateDevices", "DynamicUser",
}

// namespaceTypes are RestrictNamespaces= type names and their CLONE_NEW*
// flags (src/shared/nsflags.c, v252).
var namespaceTypes = []struct {
	name string
	flag uint64
}{
	{"cgroup", 0x02000000}, {"ipc", 0x08000000}, {"net", 0x40000000}, {"mnt", 0x00020000},
	{"pid", 0x20000000}, {"user", 0x10000000}, {"uts", 0x04000000},
}

// decodeSandbox builds the sandbox model from a unit's type properties
// (Service, Socket, ...). Every setting's source is its D-Bus property.
func decodeSandbox(typeProps map[string]any, allowList bool, filter []string, errNo int32, archs []string) sandbox.Sandbox {
	prop := func(name string) sandbox.Source { return sandbox.Source{Property: name} }
	sb := sandbox.Sandbox{Known: true, Settings: map[string]sandbox.Setting{}}
	sb.Filter = sandbox.FilterFromList(allowList, filter, prop("SystemCallFilter"))
	if errNo > 0 && errNo != ErrorNumberKill {
		sb.ErrorNumber, sb.ErrorNumberSource = errorNumberName(errNo), prop("SystemCallErrorNumber")
	}
	if len(archs) > 0 {
		sb.Architectures = sandbox.Setting{Value: strings.Join(archs, " "), Sources: []sandbox.Source{prop("SystemCallArchitectures")}}
	}
	for _, name := range boolDirectives {
		if v, ok := typeProps[name].(bool); ok && v {
			sb.Set(name, "yes", prop(name))
		}
	}
	var bs boolStrings
	if v, ok := typeProps["RestrictAddressFamilies"]; ok && dbus.Store([]any{v}, &bs) == nil {
		fams := sortedUnique(bs.Names)
		switch {
		case bs.Flag && len(fams) == 0:
			sb.Set("RestrictAddressFamilies", "none", prop("RestrictAddressFamilies"))
		case bs.Flag:
			sb.Set("RestrictAddressFamilies", strings.Join(fams, " "), prop("RestrictAddressFamilies"))
		case len(fams) > 0:
			sb.Set("RestrictAddressFamilies", "~"+strings.Join(fams, " "), prop("RestrictAddressFamilies"))
		}
	}
	if v, ok := typeProps["RestrictNamespaces"].(uint64); ok {
		var allowed []string
		all := true
		for _, t := range namespaceTypes {
			if v&t.flag != 0 {
				allowed = append(allowed, t.name)
			} else {
				all = false
			}
		}
		switch {
		case all:
		case len(allowed) == 0:
			sb.Set("RestrictNamespaces", "yes", prop("RestrictNamespaces"))
		default:
			sb.Set("RestrictNamespaces", strings.Join(allowed, " "), prop("RestrictNamespaces"))
		}
	}
	return sb
}

// annotateFromFiles replaces D-Bus property sources by the file and line of
// each assignment, where the unit's files (below root) say the same as
// systemd; systemd's values stay the truth. The newest file's modification
// time becomes the sandbox's ChangedAt.
func annotateFromFiles(p *Props, root string, table *syscalls.Table, noFollow bool) {
	if p.FragmentPath == "" {
		return
	}
	f := &Files{root: strings.TrimRight(root, "/"), table: table, noFollow: noFollow}
	m := newMerger(unitType(p.Unit), table)
	for _, file := range append([]string{p.FragmentPath}, p.DropInPaths...) {
		data, err := f.readLimited(file)
		if err != nil {
			continue
		}
		stat := os.Stat
		if noFollow {
			stat = os.Lstat
		}
		if fi, err := stat(f.hostPath(file)); err == nil && fi.ModTime().After(p.Sandbox.ChangedAt) {
			p.Sandbox.ChangedAt = fi.ModTime()
		}
		if opts, err := parseUnitFile(data); err == nil {
			m.add(file, opts)
		}
	}
	files := m.sandbox
	files.Resolve()
	sb := &p.Sandbox
	for name, st := range sb.Settings {
		if fs, ok := files.Settings[name]; ok && fs.Value == st.Value {
			st.Sources = fs.Sources
			sb.Settings[name] = st
		}
	}
	if files.Architectures.Value == sb.Architectures.Value {
		sb.Architectures.Sources = files.Architectures.Sources
	}
	if files.ErrorNumber == sb.ErrorNumber {
		sb.ErrorNumberSource = files.ErrorNumberSource
	}
	ff := &files.Filter
	if ff.Set == sb.Filter.Set && ff.AllowList == sb.Filter.AllowList {
		sb.Filter.Sources = ff.Sources
		for n, e := range sb.Filter.Entries {
			if fe, ok := ff.Entries[n]; ok && fe.Errno == e.Errno {
				e.Source = fe.Source
				sb.Filter.Entries[n] = e
			}
		}
		for n, src := range ff.Removed {
			if _, still := sb.Filter.Entries[n]; !still {
				if sb.Filter.Removed == nil {
					sb.Filter.Removed = map[string]sandbox.Source{}
				}
				sb.Filter.Removed[n] = src
			}
		}
	}
}

// ManagerAssignment is one assignment of the system manager's
// configuration.
type ManagerAssignment struct {
	Value string
	// File is as seen below the root; Line is 1-based.
	File string
	Line int
}

// systemConfDropInDirs are where systemd reads system.conf.d drop-ins,
// highest priority first.
var systemConfDropInDirs = []string{"/etc/systemd/system.conf.d", "/run/systemd/system.conf.d",
	"/usr/local/lib/systemd/system.conf.d", "/usr/lib/systemd/system.conf.d"}

// ManagerSettings returns the [Manager] assignments of name in the system
// manager's configuration below root, in the order systemd applies them:
// system.conf, then the system.conf.d drop-ins sorted by file name (a name
// in a higher-priority directory masking the same name in lower ones).
// Unreadable or unparsable files are skipped, as systemd skips them.
func ManagerSettings(root, name string) []ManagerAssignment {
	root = strings.TrimRight(root, "/")
	files := []string{"/etc/systemd/system.conf"}
	byName := map[string]string{}
	for _, d := range systemConfDropInDirs {
		ents, _ := os.ReadDir(root + d)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				if _, ok := byName[e.Name()]; !ok {
					byName[e.Name()] = path.Join(d, e.Name())
				}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, byName[n])
	}
	var out []ManagerAssignment
	for _, file := range files {
		data, err := os.ReadFile(root + file)
		if err != nil || len(data) > maxUnitFileSize {
			continue
		}
		opts, err := parseUnitFile(data)
		if err != nil {
			continue
		}
		for _, o := range opts {
			if o.Section == "Manager" && o.Name == name {
				out = append(out, ManagerAssignment{Value: o.Value, File: file, Line: o.Line})
			}
		}
	}
	return out
}

// ManagerArchitectures reads the manager-wide SystemCallArchitectures= of
// system.conf and its drop-ins (below root), which every unit inherits.
func ManagerArchitectures(root string) sandbox.Setting {
	var sb sandbox.Sandbox
	for _, a := range ManagerSettings(root, "SystemCallArchitectures") {
		sb.Assign("SystemCallArchitectures", a.Value, sandbox.Source{File: a.File, Line: a.Line})
	}
	return sb.Architectures
}

// ErrnoDenials reports whether some denial of a unit's sandbox answers
// with an errno rather than a kill (and is therefore logged only when the
// manager runs with SYSTEMD_LOG_SECCOMP=1): SystemCallFilter= with
// SystemCallErrorNumber= or a deny-list entry with its own ":errno", or any
// other seccomp-backed directive in force (they all return an errno).
func ErrnoDenials(p Props) bool {
	sb := p.Sandbox
	if sb.Filter.Set && (sb.DefaultAction() == "errno") {
		return true
	}
	for _, e := range sb.Filter.Entries {
		if e.Errno != "" && !sb.Filter.AllowList {
			return true
		}
	}
	for _, d := range sandbox.Directives {
		if sb.On(d) {
			return true
		}
	}
	return false
}

var versionCache sync.Map // address -> int

// managerVersion returns the manager's systemd version (its Version
// property, e.g. "252.19-1~deb12u1" → 252), 0 when unknown.
func (d *DBus) managerVersion(conn *sdbus.Conn) int {
	if v, ok := versionCache.Load(d.address); ok {
		return v.(int)
	}
	s, err := conn.GetManagerProperty("Version")
	if err != nil {
		versionCache.Store(d.address, 0) // asked once: the rules of sandbox.DefaultVersion apply
		return 0
	}
	s = strings.Trim(s, `"`)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	v, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	versionCache.Store(d.address, v)
	return v
}
