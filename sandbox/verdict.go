package sandbox

import (
	"path"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// DropinName is the drop-in file seccompwatch proposes; a setting made in a
// drop-in that sorts after it cannot be undone from it.
const DropinName = "50-seccompwatch.conf"

// Kind classifies a verdict.
type Kind string

// The verdict kinds.
const (
	// KindFilter: SystemCallFilter= denied the call (not in the
	// allow-list).
	KindFilter Kind = "filter"
	// KindFilterRemoved: SystemCallFilter= denied it on purpose (a "~"
	// entry: a deny-list, or a removal from the allow-list).
	KindFilterRemoved Kind = "filter-removed"
	// KindArchitecture: SystemCallArchitectures= denied the ABI.
	KindArchitecture Kind = "architecture"
	// KindDirective: another seccomp-backed directive denied it (or may
	// have: Denier.Argument says what decides).
	KindDirective Kind = "directive"
	// KindNone: no setting of this unit denies the call now (the
	// program's own filter, a container runtime's, ...).
	KindNone Kind = "none"
	// KindStale: the unit's configuration changed after the records and
	// no longer denies the call.
	KindStale Kind = "stale"
	// KindBenign: systemd answers the call with ENOSYS on purpose and the
	// program is expected to fall back.
	KindBenign Kind = "benign"
	// KindUnknown: the configuration is unknown, or does not explain the
	// record; Reason says why.
	KindUnknown Kind = "unknown"
	// KindLogged: the records only log the call (SystemCallLog=, a
	// learning drop-in); nothing denied it.
	KindLogged Kind = "logged"
)

// Denier is one setting that denies (or may deny) a call.
type Denier struct {
	// Directive is the setting's name, e.g. "SystemCallFilter".
	Directive string `json:"directive"`
	// Setting describes the value that denies, e.g.
	// "SystemCallFilter=~@network-io" or "MemoryDenyWriteExecute=yes".
	Setting string `json:"setting"`
	// Sources are where it was set.
	Sources []Source `json:"sources,omitempty"`
	// Action is what it does to the call: "kill_process", "kill_thread"
	// or "errno" (Errno: with which, where known).
	Action string `json:"action"`
	Errno  string `json:"errno,omitempty"`
	// Argument, when set, says which argument decides: the setting denies
	// only some calls of this syscall, and a record cannot tell which.
	Argument string `json:"argument,omitempty"`
	// Benign: the call is answered ENOSYS on purpose, callers fall back.
	Benign bool `json:"benign,omitempty"`
	// Deliberate: lifting it undoes a restriction the operator chose (a
	// "~" entry or a Protect*=/Restrict*= directive), which needs an
	// explicit opt-in (--allow).
	Deliberate bool `json:"deliberate"`
	// Lift is the assignment that lifts it from a drop-in; NoLift says why
	// there is none (the record lacks the argument, a later drop-in or
	// the manager sets it, ...).
	Lift   string `json:"lift,omitempty"`
	NoLift string `json:"no_lift,omitempty"`
}

// Source returns where the setting was first made ("" when unknown).
func (d Denier) Source() string {
	if len(d.Sources) == 0 {
		return ""
	}
	return d.Sources[len(d.Sources)-1].String()
}

// Verdict says what denied a call of a unit.
type Verdict struct {
	Kind Kind `json:"kind"`
	// Deniers are the settings whose action matches the records: what
	// denied the call. Every one must be lifted for the call to pass.
	Deniers []Denier `json:"deniers,omitempty"`
	// Also are settings that deny the call too with another action (seen
	// once the Deniers are lifted), or may deny it depending on an
	// argument.
	Also []Denier `json:"also,omitempty"`
	// Reason explains the verdict in one or more sentences.
	Reason string `json:"reason"`
}

// Directive names the (first) denier's directive, "" when none.
func (v Verdict) Directive() string {
	if len(v.Deniers) == 0 {
		return ""
	}
	return v.Deniers[0].Directive
}

// Source is where the first denier was set, "" when unknown.
func (v Verdict) Source() string {
	if len(v.Deniers) == 0 {
		return ""
	}
	return v.Deniers[0].Source()
}

// Call is what a verdict is about: one syscall of one ABI, with the actions
// and the last time of its records.
type Call struct {
	// Syscall is the name in the ABI's table ("" or "unknown" without).
	Syscall string
	Arch    syscalls.Arch
	// Native: the ABI is the host's native one (SystemCallArchitectures=
	// native).
	Native bool
	// Actions are the records' actions ("kill_process", "errno", ...).
	Actions []string
	// LastSeen is the newest record's time (zero: unknown).
	LastSeen time.Time
}

// Judge returns the verdict for a call against the unit's sandbox s (nil:
// unknown). t expands groups (nil: the newest bundled table).
func Judge(s *Sandbox, t *syscalls.Table, c Call) Verdict {
	if s == nil || !s.Known {
		why := "the unit's configuration is unknown"
		if s != nil && s.Unknown != "" {
			why += ": " + s.Unknown
		}
		return Verdict{Kind: KindUnknown, Reason: why}
	}
	if t == nil {
		t = syscalls.Newest()
	}
	var denying []string
	for _, a := range c.Actions {
		if a != "log" && a != "allow" && !containsStr(denying, a) {
			denying = append(denying, a)
		}
	}
	if len(denying) == 0 {
		return Verdict{Kind: KindLogged, Reason: "logged, not denied: the call was allowed (SystemCallLog= or a learning drop-in)"}
	}
	if !anySystemdAction(denying) {
		return Verdict{Kind: KindNone, Reason: "systemd's filters never " + strings.Join(denying, ", ") +
			" (they kill or return an errno): another seccomp filter denied " + c.Syscall + ", the program's own or a container runtime's"}
	}
	all := s.Deniers(t, c)
	var v Verdict
	for _, d := range all {
		if matchesAny(d.Action, denying) {
			v.Deniers = append(v.Deniers, d)
		} else {
			v.Also = append(v.Also, d)
		}
	}
	name := c.Syscall
	if name == "" {
		name = "unknown"
	}
	stale := !s.ChangedAt.IsZero() && !c.LastSeen.IsZero() && c.LastSeen.Before(s.ChangedAt)
	if len(v.Deniers) == 0 {
		switch {
		case len(all) == 0 && stale:
			v.Kind = KindStale
			v.Reason = "stale: the unit's configuration changed at " + s.ChangedAt.UTC().Format(time.RFC3339) +
				", after the last record (" + c.LastSeen.UTC().Format(time.RFC3339) + "), and no setting denies " + name + " on " + c.Arch.String() + " now"
		case len(all) == 0:
			v.Kind = KindNone
			v.Reason = "no setting of this unit denies " + name + " on " + c.Arch.String() +
				": the program's own seccomp filter or a container runtime's (or the unit's configuration changed, which nothing shows)"
		case stale:
			v.Kind = KindStale
			v.Reason = "stale: the records' action (" + strings.Join(denying, ", ") + ") is not what the unit's settings do to " + name +
				" now, and its configuration changed at " + s.ChangedAt.UTC().Format(time.RFC3339) + ", after the last record"
		default:
			v.Kind = KindUnknown
			v.Reason = "the records' action (" + strings.Join(denying, ", ") + ") is not what the unit's settings do to " + name +
				" (" + describeAll(all) + "): the configuration may have changed, or another filter denied it"
		}
		return v
	}
	benign := true
	for _, d := range v.Deniers {
		benign = benign && d.Benign
	}
	first := v.Deniers[0]
	switch {
	case benign:
		v.Kind = KindBenign
	case first.Directive == "SystemCallArchitectures":
		v.Kind = KindArchitecture
	case first.Directive == "SystemCallFilter" && first.Deliberate:
		v.Kind = KindFilterRemoved
	case first.Directive == "SystemCallFilter":
		v.Kind = KindFilter
	default:
		v.Kind = KindDirective
	}
	v.Reason = reasonOf(v, name)
	return v
}

func reasonOf(v Verdict, name string) string {
	var b strings.Builder
	if v.Kind == KindBenign {
		b.WriteString("benign: ")
	}
	b.WriteString("denied by ")
	b.WriteString(describeAll(v.Deniers))
	for _, d := range v.Deniers {
		if d.Argument != "" {
			b.WriteString("; " + d.Directive + " denies " + name + " only for " + d.Argument + ": the record cannot tell, so it may not be the denier")
		}
		if d.Benign {
			b.WriteString("; " + d.Directive + " answers " + name + " with ENOSYS on purpose and callers fall back")
		}
	}
	for _, d := range v.Also {
		if d.Argument != "" {
			b.WriteString("; may also be denied by " + describe(d) + " (for " + d.Argument + ")")
		} else {
			b.WriteString("; also denied by " + describe(d) + " (" + d.Action + "), once the above is lifted")
		}
	}
	return b.String()
}

func describeAll(ds []Denier) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = describe(d)
	}
	return strings.Join(parts, " and ")
}

