package suggest

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// ErrnoKill is the SystemCallErrorNumber value systemd reports over D-Bus
// when the action is "kill" (SECCOMP_RET_KILL_PROCESS).
const ErrnoKill = 2147483646

// DropinName is the file name of the drop-ins seccompwatch proposes.
const DropinName = sandbox.DropinName

// Policy is a unit's current seccomp configuration, as systemd reports it
// over D-Bus. A nil *Policy, or one with Known false, means it is unknown
// (replay without D-Bus, tests).
type Policy struct {
	// Known reports whether the fields below were read from systemd.
	Known bool
	// AllowList is the SystemCallFilter property's flag: true for an
	// allow-list, false for a "~" deny-list. With AllowList false and no
	// Names the unit has no filter at all.
	AllowList bool
	// Names are the filter's expanded syscall names; deny-list entries may
	// carry ":errno" (e.g. "mount:EPERM"). Unexpanded @groups are expanded
	// with the table in use.
	Names []string
	// ErrorNumber is SystemCallErrorNumber= when HasErrorNumber is set
	// (ErrnoKill means kill).
	ErrorNumber    int32
	HasErrorNumber bool
	// Architectures is SystemCallArchitectures=, systemd spellings
	// ("x86-64", "x86", "native", ...); empty means unrestricted.
	Architectures []string
	// LogSeccomp reports that denials of this unit are logged anyway: the
	// manager runs with SYSTEMD_LOG_SECCOMP=1, or a learning drop-in is
	// active.
	LogSeccomp bool
	// ExecPaths are the unit's own binaries (ExecStart= and its siblings).
	// When empty, no denial is flagged as coming from a foreign binary.
	ExecPaths []string
	// FragmentPath, SourcePath and DropInPaths are the unit's files.
	// SourcePath is set for generated units (e.g. a quadlet .container).
	FragmentPath string
	SourcePath   string
	DropInPaths  []string
	// UserUnit reports a unit of a user manager (user@UID.service) of
	// user UID.
	UserUnit bool
	UID      int
	// Sandbox is the unit's whole seccomp sandbox, each setting with
	// where it was made. Nil: built from the fields above (filter,
	// error number and architectures only, no sources).
	Sandbox *sandbox.Sandbox
	// Retry marks a configuration that could not be read now (a D-Bus
	// call that timed out, a bus reconnecting; Sandbox.Unknown says
	// which): not an unknown configuration, asking again may succeed.
	Retry bool
}

// JudgeCall judges one call of a unit against its policy (nil: unknown),
// as Compute does for each of the unit's aggregates.
func JudgeCall(p *Policy, t *syscalls.Table, c sandbox.Call) sandbox.Verdict {
	known := p != nil && p.Known
	if p != nil && p.Sandbox != nil && !p.Sandbox.Known {
		known = false
	}
	return sandbox.Judge(sandboxOf(p, known, t), t, c)
}

// sandboxOf returns the sandbox a verdict is judged against.
func sandboxOf(p *Policy, known bool, t *syscalls.Table) *sandbox.Sandbox {
	if !known {
		if p != nil && p.Sandbox != nil {
			return p.Sandbox
		}
		return nil
	}
	if p.Sandbox != nil && p.Sandbox.Known {
		return p.Sandbox
	}
	sb := &sandbox.Sandbox{Known: true}
	src := sandbox.Source{} // where is not known
	var names []string
	for _, n := range p.Names {
		if g, errno, _ := strings.Cut(n, ":"); strings.HasPrefix(g, "@") && t != nil && t.HasGroup(g) {
			for _, m := range t.Members(g) {
				if errno != "" {
					m += ":" + errno
				}
				names = append(names, m)
			}
			continue
		}
		names = append(names, n)
	}
	sb.Filter = sandbox.FilterFromList(p.AllowList, names, src)
	if p.HasErrorNumber && p.ErrorNumber != ErrnoKill {
		sb.ErrorNumber = errnoName(p.ErrorNumber)
	}
	if len(p.Architectures) > 0 {
		sb.Architectures = sandbox.Setting{Value: strings.Join(p.Architectures, " ")}
	}
	return sb
}

// Granularity says whether Compute proposes syscalls only, or groups too.
type Granularity int

// The granularities. GranularitySyscall, the default, proposes exactly the
// denied syscalls; GranularityGroup may propose a group instead when at
// least two denied syscalls share one, the group adds nothing risky and at
// most 64 other syscalls (never @system-service, @known or @default).
const (
	GranularitySyscall Granularity = iota
	GranularityGroup
)

// String returns "syscall" or "group".
func (g Granularity) String() string {
	if g == GranularityGroup {
		return "group"
	}
	return "syscall"
}

