package unitprops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// SystemSearchPath is systemd's unit search path for the system manager,
// highest priority first (systemd.unit(5), "Unit File Load Path";
// `systemd-analyze unit-paths` prints the same list on Debian 12).
var SystemSearchPath = []string{
	"/etc/systemd/system.control",
	"/run/systemd/system.control",
	"/run/systemd/transient",
	"/run/systemd/generator.early",
	"/etc/systemd/system",
	"/etc/systemd/system.attached",
	"/run/systemd/system",
	"/run/systemd/system.attached",
	"/run/systemd/generator",
	"/usr/local/lib/systemd/system",
	"/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/run/systemd/generator.late",
}

// UserSearchPath returns the user manager's unit search path for a user
// with the given home directory and runtime directory (e.g.
// "/run/user/1000"), highest priority first (systemd.unit(5), without the
// $XDG_* overrides).
func UserSearchPath(home, runtimeDir string) []string {
	var p []string
	if home != "" {
		p = append(p, home+"/.config/systemd/user.control")
	}
	if runtimeDir != "" {
		p = append(p, runtimeDir+"/systemd/user.control", runtimeDir+"/systemd/transient",
			runtimeDir+"/systemd/generator.early")
	}
	if home != "" {
		p = append(p, home+"/.config/systemd/user")
	}
	p = append(p, "/etc/xdg/systemd/user", "/etc/systemd/user")
	if runtimeDir != "" {
		p = append(p, runtimeDir+"/systemd/user")
	}
	p = append(p, "/run/systemd/user")
	if runtimeDir != "" {
		p = append(p, runtimeDir+"/systemd/generator")
	}
	if home != "" {
		p = append(p, home+"/.local/share/systemd/user")
	}
	p = append(p, "/usr/local/share/systemd/user", "/usr/share/systemd/user",
		"/usr/local/lib/systemd/user", "/usr/lib/systemd/user")
	if runtimeDir != "" {
		p = append(p, runtimeDir+"/systemd/generator.late")
	}
	return p
}

// FilesOptions configures a Files provider.
type FilesOptions struct {
	// Root is prepended to every path that is read ("" or "/" for the
	// host). Paths in Props are reported as seen below Root.
	Root string
	// SearchPath overrides the unit search path (absolute paths below
	// Root, highest priority first). Nil means SystemSearchPath, or
	// UserSearchPath(Home, RuntimeDir) when User is set.
	SearchPath []string
	// User selects the user manager's search path; Props.UserUnit is set.
	User bool
	// Home and RuntimeDir locate a user's units when User is set.
	Home, RuntimeDir string
}

// Files reads unit properties from unit files and drop-ins on disk. It
// reads the files on each call (no cache) and is safe for concurrent use.
type Files struct {
	table *syscalls.Table
	root  string
	dirs  []string
	user  bool
	// noFollow: read files without following any symbolic link in their
	// path (a user manager's files, whose paths that user controls).
	noFollow bool
	// listed, when not nil, holds the names in each search-path
	// directory as listed once (see listDirs): a path whose name is not
	// there is not looked up. Only ExecIndex's copy has it.
	listed map[string]map[string]bool
}

// listDirs lists every search-path directory once. A directory that
// does not exist lists nothing; one that cannot be read is left out, and
// its paths are looked up one by one.
func (f *Files) listDirs() map[string]map[string]bool {
	listed := make(map[string]map[string]bool, len(f.dirs))
	for _, d := range f.dirs {
		ents, err := os.ReadDir(f.hostPath(d))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		names := make(map[string]bool, len(ents))
		for _, e := range ents {
			names[e.Name()] = true
		}
		listed[d] = names
	}
	return listed
}

// mayExist reports whether p (a path below Root) can exist: false only
// when p is in a listed directory that did not hold its name.
func (f *Files) mayExist(p string) bool {
	if f.listed == nil {
		return true
	}
	dir, name := path.Split(p)
	names, ok := f.listed[strings.TrimSuffix(dir, "/")]
	return !ok || names[name]
}

var _ Provider = (*Files)(nil)

// NewFiles returns a unit-file provider. table expands @groups in
// SystemCallFilter= and SystemCallLog=; with a nil table, or for a group
// the table does not know, the "@group" entry is kept as written.
func NewFiles(table *syscalls.Table, opts FilesOptions) *Files {
	dirs := opts.SearchPath
	if dirs == nil {
		if opts.User {
			dirs = UserSearchPath(opts.Home, opts.RuntimeDir)
		} else {
			dirs = SystemSearchPath
		}
	}
	root := opts.Root
	if root == "/" {
		root = ""
	}
	return &Files{table: table, root: strings.TrimRight(root, "/"), dirs: dirs, user: opts.User}
}