func describe(d Denier) string {
	return d.Setting + SetAt(d.Sources)
}

// SetAt returns " (set at SOURCE, SOURCE)" for the known sources, "" when
// none is known.
func SetAt(srcs []Source) string {
	var parts []string
	for _, x := range srcs {
		if s := x.String(); s != "unknown" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (set at " + strings.Join(parts, ", ") + ")"
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// anySystemdAction reports whether one of the actions is one systemd's
// filters take.
func anySystemdAction(actions []string) bool {
	for _, a := range actions {
		switch a {
		case "kill_process", "kill_thread", "kill", "errno":
			return true
		}
	}
	return false
}

// matchesAny reports whether a setting's action can have produced a
// record with one of the actions (ausearch's "kill" is either kill).
func matchesAny(action string, records []string) bool {
	for _, r := range records {
		switch {
		case r == action:
			return true
		case r == "kill" && (action == "kill_process" || action == "kill_thread"):
			return true
		}
	}
	return false
}

// Deniers lists every setting of s that denies or may deny c, in the order
// verdicts name them: the architecture filters, SystemCallFilter=, then
// the directives of the rules for s's systemd version.
func (s *Sandbox) Deniers(t *syscalls.Table, c Call) []Denier {
	var out []Denier
	if d, ok := archDenier(s.Architectures, c, false); ok {
		out = append(out, d)
	}
	if d, ok := archDenier(s.ManagerArchitectures, c, true); ok {
		out = append(out, d)
	}
	name := c.Syscall
	if name == "" || name == "unknown" {
		return out
	}
	if d, ok := s.filterDenier(name); ok {
		out = append(out, d)
	}
	version := s.version()
	for _, r := range Rules() {
		if !r.Holds(version) || !s.On(r.Directive) || !covers(t, r.Calls, name) {
			continue
		}
		out = append(out, s.ruleDenier(r, name))
	}
	return out
}

func covers(t *syscalls.Table, calls []string, name string) bool {
	for _, c := range calls {
		if c == name || (strings.HasPrefix(c, "@") && t.InGroup(name, c)) {
			return true
		}
	}
	return false
}

// archDenier returns the denier when list restricts the ABIs and c's ABI is
// not among them.
func archDenier(list Setting, c Call, manager bool) (Denier, bool) {
	if list.Value == "" {
		return Denier{}, false
	}
	for _, a := range strings.Fields(list.Value) {
		if a == "native" && c.Native {
			return Denier{}, false
		}
		if pa, ok := syscalls.ParseArch(a); ok && pa == c.Arch && c.Arch != syscalls.ArchUnknown {
			return Denier{}, false
		}
	}
	d := Denier{
		Directive: "SystemCallArchitectures", Setting: "SystemCallArchitectures=" + list.Value,
		Sources: list.Sources, Action: "kill_thread", Deliberate: true,
	}
	switch {
	case manager:
		d.Setting += " (manager-wide, system.conf)"
		d.NoLift = "set for the whole manager in system.conf: every unit inherits it and no unit's drop-in can widen it; change it there (and reboot) only if the " + c.Arch.String() + " binary is intended"
	case c.Arch == syscalls.ArchUnknown:
		d.NoLift = "the ABI has no name systemd knows"
	default:
		// Assignments merge: naming the ABI adds it to the list.
		d.Lift = "SystemCallArchitectures=" + c.Arch.SystemdName()
	}
	return d, true
}

// filterDenier returns SystemCallFilter='s denier for name, if it denies.
func (s *Sandbox) filterDenier(name string) (Denier, bool) {
	f := &s.Filter
	if !f.Set {
		return Denier{}, false
	}
	d := Denier{Directive: "SystemCallFilter", Action: s.DefaultAction(), Lift: "SystemCallFilter=" + name}
	if s.ErrorNumber != "" && s.ErrorNumber != "kill" {
		d.Errno = s.ErrorNumber
	}
	e, listed := f.Entries[name]
	switch {
	case f.AllowList && listed && e.Errno == "":
		return Denier{}, false
	case f.AllowList && listed:
		d.Setting, d.Sources, d.Deliberate = "SystemCallFilter=~"+name+":"+e.Errno, []Source{e.Source}, true
		d.Action, d.Errno = "errno", e.Errno
	case f.AllowList:
		if src, removed := f.Removed[name]; removed {
			d.Setting, d.Sources, d.Deliberate = "SystemCallFilter=~… (removes "+name+" from the allow-list)", []Source{src}, true
		} else {
			d.Setting, d.Sources = "SystemCallFilter= allow-list without "+name, f.Sources
		}
	case listed:
		d.Setting, d.Sources, d.Deliberate = "SystemCallFilter=~… (denies "+name+")", []Source{e.Source}, true
		if e.Errno != "" {
			d.Action, d.Errno = "errno", e.Errno
		}
	default:
		return Denier{}, false
	}
	// A line in our drop-in is undone by a later drop-in that removes the
	// call again, or that resets the filter and starts anew.
	later := d.Sources
	if !d.Deliberate && len(f.Sources) > 0 {
		later = f.Sources[:1]
	}
	for _, src := range later {
		if sortsAfterDropin(src.File) {
			d.Lift = ""
			d.NoLift = "set in " + src.File + ", which systemd applies after " + DropinName + ": a line there would be undone; change " + src.File + " itself"
		}
	}
	return d, true
}

// sortsAfterDropin reports whether file is a drop-in that systemd applies
// after DropinName (drop-ins apply sorted by file name, across
// directories).
func sortsAfterDropin(file string) bool {
	return strings.HasSuffix(path.Dir(file), ".d") && path.Base(file) > DropinName
}

func (s *Sandbox) ruleDenier(r Rule, name string) Denier {
	d := Denier{
		Directive: r.Directive, Setting: s.Describe(r.Directive), Action: "errno", Errno: r.Errno,
		Argument: r.Argument, Benign: r.Benign, Deliberate: true, Lift: r.Lift,
	}
	d.Setting = strings.SplitN(d.Setting, ", set at", 2)[0]
	d.Sources = s.Settings[r.Directive].Sources
	if du, ok := s.Settings["DynamicUser"]; ok && r.Directive == "RestrictSUIDSGID" {
		d.Sources = du.Sources
		d.Lift = ""
		d.NoLift = "forced by DynamicUser=yes: RestrictSUIDSGID=no cannot lift it"
	}
	switch {
	case r.Benign:
		d.Lift = ""
		d.NoLift = "benign: callers fall back (" + name + " answered ENOSYS on purpose)"
	case r.Directive == "RestrictAddressFamilies":
		d.NoLift = "the record does not say which address family socket() asked for (allowed now: " + s.Settings[r.Directive].Value +
			"): find it with `strace -f -e trace=socket -p PID` or `seccompwatch learn`, then add that family (RestrictAddressFamilies=AF_…)"
	case r.Directive == "RestrictNamespaces":
		d.NoLift = "the record does not say which namespace type " + name + " asked for: find it with `strace -f -e trace=unshare,clone,setns -p PID` or `seccompwatch learn`, then allow that type (RestrictNamespaces= lists the types allowed, e.g. RestrictNamespaces=net)"
	}
	for _, src := range d.Sources {
		if d.Lift != "" && sortsAfterDropin(src.File) {
			d.Lift = ""
			d.NoLift = "set in " + src.File + ", which systemd applies after " + DropinName + ": a line there would be undone; change " + src.File + " itself"
		}
	}
	return d
}