// Options tune Compute.
type Options struct {
	// Table is the group table in use; every output names its Source.
	Table *syscalls.Table
	// AllowRisky includes risky, foreign-binary and architecture lines
	// instead of commenting them out.
	AllowRisky bool
	// Granularity picks syscall (default) or group lines.
	Granularity Granularity
	// Generator names the program in output headers, e.g.
	// "seccompwatch 0.1.0".
	Generator string
	// Allow opts in to widenings that undo a deliberate setting, per item:
	// a syscall name (a "~" removal of it) or a directive name
	// ("MemoryDenyWriteExecute", "SystemCallArchitectures", ...).
	// AllowRisky does not imply any of them, nor they AllowRisky.
	Allow map[string]bool
}

// Line is one proposed SystemCallFilter= entry, or one entry that needs no
// change, with everything a reviewer needs to judge it.
type Line struct {
	// Syscalls are the denied syscalls the line covers (one, unless Group
	// is set).
	Syscalls []string
	// Group is set when the line proposes a whole group (e.g.
	// "@file-system") instead of Syscalls.
	Group string
	// Groups are all groups containing the line's syscalls (table in use).
	Groups []string
	// Adds lists, for a group line, the syscalls the group grants beyond
	// the denied ones (and beyond what the unit already allows).
	Adds []string
	// Arches are the ABIs the calls came from (audit spellings).
	Arches []string
	// Count, FirstSeen and LastSeen summarise the denials.
	Count     uint64
	FirstSeen time.Time
	LastSeen  time.Time
	// Exes and Comms are the distinct values seen (raw; renderers
	// sanitize them). ExesDropped counts denials whose exe was not kept.
	Exes        []string
	Comms       []string
	ExesDropped uint64
	// Actions counts the denials by action name.
	Actions map[string]uint64
	// Risky: a risky syscall (see Risk). Foreign: an exe that is not one
	// of the unit's own binaries. Observed: only log/allow records, i.e.
	// calls used but not denied (learning mode).
	Risky, Foreign, Observed bool
	// Reason explains the proposal, for comments and reviews.
	Reason string
	// Included reports whether the line is an active directive (false:
	// it is rendered commented out).
	Included bool
	// Verdict says what denied the line's (first) call; nil when the
	// unit's configuration is unknown.
	Verdict *sandbox.Verdict
	// Set is the assignment of a line that changes a directive other
	// than SystemCallFilter= (e.g. "MemoryDenyWriteExecute=no"); Lifts
	// names that directive. A line with Lifts and no Set proposes
	// nothing: the record cannot tell what to change (Reason says how to
	// find out).
	Set   string
	Lifts string
	// Needs are the --allow names the line needs to be included (it
	// undoes a deliberate setting).
	Needs []string
}

// Directive returns the line's systemd directive, e.g.
// "SystemCallFilter=socket", "SystemCallFilter=@file-system" or
// "MemoryDenyWriteExecute=no"; "" for a line that proposes nothing.
func (l Line) Directive() string {
	if l.Lifts != "" {
		return l.Set
	}
	if l.Group != "" {
		return "SystemCallFilter=" + l.Group
	}
	return "SystemCallFilter=" + strings.Join(l.Syscalls, " ")
}

// ArchNote proposes an architecture change for calls that
// SystemCallArchitectures= denied (a non-native ABI).
type ArchNote struct {
	// Arch is the ABI (audit spelling, e.g. "i386"); SystemdName its
	// SystemCallArchitectures= spelling (e.g. "x86").
	Arch        string
	SystemdName string
	// Syscalls are the calls denied on that ABI.
	Syscalls  []string
	Count     uint64
	FirstSeen time.Time
	LastSeen  time.Time
	Exes      []string
	// Reason explains the note; Directive is the proposed assignment
	// (SystemCallArchitectures= lists merge, so it adds the ABI), "" when
	// none can lift it (the manager's system.conf restricts the ABI).
	Reason    string
	Directive string
	// Included reports whether the directive is active: only with the
	// opt-in Allow["SystemCallArchitectures"] (the setting is deliberate,
	// and a compat ABI widens the kernel attack surface).
	Included bool
	// Verdict is the architecture verdict; nil when the unit's
	// configuration is unknown.
	Verdict *sandbox.Verdict
}