// hostPath maps a path as seen below Root to the path to open.
func (f *Files) hostPath(p string) string {
	if f.root == "" {
		return p
	}
	return f.root + p
}

// fragment is the unit file chosen for a name.
type fragment struct {
	path   string // as seen below Root (after alias resolution)
	alias  string // real name when path is an alias symlink to another name
	masked bool
}

// findFragment applies systemd's precedence: the first search-path
// directory holding the name wins; an instance falls back to its template.
func (f *Files) findFragment(name string) (fragment, bool) {
	for _, n := range []string{name, templateOf(name)} {
		if n == "" {
			continue
		}
		for _, d := range f.dirs {
			p := d + "/" + n
			if !f.mayExist(p) {
				continue
			}
			fi, err := os.Lstat(f.hostPath(p))
			if err != nil {
				continue
			}
			fr := fragment{path: p}
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, ok := f.resolveLink(p)
				if !ok {
					continue // dangling: systemd skips it too
				}
				if target == "/dev/null" {
					fr.masked = true
					return fr, true
				}
				if b := path.Base(target); b != n {
					fr.alias = b
				}
				fr.path = target
				fi, err = os.Stat(f.hostPath(target))
				if err != nil {
					continue
				}
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			if fi.Size() == 0 {
				fr.masked = true
			}
			return fr, true
		}
	}
	return fragment{}, false
}

// resolveLink follows a chain of symlinks below Root (at most 16), and
// returns the final path as seen below Root.
func (f *Files) resolveLink(p string) (string, bool) {
	for range 16 {
		fi, err := os.Lstat(f.hostPath(p))
		if err != nil {
			if p == "/dev/null" {
				return p, true
			}
			return "", false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, true
		}
		t, err := os.Readlink(f.hostPath(p))
		if err != nil {
			return "", false
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(p), t)
		}
		p = path.Clean(t)
		if p == "/dev/null" {
			return p, true
		}
	}
	return "", false
}

// realPath resolves every symlink of an absolute path below Root
// (directories included, as the kernel's exe= does). It returns p
// unchanged when something along the way is missing.
func (f *Files) realPath(p string) string {
	if !path.IsAbs(p) {
		return p
	}
	parts := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	cur := "/"
	hops := 0
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		fi, err := os.Lstat(f.hostPath(next))
		if err != nil {
			return p
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			hops++
			if hops > 32 {
				return p
			}
			t, err := os.Readlink(f.hostPath(next))
			if err != nil {
				return p
			}
			if !path.IsAbs(t) {
				t = path.Join(cur, t)
			}
			rest := append(strings.Split(strings.TrimPrefix(path.Clean(t), "/"), "/"), parts[i+1:]...)
			parts, i, cur = rest, -1, "/"
			continue
		}
		cur = next
	}
	return cur
}

// dropInDirs lists the drop-in directories for a unit in systemd's order
// (src/shared/dropin.c): for each search-path directory, the unit's own
// name.d, its template's, then its dash prefixes' ("a-b-.service.d",
// "a-.service.d"); then the same for the alias; the type-wide
// "service.d" directories last.
func (f *Files) dropInDirs(names []string) []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		if !f.mayExist(p) {
			return
		}
		if fi, err := os.Stat(f.hostPath(p)); err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		for _, d := range f.dirs {
			for _, cand := range dropInNames(n) {
				add(d + "/" + cand + ".d")
			}
		}
	}
	if len(names) > 0 {
		if i := strings.LastIndexByte(names[0], '.'); i >= 0 {
			for _, d := range f.dirs {
				add(d + "/" + names[0][i+1:] + ".d")
			}
		}
	}
	return dirs
}

// maxDropInNames bounds the names dropInNames returns (a name with many
// dashes has quadratically many prefix forms).
const maxDropInNames = 1024

