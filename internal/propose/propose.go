// Package propose turns what a unit was seen doing (an observe.Observation
// over a window) into the whole seccomp-backed sandbox for it, in
// systemd's own terms, each line with its evidence: SystemCallFilter= (in
// groups or as a tight list), SystemCallArchitectures=native,
// RestrictAddressFamilies=, MemoryDenyWriteExecute=, RestrictNamespaces=,
// LockPersonality=, RestrictRealtime=, RestrictSUIDSGID=, and, commented
// out because they do more than filter calls, ProtectHostname=,
// ProtectKernelModules=, ProtectKernelLogs=, ProtectKernelTunables=,
// ProtectClock= and PrivateDevices=.
//
// Invariant: no proposed setting denies anything that was observed, except
// the benign fallbacks of sandbox/directives.tsv (clone3 and openat2
// answered with ENOSYS, which callers retry with clone and openat); a
// directive whose deciding argument was not read (an i386 call, an
// unreadable clone_args) is not proposed, with the reason. Settings the
// unit already has are kept as they are. The package is pure: no I/O.
package propose

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/opensockets"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Granularity of the proposed SystemCallFilter=.
const (
	// GranularityGroup: @system-service plus the calls seen outside it.
	GranularityGroup = "group"
	// GranularitySyscall: exactly the calls seen (systemd adds @default).
	GranularitySyscall = "syscall"
)

// Input is what a proposal is made from.
type Input struct {
	// Unit is the unit's name.
	Unit string
	// Window is how long the unit was watched.
	Window time.Duration
	// Obs is what it did.
	Obs observe.Observation
	// Sandbox is the unit's current configuration (Known false: unknown,
	// every directive is proposed as if unset and the output says so).
	Sandbox sandbox.Sandbox
	// Table is the systemd group table in use.
	Table *syscalls.Table
	// Granularity is GranularityGroup (default) or GranularitySyscall.
	Granularity string
	// Open are the families of the sockets the unit's processes held
	// when learn looked (nil: not looked at). A daemon makes its
	// listening sockets at start-up, before a window on a running unit:
	// no socket() call shows their families.
	Open *opensockets.Result
	// Lifted are directives a fix of a denial turned off (directive →
	// where and why, e.g. seccompwatch apply's drop-in). A window in which
	// the call was not made is no reason to deny it again: they are kept.
	Lifted map[string]string
}

// Line is one directive of the proposal.
type Line struct {
	// Directive and Value make the assignment ("MemoryDenyWriteExecute",
	// "yes").
	Directive string `json:"directive"`
	Value     string `json:"value,omitempty"`
	// Commented: proposed commented out (Note says why).
	Commented bool `json:"commented,omitempty"`
	// Kept: the unit already has the setting; nothing is written for it.
	Kept bool `json:"kept,omitempty"`
	// Skipped: not proposed (Evidence says why).
	Skipped bool `json:"skipped,omitempty"`
	// Evidence says what the line rests on.
	Evidence string `json:"evidence"`
	// Note is a caution for the reader ("does more than filter calls").
	Note string `json:"note,omitempty"`
	// Hosts holds each host's line, in a merged proposal (Merge).
	Hosts []HostLine `json:"hosts,omitempty"`
}

// Proposal is the whole proposed sandbox of a unit.
type Proposal struct {
	Unit  string `json:"unit"`
	Table string `json:"table"`
	Lines []Line `json:"lines"`
	// Limit is the honest limit of any learned proposal.
	Limit string `json:"limit"`
}

// Limit is printed with every proposal.
const Limit = "Only what ran during the window is covered: code paths not exercised (error handling, reloads, rare requests, " +
	"start-up and shutdown if they were not in the window) may need calls seen nowhere here; learn under representative load. " +
	"Calls the unit's current filters deny are not seen at all (sys_enter runs after seccomp)."