// Suggestion is Compute's result for one unit.
type Suggestion struct {
	Unit    string
	Machine string
	// Config fingerprints the unit's seccomp configuration as judged
	// (ConfigHash), "" when unknown: two hosts whose Config differ run
	// the unit differently, and one drop-in may not fit both.
	Config string
	// Node is the host the records came from, as a central log names it
	// (auditd's node=); "" when they named none. Suggestions of two nodes
	// are never merged: a unit of that name on two hosts is two units.
	Node string
	// UserUnit and UID: a unit of the user manager user@UID.service.
	UserUnit bool
	UID      int
	// Path is where the drop-in belongs ("" when not Applicable). For a
	// unit inside a container (Machine set) it is a path in that
	// machine's file system.
	Path string
	// Table is the Source of the group table in use; Generator and
	// Granularity echo the options.
	Table       string
	Generator   string
	Granularity Granularity
	// Mode is the unit's filter mode: "allow-list", "deny-list", "none"
	// or "unknown".
	Mode string
	// Total, FirstSeen and LastSeen summarise all of the unit's records.
	Total     uint64
	FirstSeen time.Time
	LastSeen  time.Time
	// Lines are the proposed directives (included or commented out).
	Lines []Line
	// Kept are directives carried over, verbatim, from the unit's current
	// drop-in at Path (see CarryOver); rendered before Lines, each after
	// its KeptEvidence (the comment lines above it there, sanitized).
	Kept         []string
	KeptEvidence map[string][]string
	// ArchNotes propose SystemCallArchitectures= changes.
	ArchNotes []ArchNote
	// Warnings need the operator's attention; Notes are informational.
	Warnings []string
	Notes    []string
	// NoChange lists calls that need no change: already allowed, noise,
	// or not denied by the unit's filter.
	NoChange []Line
	// Unknown says why the unit's configuration is unknown (Mode
	// "unknown"; "" when no reason was given), and Retry that it could
	// not be read now (Policy.Retry): a later request may succeed.
	Unknown string
	Retry   bool
	// Applicable is false for pseudo-units ("unknown",
	// "unattributed:<exe>"), invalid unit names and unit types without a
	// filter: the drop-in is then an advisory comment only.
	Applicable bool
}

// Included reports whether s has at least one active directive.
func (s Suggestion) Included() bool {
	if len(s.Kept) > 0 {
		return true
	}
	for _, l := range s.Lines {
		if l.Included {
			return true
		}
	}
	for _, n := range s.ArchNotes {
		if n.Included {
			return true
		}
	}
	return false
}

// DropinPath returns where the drop-in of a unit belongs:
// /etc/systemd/system/<unit>.d/50-seccompwatch.conf, or for a user unit
// /etc/systemd/user/<unit>.d/50-seccompwatch.conf. The latter applies to
// that unit of every user; Compute notes how to restrict it to one user.
// The unit name is validated first (unitname.ErrInvalid).
func DropinPath(unit string, user bool) (string, error) {
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		return "", err
	}
	dir := "/etc/systemd/system"
	if user {
		dir = "/etc/systemd/user"
	}
	return path.Join(dir, unit+".d", DropinName), nil
}

// validSyscallName reports whether s can appear in SystemCallFilter=.
func validSyscallName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// denies reports whether an action name stops the call.
func denies(action string) bool {
	return action != "log" && action != "allow"
}

// systemdOwn reports whether exe is one of systemd's own binaries.
func systemdOwn(exe string) bool {
	exe = canonicalExe(exe)
	return strings.HasPrefix(exe, "/usr/lib/systemd/")
}

// canonicalExe maps merged-/usr aliases (/bin, /sbin, /lib, /lib64) to
// their /usr paths and drops the " (deleted)" suffix of replaced binaries.
func canonicalExe(exe string) string {
	exe = strings.TrimSuffix(exe, " (deleted)")
	for _, p := range []string{"/bin/", "/sbin/", "/lib/", "/lib64/"} {
		if strings.HasPrefix(exe, p) {
			return "/usr" + exe
		}
	}
	return exe
}

// acc accumulates the aggregates of one syscall name across ABIs.
type acc struct {
	name        string
	arches      []string
	count       uint64
	first, last time.Time
	exes, comms []string
	exesDropped uint64
	actions     map[string]uint64
	denied      bool // any denying action
	abis        []SyscallAggregate
}