// dropInNames returns the names whose ".d" directories apply to name, in
// systemd's order (unit_file_find_dirs in src/shared/dropin.c): the name;
// for an instance, then everything of its template; then everything of its
// dash prefix, which keeps the instance ("foo-bar@i.service" →
// "foo-@i.service", whose template is "foo-@.service").
func dropInNames(name string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(n string)
	walk = func(n string) {
		if seen[n] || len(out) >= maxDropInNames {
			return
		}
		seen[n] = true
		out = append(out, n)
		if t := templateOf(n); t != "" && t != n {
			walk(t)
		}
		dot := strings.LastIndexByte(n, '.')
		if dot < 0 {
			return
		}
		typ, prefix, instance := n[dot:], n[:dot], ""
		if at := strings.IndexByte(prefix, '@'); at >= 0 {
			prefix, instance = prefix[:at], prefix[at:]
			if instance == "@" {
				instance = "" // a template's prefixes are templates of nothing
			}
		}
		// The last dash that is not trailing ends the prefix; a trailing
		// dash is chopped once first ("a-b-" → "a-").
		chopped := false
		for {
			dash := strings.LastIndexByte(prefix, '-')
			if dash <= 0 {
				return
			}
			if dash+1 < len(prefix) || chopped {
				prefix = prefix[:dash+1]
				break
			}
			prefix, chopped = prefix[:dash], true
		}
		walk(prefix + instance + typ)
	}
	walk(name)
	return out
}

// dropIns returns the drop-in files in application order: by file name;
// for equal names the file in the earlier directory wins; a file that is
// empty or a link to /dev/null masks that name.
func (f *Files) dropIns(dirs []string) []string {
	byName := map[string]string{}
	masked := map[string]bool{}
	for _, d := range dirs {
		ents, err := os.ReadDir(f.hostPath(d))
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if !strings.HasSuffix(n, ".conf") {
				continue
			}
			if _, ok := byName[n]; ok || masked[n] {
				continue
			}
			p := d + "/" + n
			target, ok := f.resolveLink(p)
			if !ok {
				continue
			}
			if target == "/dev/null" {
				masked[n] = true
				continue
			}
			fi, err := os.Stat(f.hostPath(target))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if fi.Size() == 0 {
				masked[n] = true
				continue
			}
			byName[n] = p
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out
}

// readLimited reads at most maxUnitFileSize+1 bytes of a file below Root.
func (f *Files) readLimited(p string) ([]byte, error) {
	var fh *os.File
	var err error
	if f.noFollow {
		fh, err = OpenNoFollow(f.hostPath(p))
	} else {
		fh, err = os.Open(f.hostPath(p))
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, maxUnitFileSize+1))
}

// Props implements Provider. A unit without a unit file (or masked) gives
// Found=false and no error; unreadable or unparsable files give an error
// wrapping ErrUnitFile or the I/O error, with what could be read so far.
func (f *Files) Props(ctx context.Context, unit string) (Props, error) {
	return f.props(ctx, unit, true)
}

// props is Props; without full it reads only what ExecIndex needs of
// every unit, the binaries it runs (ExecPaths, FragmentPath,
// DropInPaths): not the sandbox, the files' texts and times, or the
// manager's configuration (system.conf and its drop-ins).
func (f *Files) props(ctx context.Context, unit string, full bool) (Props, error) {
	p := Props{Unit: unit, Source: SourceUnitFiles, UserUnit: f.user}
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		return p, err
	}
	if err := ctx.Err(); err != nil {
		return p, fmt.Errorf("unitprops: %w", err)
	}
	fr, ok := f.findFragment(unit)
	if !ok || fr.masked {
		return p, nil
	}
	p.Found = true
	p.FragmentPath = fr.path
	names := []string{unit}
	if fr.alias != "" {
		names = append(names, fr.alias)
	}
	p.DropInPaths = f.dropIns(f.dropInDirs(names))
	files := append([]string{fr.path}, p.DropInPaths...)
	var errs []error
	var changed time.Time
	m := newMerger(unitType(unit), f.table)
	m.execOnly = !full
	if v, err := strconv.Atoi(f.tableVersion()); err == nil {
		m.sandbox.Version = v // assignments parse as this systemd would
	}
	for i, file := range files {
		data, err := f.readLimited(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("unitprops: read %s: %w", file, err))
			continue
		}
		if i > 0 && full {
			if p.DropIns == nil {
				p.DropIns = make(map[string]string)
			}
			p.DropIns[file] = string(data)
		}
		if full {
			if fi, err := os.Stat(f.hostPath(file)); err == nil && fi.ModTime().After(changed) {
				changed = fi.ModTime()
			}
		}
		opts, err := parseUnitFile(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("unitprops: parse %s: %w", file, err))
			continue
		}
		m.add(file, opts)
	}
	m.fill(&p, f.resolveExec)
	p.Sandbox.ChangedAt = changed
	if !f.user && full {
		p.Sandbox.ManagerArchitectures = ManagerArchitectures(f.root)
	}
	if v, err := strconv.Atoi(f.tableVersion()); err == nil {
		p.Sandbox.Version = v
	}
	if len(errs) > 0 {
		// systemd would not have loaded what could not be read: the
		// sandbox is not known for sure.
		p.Sandbox.Known, p.Sandbox.Unknown = false, "the unit's files could not all be read"
	}
	return p, errors.Join(errs...)
}