// moreThanFilter are directives that do more than filter calls, and what.
var moreThanFilter = map[string]string{
	"ProtectHostname":       "also gives the unit its own UTS (hostname) namespace",
	"ProtectKernelModules":  "also makes /usr/lib/modules inaccessible and drops CAP_SYS_MODULE",
	"ProtectKernelLogs":     "also hides /dev/kmsg and /proc/kmsg",
	"ProtectKernelTunables": "also makes /proc/sys, /sys and more read-only",
	"ProtectClock":          "also denies access to clock devices (DeviceAllow=)",
	"PrivateDevices":        "also gives the unit a private /dev without physical devices",
}

// CountedCalls are the calls (x86_64 names) whose every use a directive of
// systemd version v denies, and which the observer should count: the calls
// of the rules without a deciding argument, @groups expanded with t, less
// the benign ones (their denial is a fallback, not a break).
func CountedCalls(t *syscalls.Table, v int) []string {
	if v == 0 {
		v = sandbox.DefaultVersion
	}
	set := map[string]bool{}
	for _, r := range sandbox.Rules() {
		if !r.Holds(v) || r.Argument != "" || r.Benign {
			continue
		}
		for _, n := range expand(t, r.Calls) {
			set[n] = true
		}
	}
	return sortedKeys(set)
}

// rulesOf returns the calls of directive d's rules holding at v, and of
// those the ones whose argument decides.
func rulesOf(t *syscalls.Table, d string, v int) (all, argued, benign []string) {
	for _, r := range sandbox.Rules() {
		if r.Directive != d || !r.Holds(v) {
			continue
		}
		calls := expand(t, r.Calls)
		all = append(all, calls...)
		if r.Benign {
			benign = append(benign, calls...)
		} else if r.Argument != "" {
			argued = append(argued, calls...)
		}
	}
	return all, argued, benign
}

func expand(t *syscalls.Table, calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "@") {
			if t != nil {
				out = append(out, t.Members(c)...)
			}
			continue
		}
		out = append(out, c)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// facts is the observation indexed for the rules.
type facts struct {
	in     Input
	v      int
	native map[string]bool // x86_64 and x32 names
	i386   map[string]bool
	events map[observe.Kind][]observe.Event
	counts map[string]uint64 // KindCall counts
	window string
}

func newFacts(in Input) *facts {
	f := &facts{in: in, v: in.Sandbox.Version, native: map[string]bool{}, i386: map[string]bool{},
		events: map[observe.Kind][]observe.Event{}, counts: map[string]uint64{}}
	if f.v == 0 {
		f.v = sandbox.DefaultVersion
	}
	for abi, names := range in.Obs.Syscalls {
		for _, n := range names {
			if abi == "i386" {
				f.i386[n] = true
			} else {
				f.native[n] = true
			}
		}
	}
	for _, e := range in.Obs.Events {
		f.events[e.Kind] = append(f.events[e.Kind], e)
		if e.Kind == observe.KindCall {
			f.counts[e.Syscall] += e.Count
		}
	}
	f.window = fmt.Sprintf("in %s (%s calls from %d processes)", duration(in.Window), human(in.Obs.Calls), in.Obs.Processes)
	return f
}

func duration(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.Round(time.Second).String()
}