func (a *acc) add(s SyscallAggregate) {
	if !contains(a.arches, s.Arch.String()) {
		a.arches = append(a.arches, s.Arch.String())
	}
	a.count += s.Count
	a.first, a.last = widen(a.first, a.last, s.FirstSeen)
	a.first, a.last = widen(a.first, a.last, s.LastSeen)
	for _, e := range s.Exes {
		if !contains(a.exes, e) {
			a.exes = append(a.exes, e)
		}
	}
	for _, c := range s.Comms {
		if !contains(a.comms, c) {
			a.comms = append(a.comms, c)
		}
	}
	a.exesDropped += s.ExesDropped
	for k, n := range s.Actions {
		a.actions[k] += n
		if denies(k) && n > 0 {
			a.denied = true
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *acc) line() Line {
	sort.Strings(a.arches)
	return Line{
		Syscalls: []string{a.name}, Arches: a.arches, Count: a.count,
		FirstSeen: a.first, LastSeen: a.last, Exes: a.exes, Comms: a.comms,
		ExesDropped: a.exesDropped, Actions: a.actions, Observed: !a.denied,
	}
}

// Compute proposes, for one unit's aggregate and the unit's current policy
// (nil: unknown), the smallest change that lifts each denial: judged
// against the unit's whole sandbox (sandbox.Judge), a SystemCallFilter=
// line where that filter is the denier, the directive's own change where
// another directive is, and nothing active where the configuration is
// unknown or a change would undo a deliberate setting without its opt-in
// (Options.Allow). It is pure and deterministic.
func Compute(u UnitAggregate, p *Policy, opts Options) Suggestion {
	t := opts.Table
	s := Suggestion{
		Unit: u.Unit, Machine: u.Machine, UserUnit: u.UserUnit, UID: u.UID, Generator: opts.Generator,
		Granularity: opts.Granularity, Total: u.Total,
		FirstSeen: u.FirstSeen, LastSeen: u.LastSeen, Mode: "unknown",
	}
	if t != nil {
		s.Table = t.Source
	} else {
		s.Warnings = append(s.Warnings, "no syscall group table: groups and risk are unknown, every line is flagged")
	}
	known := p != nil && p.Known
	var unknownWhy string
	if p != nil && p.Sandbox != nil && !p.Sandbox.Known {
		known, unknownWhy = false, p.Sandbox.Unknown
	}
	if !known {
		s.Unknown, s.Retry = unknownWhy, p != nil && p.Retry
	}
	if !known {
		p = &Policy{}
	}
	if u.UserUnit && !p.UserUnit {
		// The records say whose unit it is; a policy read for the
		// system unit of that name is not this unit's. (An unknown
		// policy keeps its own reason.)
		if known {
			unknownWhy = "the policy read is the system unit's, not this user unit's"
			s.Unknown = unknownWhy
		}
		known, p = false, &Policy{UserUnit: true, UID: u.UID}
	}
	s.applicability(p)
	if known {
		s.Mode = modeOf(p)
	}
	sb := sandboxOf(p, known, t)
	if known {
		s.Config = ConfigHash(p, sb)
	}
	policyNames := expandNames(t, p.Names)

	// Per ABI: architecture denials and unknown numbers; the rest merges
	// by name.
	accs := map[string]*acc{}
	arch := map[syscalls.Arch]*ArchNote{}
	for _, sa := range u.Syscalls {
		deniedHere := false
		for k, n := range sa.Actions {
			if denies(k) && n > 0 {
				deniedHere = true
			}
		}
		if deniedHere && archDenied(p, known, sb, t, sa) {
			if sa.Arch == syscalls.ArchUnknown {
				s.Warnings = append(s.Warnings, fmt.Sprintf(
					"%d denials on an ABI without a table (arch %s, syscall %d): neither a syscall nor an architecture line is possible",
					sa.Count, syscalls.ArchLabel(sa.Arch, sa.AuditArch), sa.Nr))
				continue
			}
			addArchNote(arch, sa, known, sb, t, opts.Allow)
			continue
		}
		if sa.Syscall == "unknown" || !validSyscallName(sa.Syscall) {
			what := "has no name in the syscall table"
			if sa.Syscall != "unknown" && sa.Syscall != "" {
				what = "has an invalid name " + quote(sa.Syscall, 64)
			}
			s.Warnings = append(s.Warnings, fmt.Sprintf(
				"%s syscall %d %s (%d records): no SystemCallFilter= line is possible",
				syscalls.ArchLabel(sa.Arch, sa.AuditArch), sa.Nr, what, sa.Count))
			continue
		}
		a := accs[sa.Syscall]
		if a == nil {
			a = &acc{name: sa.Syscall, actions: map[string]uint64{}}
			accs[sa.Syscall] = a
		}
		a.add(sa)
		a.abis = append(a.abis, sa)
	}
	names := make([]string, 0, len(accs))
	for n := range accs {
		names = append(names, n)
	}
	sort.Strings(names)

	var calls []callPlan
	for _, n := range names {
		a := accs[n]
		l := a.line()
		if t != nil {
			l.Groups = t.Groups(n)
		}
		if !known {
			if reason, ok := noChange(l, p, known, policyNames); ok {
				l.Reason = reason
				s.NoChange = append(s.NoChange, l)
				continue
			}
			l.Reason = s.unknownReason(unknownWhy)
			s.Lines = append(s.Lines, filterLine(l, t, p, opts, nil))
			continue
		}
		if reason, ok := systemdClone3(l); ok {
			l.Reason = reason
			s.NoChange = append(s.NoChange, l)
			continue
		}
		v := judgeABIs(sb, t, a.abis)
		switch v.Kind {
		case sandbox.KindLogged:
			if reason, ok := noChange(l, p, known, policyNames); ok {
				l.Reason = reason
				s.NoChange = append(s.NoChange, l)
				continue
			}
			l.Verdict = &v
			s.Lines = append(s.Lines, filterLine(l, t, p, opts, nil))
		case sandbox.KindFilter, sandbox.KindFilterRemoved, sandbox.KindDirective:
			calls = append(calls, callPlan{line: l, verdict: v})
		default:
			vv := v
			l.Verdict = &vv
			l.Reason = "no change: " + v.Reason
			if v.Kind == sandbox.KindNone && sb.Filter.Set && !filterDenies(sb, n) {
				l.Reason = "no change: already allowed now; " + v.Reason
			}
			s.NoChange = append(s.NoChange, l)
		}
	}
	s.Lines = append(s.Lines, planLines(calls, t, p, opts)...)
	if opts.Granularity == GranularityGroup && t != nil {
		s.Lines = groupLines(t, s.Lines, p, known, policyNames, sb)
	}
	sort.SliceStable(s.Lines, func(i, j int) bool { return lineKey(s.Lines[i]) < lineKey(s.Lines[j]) })

	for _, a := range syscalls.Arches() {
		if n := arch[a]; n != nil {
			sort.Strings(n.Syscalls)
			s.ArchNotes = append(s.ArchNotes, *n)
		}
	}
	s.warn(u, p, known)
	return s
}

// judgeABIs judges a call made on one or more ABIs; when the ABIs'
// verdicts differ in kind, the call's verdict is unknown (a line for one
// ABI could not lift the other's denial).
func judgeABIs(sb *sandbox.Sandbox, t *syscalls.Table, abis []SyscallAggregate) sandbox.Verdict {
	v := sandbox.Judge(sb, t, callOf(abis[0]))
	for _, sa := range abis[1:] {
		w := sandbox.Judge(sb, t, callOf(sa))
		if w.Kind != v.Kind {
			return sandbox.Verdict{Kind: sandbox.KindUnknown, Reason: "the ABIs' verdicts differ: " +
				abis[0].Arch.String() + ": " + v.Reason + "; " + sa.Arch.String() + ": " + w.Reason}
		}
	}
	return v
}

// unknownReason is the reason of every line of a unit whose configuration
// is unknown.
func (s *Suggestion) unknownReason(why string) string {
	r := "not active: the unit's configuration is unknown"
	if why != "" {
		r += " (" + why + ")"
	}
	return r + ", so what denied the call cannot be told and no line is checked against it"
}

// actionsOf lists the actions of an action count.
func actionsOf(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// filterDenies reports whether the sandbox's SystemCallFilter= denies name.
func filterDenies(sb *sandbox.Sandbox, name string) bool {
	for _, d := range sb.Deniers(nil, sandbox.Call{Syscall: name, Native: true}) {
		if d.Directive == "SystemCallFilter" {
			return true
		}
	}
	return false
}

func lineKey(l Line) string {
	if l.Group != "" {
		return l.Group
	}
	return l.Syscalls[0]
}

// applicability sets Applicable, Path and the notes about where the
// drop-in goes.
func (s *Suggestion) applicability(p *Policy) {
	switch {
	case IsPseudoUnit(s.Unit):
		s.Notes = append(s.Notes, "denials that could not be attributed to a unit: advisory only, this can never be applied")
		return
	case !unitname.Valid(s.Unit, unitname.Any):
		s.Warnings = append(s.Warnings, "not a valid unit name: advisory only")
		return
	case !unitname.HasExecContext(s.Unit):
		s.Warnings = append(s.Warnings, "this unit type has no SystemCallFilter= (a scope's filter comes from the process or its container runtime): advisory only")
		return
	}
	s.Path, _ = DropinPath(s.Unit, p.UserUnit)
	s.Applicable = true
	if p.UserUnit {
		s.Notes = append(s.Notes, fmt.Sprintf(
			"user unit of uid %d: %s applies to this unit of every user; for uid %d only, put the file in that user's ~/.config/systemd/user/%s.d/ and run systemctl --user daemon-reload as that user (as root, seccompwatch apply %s does both)",
			p.UID, s.Path, p.UID, s.Unit, unitname.UserRef(p.UID, s.Unit)))
	}
	if s.Machine != "" {
		s.Notes = append(s.Notes, "the path is inside the machine "+quote(s.Machine, 0)+"; reload that machine's systemd")
	}
	if strings.HasSuffix(p.SourcePath, ".container") || strings.HasSuffix(p.SourcePath, ".kube") || strings.HasSuffix(p.SourcePath, ".pod") {
		s.Notes = append(s.Notes, "generated by podman quadlet from "+quote(p.SourcePath, 0)+": the drop-in applies to the generated service; the container's own seccomp profile is separate (SeccompProfile= in the quadlet file)")
	}
	if !strings.HasSuffix(s.Path, DropinName) {
		return
	}
	if p.Known && !p.AllowList && len(p.Names) > 0 {
		for _, d := range p.DropInPaths {
			if b := path.Base(d); b > DropinName && strings.HasSuffix(d, ".conf") {
				s.Warnings = append(s.Warnings, "drop-in "+quote(d, 0)+
					" sorts after this one: if it holds the first SystemCallFilter= assignment, this drop-in would decide the filter mode instead (allow-list)")
			}
		}
	}
}

func modeOf(p *Policy) string {
	switch {
	case p.AllowList:
		return "allow-list"
	case len(p.Names) > 0:
		return "deny-list"
	}
	return "none"
}

// expandNames returns the policy's names as a set, ":errno" suffixes cut
// and @groups expanded.
func expandNames(t *syscalls.Table, names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		if i := strings.IndexByte(n, ':'); i >= 0 {
			n = n[:i]
		}
		if strings.HasPrefix(n, "@") {
			if t != nil {
				for _, m := range t.Members(n) {
					set[m] = true
				}
			}
			continue
		}
		set[n] = true
	}
	return set
}

// archDenied reports whether the aggregate's denials are architecture
// denials rather than syscall denials: with the configuration unknown,
// every non-native ABI is presumed so; otherwise the verdict says.
func archDenied(p *Policy, known bool, sb *sandbox.Sandbox, t *syscalls.Table, sa SyscallAggregate) bool {
	if !known {
		return !sa.Native
	}
	v := sandbox.Judge(sb, t, callOf(sa))
	return v.Kind == sandbox.KindArchitecture
}

// callOf is the verdict's view of one ABI's aggregate.
func callOf(sa SyscallAggregate) sandbox.Call {
	name := sa.Syscall
	if !validSyscallName(name) {
		name = "unknown"
	}
	return sandbox.Call{Syscall: name, Arch: sa.Arch, Native: sa.Native, Actions: actionsOf(sa.Actions), LastSeen: sa.LastSeen}
}

func addArchNote(m map[syscalls.Arch]*ArchNote, sa SyscallAggregate, known bool, sb *sandbox.Sandbox, t *syscalls.Table, allow map[string]bool) {
	n := m[sa.Arch]
	if n == nil {
		sd := sa.Arch.SystemdName()
		n = &ArchNote{Arch: sa.Arch.String(), SystemdName: sd, Directive: "SystemCallArchitectures=" + sd}
		if known {
			v := sandbox.Judge(sb, t, callOf(sa))
			n.Verdict = &v
			d := v.Deniers[0]
			n.Reason = "SystemCallArchitectures= does not include " + sd + ": these calls were denied by the architecture filter (" + v.Reason + "), not by SystemCallFilter="
			n.Directive = d.Lift
			if d.Lift == "" {
				n.Reason += "; no drop-in can lift it: " + d.NoLift
			}
			n.Included = d.Lift != "" && allow["SystemCallArchitectures"]
		} else {
			n.Reason = "non-native ABI " + sa.Arch.String() + ": probably denied by SystemCallArchitectures= (e.g. native), not by SystemCallFilter=; not active: the unit's configuration is unknown"
			// The unit's list is unknown: if it has none, the ABI alone
			// would restrict it to that ABI and kill every native call.
			n.Directive = "SystemCallArchitectures=native " + sd
		}
		n.Reason += "; allowing a compat ABI widens the kernel attack surface: only if the " + sa.Arch.String() + " binary is intended"
		if known && n.Directive != "" && !n.Included {
			n.Reason += "; undoes a deliberate setting: add --allow SystemCallArchitectures to include"
		}
		m[sa.Arch] = n
	}
	name := sa.Syscall
	if !validSyscallName(name) {
		name = "unknown(" + strconv.Itoa(sa.Nr) + ")"
	}
	if !contains(n.Syscalls, name) {
		n.Syscalls = append(n.Syscalls, name)
	}
	n.Count += sa.Count
	n.FirstSeen, n.LastSeen = widen(n.FirstSeen, n.LastSeen, sa.FirstSeen)
	n.FirstSeen, n.LastSeen = widen(n.FirstSeen, n.LastSeen, sa.LastSeen)
	for _, e := range sa.Exes {
		if !contains(n.Exes, e) {
			n.Exes = append(n.Exes, e)
		}
	}
}

// systemdClone3 reports clone3 denials from systemd's own binaries: noise
// (systemd answers clone3 with ENOSYS on purpose in its own daemons).
func systemdClone3(l Line) (string, bool) {
	if l.Syscalls[0] != "clone3" || len(l.Exes) == 0 || l.ExesDropped > 0 {
		return "", false
	}
	for _, e := range l.Exes {
		if !systemdOwn(e) {
			return "", false
		}
	}
	return "no change needed: systemd answers clone3 with ENOSYS on purpose so that glibc falls back to clone (denied from systemd's own binaries)", true
}

// noChange decides whether a syscall needs no change, and why.
func noChange(l Line, p *Policy, known bool, names map[string]bool) (string, bool) {
	if r, ok := systemdClone3(l); ok {
		return r, true
	}
	n := l.Syscalls[0]
	if !known {
		return "", false
	}
	switch {
	case p.AllowList && names[n], !p.AllowList && len(names) > 0 && !names[n]:
		if l.Observed {
			return "already allowed now", true
		}
		return "already allowed now (stale: filter changed since?)", true
	case !p.AllowList && len(names) == 0:
		if l.Observed {
			return "no change needed: the unit has no SystemCallFilter=", true
		}
		return "not denied by the unit's filter: the unit has no SystemCallFilter= (a container runtime's or the program's own filter?)", true
	}
	return "", false
}

// maxReasonExes bounds the exes a reason names (the line lists them all).
const maxReasonExes = 3

// foreignExes reports whether a line has denials from binaries that are not
// the unit's own.
func foreignExes(l Line, p *Policy) (bool, string) {
	if len(p.ExecPaths) == 0 {
		return false, ""
	}
	own := map[string]bool{}
	for _, e := range p.ExecPaths {
		own[canonicalExe(e)] = true
	}
	var foreign []string
	more := 0
	for _, e := range l.Exes {
		if !own[canonicalExe(e)] {
			if len(foreign) == maxReasonExes {
				more++
				continue
			}
			foreign = append(foreign, quote(e, 0))
		}
	}
	if more > 0 {
		foreign = append(foreign, fmt.Sprintf("%d more", more))
	}
	if l.ExesDropped > 0 {
		foreign = append(foreign, fmt.Sprintf("%d denials with exes not recorded", l.ExesDropped))
	}
	if len(foreign) == 0 {
		return false, ""
	}
	return true, "foreign binary: " + strings.Join(foreign, ", ") + " is not one of the unit's own (ExecStart= and siblings): possible compromise"
}

// umbrellaGroups are never proposed: granting one for a few denials would
// undo the sandbox.
var umbrellaGroups = map[string]bool{"@known": true, SystemService: true, "@default": true}

// maxGroupAdds is the most syscalls a proposed group may add beyond the
// denied ones.
const maxGroupAdds = 64

// groupLines replaces sets of at least two plain lines by a group that
// covers them and has no risky member, narrowest group first.
func groupLines(t *syscalls.Table, lines []Line, p *Policy, known bool, allowed map[string]bool, sb *sandbox.Sandbox) []Line {
	remaining := map[string]int{} // syscall -> index in lines
	held := map[string]bool{}     // lines held back: no group may grant them
	for i, l := range lines {
		if l.Lifts != "" {
			continue // another directive's change: not a syscall to group
		}
		if l.Included && !l.Risky && !l.Foreign && len(l.Needs) == 0 {
			remaining[l.Syscalls[0]] = i
		}
		if !l.Included || len(l.Needs) > 0 {
			held[l.Syscalls[0]] = true
		}
	}
	// A call denied on purpose (a "~" entry) is never granted back by a
	// group: the opt-in is per call.
	if sb != nil && sb.Filter.Set {
		for n := range sb.Filter.Removed {
			held[n] = true
		}
		if !sb.Filter.AllowList {
			for n := range sb.Filter.Entries {
				held[n] = true
			}
		}
	}
	candidates := make(map[string]bool, len(remaining))
	for n := range remaining {
		candidates[n] = true
	}
	used := map[int]bool{}
	var out []Line
	for len(remaining) >= 2 {
		best, bestCover, bestExtra := "", []string(nil), []string(nil)
		for _, g := range t.GroupNames() {
			if umbrellaGroups[g] {
				continue
			}
			members := t.Members(g)
			var cover, extra []string
			safe := true
			for _, m := range members {
				if r, _ := Risk(t, m); r || held[m] {
					safe = false
					break
				}
				if _, ok := remaining[m]; ok {
					cover = append(cover, m)
				} else if !candidates[m] && !alreadyAllowed(m, p, known, allowed) {
					extra = append(extra, m)
				}
			}
			if !safe || len(cover) < 2 || len(extra) > maxGroupAdds {
				continue
			}
			if best == "" || len(extra) < len(bestExtra) ||
				(len(extra) == len(bestExtra) && len(cover) > len(bestCover)) {
				best, bestCover, bestExtra = g, cover, extra
			}
		}
		if best == "" {
			break
		}
		gl := Line{Group: best, Syscalls: bestCover, Adds: bestExtra, Included: true, Actions: map[string]uint64{}}
		groups := map[string]bool{}
		observed := true
		for _, n := range bestCover {
			i := remaining[n]
			delete(remaining, n)
			used[i] = true
			l := lines[i]
			gl.Count += l.Count
			gl.FirstSeen, gl.LastSeen = widen(gl.FirstSeen, gl.LastSeen, l.FirstSeen)
			gl.FirstSeen, gl.LastSeen = widen(gl.FirstSeen, gl.LastSeen, l.LastSeen)
			gl.Exes = mergeList(gl.Exes, l.Exes)
			gl.Comms = mergeList(gl.Comms, l.Comms)
			gl.Arches = mergeList(gl.Arches, l.Arches)
			gl.ExesDropped += l.ExesDropped
			for k, v := range l.Actions {
				gl.Actions[k] += v
			}
			for _, g := range l.Groups {
				groups[g] = true
			}
			observed = observed && l.Observed
		}
		gl.Observed = observed
		for g := range groups {
			gl.Groups = append(gl.Groups, g)
		}
		sort.Strings(gl.Groups)
		sort.Strings(gl.Arches)
		gl.Reason = fmt.Sprintf("%s covers %d denied syscalls (%s); adds %d syscalls: %s",
			best, len(bestCover), strings.Join(bestCover, " "), len(bestExtra), strings.Join(bestExtra, " "))
		if len(bestExtra) == 0 {
			gl.Reason = fmt.Sprintf("%s covers %d denied syscalls (%s); adds 0 syscalls", best, len(bestCover), strings.Join(bestCover, " "))
		}
		out = append(out, gl)
	}
	for i, l := range lines {
		if !used[i] {
			out = append(out, l)
		}
	}
	return out
}

func alreadyAllowed(n string, p *Policy, known bool, names map[string]bool) bool {
	if !known {
		return false
	}
	if p.AllowList {
		return names[n]
	}
	return !names[n]
}

func mergeList(a, b []string) []string {
	for _, x := range b {
		if !contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

// errnoRecords counts the unit's records of errno denials.
func errnoRecords(u UnitAggregate) uint64 {
	var n uint64
	for _, sc := range u.Syscalls {
		n += sc.Actions["errno"]
	}
	return n
}

// warn adds the warnings about the unit's configuration and about data
// that did not fit.
func (s *Suggestion) warn(u UnitAggregate, p *Policy, known bool) {
	if !known {
		if s.Applicable && (len(s.Lines) > 0 || len(s.ArchNotes) > 0) {
			why := "no D-Bus, no unit file?"
			if s.Unknown != "" {
				why = s.Unknown
			}
			if s.Retry {
				why += "; not read now, a later request may succeed"
			}
			s.Warnings = append(s.Warnings, "the unit's configuration is unknown ("+why+"): what denied each call cannot be told, so nothing below is active; on a unit without SystemCallFilter= a line would start an allow-list of only these syscalls")
		}
	} else if p.HasErrorNumber && p.ErrorNumber != ErrnoKill && !p.LogSeccomp && errnoRecords(u) > 0 {
		// Records of errno denials exist, so something logs them (the
		// manager's SYSTEMD_LOG_SECCOMP=1, which the policy may not know).
		s.Notes = append(s.Notes, fmt.Sprintf(
			"SystemCallErrorNumber=%s: %d errno denials of this unit were logged, so the manager loads its filters with logging; without that they would be invisible",
			errnoName(p.ErrorNumber), errnoRecords(u)))
	} else if p.HasErrorNumber && p.ErrorNumber != ErrnoKill && !p.LogSeccomp {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"SystemCallErrorNumber=%s without logging: denials of this unit fail with an errno and the kernel logs nothing, so they are invisible. "+
				"Fix: set SYSTEMD_LOG_SECCOMP=1 in the manager's environment (PID 1 or the user manager, not the unit's Environment=), "+
				"or use a learning drop-in (an empty SystemCallFilter= reset plus SystemCallLog=~<what the unit allows today>, see `seccompwatch learn`); "+
				"SystemCallLog= alone does not log calls the filter denies", errnoName(p.ErrorNumber)))
	}
	if u.Dropped > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d records of further syscalls were not kept (per-unit limit): this suggestion may be incomplete", u.Dropped))
	}
}

func errnoName(n int32) string {
	if n > 0 && n < 4096 {
		if name := unix.ErrnoName(syscall.Errno(n)); name != "" {
			return name
		}
	}
	return strconv.Itoa(int(n))
}