// resolveExec maps a command name to the path systemd would run: absolute
// paths stay; other names are looked up in systemd's fixed search path
// below Root, and stay as they are when not found.
func (f *Files) resolveExec(name string) string {
	if path.IsAbs(name) || strings.ContainsRune(name, '/') {
		return name
	}
	for _, d := range defaultExecSearchPath {
		p := d + "/" + name
		if fi, err := os.Stat(f.hostPath(p)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}

// tableVersion is the systemd version of the group table ("" without).
func (f *Files) tableVersion() string {
	if f.table == nil {
		return ""
	}
	return f.table.Version
}

// merger accumulates the assignments of a unit file and its drop-ins.
type merger struct {
	section string
	table   *syscalls.Table
	sandbox sandbox.Sandbox
	log     sandbox.Filter
	errno   int32
	hasErr  bool
	exec    map[string][]string // key -> binaries (reset by empty assignment)
	// execOnly merges the Exec*= settings alone (see Files.props).
	execOnly bool
}

func newMerger(typ string, table *syscalls.Table) *merger {
	return &merger{section: typ, table: table, exec: map[string][]string{}}
}

// add merges the options of one file (its path as seen by systemd).
func (m *merger) add(file string, opts []option) {
	if !execSection(m.section) {
		return
	}
	for _, o := range opts {
		if o.Section != m.section {
			continue
		}
		if m.execOnly && !execKeys[o.Name] {
			continue
		}
		src := sandbox.Source{File: file, Line: o.Line}
		switch o.Name {
		case "SystemCallFilter":
			m.sandbox.Filter.Assign(o.Value, src, m.table, true)
		case "SystemCallLog":
			m.log.Assign(o.Value, src, m.table, false)
		case "SystemCallErrorNumber":
			if o.Value == "" {
				m.errno, m.hasErr = 0, false
				m.sandbox.Assign(o.Name, "", src)
				continue
			}
			if v, ok := parseErrorNumber(o.Value); ok {
				m.errno, m.hasErr = v, v != ErrorNumberKill
				m.sandbox.Assign(o.Name, errorNumberName(v), src)
			}
		default:
			if m.sandbox.Assign(o.Name, o.Value, src) {
				continue
			}
			if execKeys[o.Name] {
				if o.Value == "" {
					delete(m.exec, o.Name)
					continue
				}
				m.exec[o.Name] = append(m.exec[o.Name], ExecBinaries(o.Value)...)
			}
		}
	}
}

func (m *merger) fill(p *Props, resolve func(string) string) {
	f := &m.sandbox.Filter
	p.AllowList = f.Set && f.AllowList
	p.Filter = f.List()
	p.LogAllowList = m.log.Set && m.log.AllowList
	p.Log = m.log.List()
	p.ErrorNumber, p.HasErrorNumber = m.errno, m.hasErr
	if !m.hasErr && m.errno == 0 && execSection(m.section) {
		p.ErrorNumber = ErrorNumberKill
	}
	if v := m.sandbox.Architectures.Value; v != "" {
		p.Architectures = strings.Fields(v)
	}
	p.Sandbox = m.sandbox
	p.Sandbox.Resolve()
	p.Sandbox.Known = execSection(m.section)
	if !p.Sandbox.Known {
		p.Sandbox.Unknown = "a " + strings.ToLower(m.section) + " unit has no seccomp settings"
	}
	seen := map[string]bool{}
	for _, bins := range m.exec {
		for _, b := range bins {
			b = resolve(b)
			if !seen[b] {
				seen[b] = true
				p.ExecPaths = append(p.ExecPaths, b)
			}
		}
	}
	sort.Strings(p.ExecPaths)
}