func human(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f G", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f M", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1f k", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func (f *facts) seen(name string) bool { return f.native[name] || f.i386[name] }

// i386Of returns the calls of names seen as i386 calls (arguments not
// read).
func (f *facts) i386Of(names []string) []string {
	var out []string
	for _, n := range names {
		if f.i386[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return dedup(out)
}

func dedup(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// Propose makes the proposal.
func Propose(in Input) Proposal {
	f := newFacts(in)
	p := Proposal{Unit: in.Unit, Limit: Limit}
	if in.Table != nil {
		p.Table = in.Table.Version
	}
	add := func(l Line) {
		if why, ok := in.Lifted[l.Directive]; ok && !l.Skipped && l.Value == "yes" {
			p.Lines = append(p.Lines, Line{Directive: l.Directive, Value: "no", Kept: true,
				Evidence: why + "; kept: not seeing the call " + f.window + " is no reason to deny it again"})
			return
		}
		if l.Directive != "SystemCallFilter" && in.Sandbox.Known && in.Sandbox.On(l.Directive) && !l.Skipped {
			l.Kept, l.Value = true, in.Sandbox.Settings[l.Directive].Value
			l.Evidence = "already set: " + in.Sandbox.Describe(l.Directive) + "; kept"
		}
		if note, ok := moreThanFilter[l.Directive]; ok && !l.Skipped && !l.Kept {
			l.Commented = true
			l.Note = note + ": syscall evidence alone cannot justify it"
		}
		p.Lines = append(p.Lines, l)
	}
	p.Lines = append(p.Lines, f.filter()...)
	add(f.architectures())
	add(f.families())
	add(f.mdwe())
	add(f.namespaces())
	add(f.personality())
	add(f.realtime())
	add(f.suid())
	for _, d := range []string{"ProtectHostname", "ProtectKernelModules", "ProtectKernelLogs", "ProtectKernelTunables", "ProtectClock", "PrivateDevices"} {
		add(f.wholeCalls(d))
	}
	return p
}

func (f *facts) filter() []Line {
	in := f.in
	var unnamed []string
	for _, names := range in.Obs.Syscalls {
		for _, n := range names {
			if strings.HasPrefix(n, "nr:") {
				unnamed = append(unnamed, n)
			}
		}
	}
	if len(unnamed) > 0 {
		return []Line{{Directive: "SystemCallFilter", Skipped: true, Evidence: "not proposed: calls without a name in the table were seen (" + strings.Join(unnamed, " ") + "); a filter would deny them"}}
	}
	all := map[string]bool{}
	for n := range f.native {
		all[n] = true
	}
	for n := range f.i386 {
		all[n] = true
	}
	// With a filter in place, only the observed calls it does not allow
	// are added (the unit's own lines are kept).
	if in.Sandbox.Known && in.Sandbox.Filter.Set {
		var missing []string
		flt := in.Sandbox.Filter
		for _, n := range sortedKeys(all) {
			_, listed := flt.Entries[n]
			if flt.AllowList != listed {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return []Line{{Directive: "SystemCallFilter", Kept: true, Evidence: "already set" + sandbox.SetAt(flt.Sources) + "; every call seen " + f.window + " is allowed by it; kept"}}
		}
		return []Line{{Directive: "SystemCallFilter", Value: strings.Join(missing, " "), Evidence: "the unit's filter is kept; these calls were seen " + f.window + " and it does not allow them (a call it denies is never seen)"}}
	}
	if in.Granularity == GranularitySyscall {
		return []Line{{Directive: "SystemCallFilter", Value: strings.Join(sortedKeys(all), " "),
			Evidence: fmt.Sprintf("exactly the %d calls seen %s (systemd adds @default)", len(all), f.window)}}
	}
	lines := []Line{{Directive: "SystemCallFilter", Value: "@system-service", Evidence: "the calls seen " + f.window + " are in it, but for those on the next line"}}
	var extra []string
	risky := map[string]string{}
	for _, n := range sortedKeys(all) {
		if in.Table != nil && (in.Table.InGroup(n, "@system-service") || in.Table.InGroup(n, "@default")) {
			continue
		}
		extra = append(extra, n)
		if in.Table != nil {
			for _, g := range in.Table.Groups(n) {
				switch g {
				case "@clock", "@cpu-emulation", "@debug", "@module", "@mount", "@obsolete", "@privileged", "@raw-io", "@reboot", "@swap":
					risky[n] = g
				}
			}
		}
	}
	if len(extra) == 0 {
		lines[0].Evidence = "every call seen " + f.window + " is in it"
		return lines
	}
	var notes []string
	for _, n := range extra {
		if g, ok := risky[n]; ok {
			notes = append(notes, n+" is in "+g)
		}
	}
	l := Line{Directive: "SystemCallFilter", Value: strings.Join(extra, " "), Evidence: "seen " + f.window + " and outside @system-service"}
	if len(notes) > 0 {
		l.Note = "risky, review: " + strings.Join(notes, ", ") + " (seen, so denying it would break the unit)"
	}
	return append(lines, l)
}

func (f *facts) architectures() Line {
	l := Line{Directive: "SystemCallArchitectures", Value: "native"}
	if len(f.i386) > 0 {
		l.Skipped, l.Evidence = true, "not proposed: i386 calls were seen ("+strings.Join(sortedKeys(f.i386), " ")+")"
		return l
	}
	if x32 := f.in.Obs.Syscalls["x32"]; len(x32) > 0 {
		l.Skipped, l.Evidence = true, "not proposed: x32 calls were seen ("+strings.Join(x32, " ")+")"
		return l
	}
	if f.in.Sandbox.Known && f.in.Sandbox.Architectures.Value != "" {
		l.Kept, l.Value = true, f.in.Sandbox.Architectures.Value
		l.Evidence = "already set" + sandbox.SetAt(f.in.Sandbox.Architectures.Sources) + "; kept"
		return l
	}
	l.Evidence = "only native calls seen " + f.window
	return l
}

// familyNames are AF_* numbers (linux/socket.h) and systemd's names.
var familyNames = map[uint32]string{
	1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK", 6: "AF_NETROM", 7: "AF_BRIDGE",
	8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE", 12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY",
	15: "AF_KEY", 16: "AF_NETLINK", 17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS",
	22: "AF_SNA", 23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS",
	29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN", 35: "AF_PHONET",
	36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC", 40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR",
	43: "AF_SMC", 44: "AF_XDP", 45: "AF_MCTP",
}

// socketUse are calls that work on a socket someone made.
var socketUse = []string{"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
	"recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown"}

func (f *facts) families() Line {
	l := Line{Directive: "RestrictAddressFamilies"}
	counts := map[string]uint64{}
	for _, e := range f.events[observe.KindFamily] {
		name, ok := familyNames[e.Value]
		if !ok {
			l.Skipped, l.Evidence = true, fmt.Sprintf("not proposed: socket() with family %d, which has no name systemd knows", e.Value)
			return l
		}
		counts[name] += e.Count
	}
	open := map[string]uint64{}
	if o := f.in.Open; o != nil {
		if o.Unread > 0 {
			l.Skipped, l.Evidence = true, fmt.Sprintf("not proposed: the family of %d open socket(s) of the unit could not be read (%s)", o.Unread, o.Reason)
			return l
		}
		for nr, n := range o.Families {
			name, ok := familyNames[nr]
			if !ok {
				l.Skipped, l.Evidence = true, fmt.Sprintf("not proposed: an open socket of family %d, which has no name systemd knows", nr)
				return l
			}
			open[name] += n
		}
	}
	if len(counts) == 0 && len(open) == 0 {
		var used []string
		for _, c := range socketUse {
			if f.seen(c) {
				used = append(used, c)
			}
		}
		if len(used) > 0 {
			// Its sockets were made before the window (or passed in): their
			// families are unknown, and "none" would break the next start.
			l.Skipped, l.Evidence = true, "not proposed: sockets in use ("+strings.Join(used, " ")+" seen "+f.window+") but no socket() call seen and no open socket read: their families are unknown; learn across a start of the unit"
			return l
		}
		l.Value, l.Evidence = "none", "no socket() call seen "+f.window
		if f.in.Open != nil {
			l.Evidence += " and no open socket"
		}
		return l
	}
	all := map[string]bool{}
	var ev []string
	for _, n := range sortedKeys(counts) {
		all[n] = true
		ev = append(ev, fmt.Sprintf("%s %d×", n, counts[n]))
	}
	l.Evidence = "seen: " + strings.Join(ev, ", ") + " " + f.window
	if len(counts) == 0 {
		l.Evidence = "no socket() call seen " + f.window
	}
	if len(open) > 0 {
		var op []string
		for _, n := range sortedKeys(open) {
			all[n] = true
			op = append(op, fmt.Sprintf("%s %d", n, open[n]))
		}
		l.Evidence += "; open sockets (made before the window, e.g. at start-up): " + strings.Join(op, ", ")
	}
	l.Value = strings.Join(sortedKeys(all), " ")
	return l
}

func (f *facts) argsUnread(d string) (Line, bool) {
	_, argued, _ := rulesOf(f.in.Table, d, f.v)
	if c := f.i386Of(argued); len(c) > 0 {
		return Line{Directive: d, Skipped: true, Evidence: "not proposed: i386 calls whose arguments were not read: " + strings.Join(c, " ")}, true
	}
	return Line{}, false
}

func describe(evs []observe.Event, format func(observe.Event) string) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%s(%s) %d×", e.Syscall, format(e), e.Count))
	}
	return strings.Join(parts, ", ")
}

func hex(e observe.Event) string { return fmt.Sprintf("%#x", e.Value) }

func (f *facts) mdwe() Line {
	if l, ok := f.argsUnread("MemoryDenyWriteExecute"); ok {
		return l
	}
	evs := append(append([]observe.Event{}, f.events[observe.KindWriteExec]...), f.events[observe.KindExec]...)
	if len(evs) > 0 {
		return Line{Directive: "MemoryDenyWriteExecute", Skipped: true, Evidence: "not proposed: seen " + describe(evs, hex)}
	}
	return Line{Directive: "MemoryDenyWriteExecute", Value: "yes", Evidence: "no mmap with PROT_WRITE|PROT_EXEC, no mprotect/pkey_mprotect with PROT_EXEC, no shmat with SHM_EXEC " + f.window}
}

// nsTypes are RestrictNamespaces= types and their CLONE_NEW* flags
// (src/shared/nsflags.c, v252).
var nsTypes = []struct {
	name string
	flag uint32
}{
	{"cgroup", 0x02000000}, {"ipc", 0x08000000}, {"mnt", 0x00020000}, {"net", 0x40000000},
	{"pid", 0x20000000}, {"user", 0x10000000}, {"uts", 0x04000000},
}

func (f *facts) namespaces() Line {
	l := Line{Directive: "RestrictNamespaces"}
	if u, ok := f.argsUnread("RestrictNamespaces"); ok {
		return u
	}
	evs := f.events[observe.KindNamespace]
	types := map[string]bool{}
	for _, e := range evs {
		if e.Syscall == "clone3" && e.Value == observe.ValueUnreadable {
			l.Skipped, l.Evidence = true, "not proposed: a clone3 whose flags could not be read"
			return l
		}
		if e.Syscall == "setns" && e.Value == 0 {
			l.Skipped, l.Evidence = true, "not proposed: setns with nstype 0 (any type), which only an unrestricted unit may make"
			return l
		}
		rest := e.Value
		for _, t := range nsTypes {
			if e.Value&t.flag != 0 {
				types[t.name] = true
				rest &^= t.flag
			}
		}
		if rest != 0 {
			l.Skipped, l.Evidence = true, fmt.Sprintf("not proposed: %s with namespace flags %#x that systemd 252 cannot allow by name", e.Syscall, rest)
			return l
		}
	}
	benign := ""
	if f.seen("clone3") {
		benign = "; clone3 (seen) is answered ENOSYS under any RestrictNamespaces=, and glibc falls back to clone (benign)"
	}
	if len(types) == 0 {
		l.Value, l.Evidence = "yes", "no unshare/clone/clone3 with CLONE_NEW* and no setns "+f.window+benign
		return l
	}
	l.Value = strings.Join(sortedKeys(types), " ")
	l.Evidence = "seen: " + describe(evs, hex) + benign
	return l
}

func (f *facts) personality() Line {
	if l, ok := f.argsUnread("LockPersonality"); ok {
		return l
	}
	var other []observe.Event
	for _, e := range f.events[observe.KindPersonality] {
		// 0xffffffff only queries; PER_LINUX (0) is the persona units run with.
		if e.Value != 0xffffffff && e.Value != 0 {
			other = append(other, e)
		}
	}
	if len(other) > 0 {
		return Line{Directive: "LockPersonality", Skipped: true, Evidence: "not proposed: seen " + describe(other, hex)}
	}
	return Line{Directive: "LockPersonality", Value: "yes", Evidence: "no personality() change seen " + f.window}
}

func (f *facts) realtime() Line {
	if l, ok := f.argsUnread("RestrictRealtime"); ok {
		return l
	}
	var rt []observe.Event
	for _, e := range f.events[observe.KindScheduler] {
		// systemd allows SCHED_OTHER, SCHED_BATCH and SCHED_IDLE only (a
		// policy with SCHED_RESET_ON_FORK is denied too).
		if e.Value != 0 && e.Value != 3 && e.Value != 5 {
			rt = append(rt, e)
		}
	}
	if len(rt) > 0 {
		return Line{Directive: "RestrictRealtime", Skipped: true, Evidence: "not proposed: seen " + describe(rt, func(e observe.Event) string { return fmt.Sprintf("policy %#x", e.Value) })}
	}
	return Line{Directive: "RestrictRealtime", Value: "yes", Evidence: "no sched_setscheduler to a realtime policy " + f.window}
}

func (f *facts) suid() Line {
	if l, ok := f.argsUnread("RestrictSUIDSGID"); ok {
		return l
	}
	if evs := f.events[observe.KindSUIDSGID]; len(evs) > 0 {
		return Line{Directive: "RestrictSUIDSGID", Skipped: true, Evidence: "not proposed: seen " + describe(evs, func(e observe.Event) string { return fmt.Sprintf("mode %#o", e.Value) })}
	}
	ev := "no set-user/group-ID mode in chmod, mkdir, mknod or creating open calls " + f.window
	if f.seen("openat2") {
		ev += "; openat2 (seen) is answered ENOSYS, callers fall back to openat (benign)"
	}
	return Line{Directive: "RestrictSUIDSGID", Value: "yes", Evidence: ev}
}

// wholeCalls proposes a directive whose rules deny every use of their
// calls when none of them was seen.
func (f *facts) wholeCalls(d string) Line {
	all, _, benign := rulesOf(f.in.Table, d, f.v)
	skip := map[string]bool{}
	for _, b := range benign {
		skip[b] = true
	}
	var seen []string
	for _, n := range dedup(sorted(all)) {
		if !skip[n] && f.seen(n) {
			if c := f.counts[n]; c > 0 {
				seen = append(seen, fmt.Sprintf("%s %d×", n, c))
			} else {
				seen = append(seen, n)
			}
		}
	}
	if len(seen) > 0 {
		return Line{Directive: d, Skipped: true, Evidence: "not proposed: seen " + strings.Join(seen, ", ")}
	}
	calls := strings.Join(dedup(sorted(all)), " ")
	if len(calls) > 60 {
		calls = calls[:strings.LastIndexByte(calls[:60], ' ')] + " …"
	}
	return Line{Directive: d, Value: "yes", Evidence: "none of " + calls + " seen " + f.window}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// Render writes the proposal as a drop-in: a header, each line's evidence
// as a comment above it, skipped and kept directives as comments, the
// limit at the end.
func (p Proposal) Render(w io.Writer, generator string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Proposed by %s from what %s was seen doing (systemd table %s).\n", generator, p.Unit, p.Table)
	for _, line := range wrap(p.Limit, 76) {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	b.WriteString("[Service]\n")
	for _, l := range p.Lines {
		fmt.Fprintf(&b, "# %s: %s\n", l.Directive, oneLine(l.Evidence))
		for _, h := range l.Hosts {
			v := ""
			if h.Value != "" && h.State != "skipped" {
				v = " " + h.Value
			}
			fmt.Fprintf(&b, "#   %s: %s%s: %s\n", oneLine(h.Host), h.State, oneLine(v), oneLine(strings.TrimPrefix(h.Evidence, "not proposed: ")))
		}
		if l.Note != "" {
			fmt.Fprintf(&b, "# note: %s\n", oneLine(l.Note))
		}
		switch {
		case l.Skipped, l.Kept:
		case l.Commented:
			fmt.Fprintf(&b, "#%s=%s\n", l.Directive, l.Value)
		default:
			fmt.Fprintf(&b, "%s=%s\n", l.Directive, l.Value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps a text on its comment line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r < 0x20 {
			return ' '
		}
		return r
	}, s)
}

func wrap(s string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = w
			continue
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
