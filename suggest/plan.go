package suggest

import (
	"sort"
	"strings"

	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// directiveRisk says what turning a directive off gives the process
// besides the call that was denied.
var directiveRisk = map[string]string{
	"MemoryDenyWriteExecute": "allows memory that is writable and executable: JIT compilers need it, and so does injected code",
	"LockPersonality":        "lets the process change its execution domain (personality(2), e.g. READ_IMPLIES_EXEC)",
	"RestrictRealtime":       "lets the process take realtime scheduling, which can starve the host",
	"RestrictSUIDSGID":       "lets the process create set-user-ID and set-group-ID files",
	"ProtectHostname":        "lets the process change the host's name, and drops the unit's own UTS namespace",
	"ProtectKernelTunables":  "lets the process call _sysctl, and makes /proc/sys, /sys and others writable for it",
	"ProtectKernelModules":   "lets the process load and unload kernel modules",
	"ProtectKernelLogs":      "lets the process read and clear the kernel log (syslog(2), /dev/kmsg)",
	"ProtectClock":           "lets the process set the system clock, and lifts the unit's clock device restrictions",
	"PrivateDevices":         "gives the process the host's /dev and raw I/O (ioperm, iopl)",
}

// callPlan is one denied call whose verdict names its deniers.
type callPlan struct {
	line    Line
	verdict sandbox.Verdict
}

// lifts returns every setting that must be lifted for the call to pass:
// the deniers, and the settings that deny it whatever its arguments with
// another action (they deny it once the first are lifted).
func (c callPlan) lifts() []sandbox.Denier {
	out := append([]sandbox.Denier(nil), c.verdict.Deniers...)
	for _, d := range c.verdict.Also {
		if d.Argument == "" {
			out = append(out, d)
		}
	}
	return out
}

// planLines turns the calls' verdicts into proposal lines: per call a
// SystemCallFilter= line where that filter denies it, per directive one
// line with its change; a line is active only when every setting that
// denies its calls is lifted by an active line (never a line that cannot
// lift the denial), each deliberate setting only with its opt-in.
func planLines(calls []callPlan, t *syscalls.Table, p *Policy, opts Options) []Line {
	type dirLine struct {
		line  Line
		calls []int
	}
	byDirective := map[string]*dirLine{}
	filterIdx := map[int]int{} // call -> index in out
	var out []Line
	var order []string
	complete := make([]bool, len(calls))
	type blocker struct{ directive, setting string }
	blockers := make([][]blocker, len(calls))
	others := func(i int, self string) []string {
		var out []string
		for _, b := range blockers[i] {
			if b.directive != self {
				out = append(out, b.setting)
			}
		}
		return out
	}
	for i, c := range calls {
		complete[i] = true
		for _, d := range c.lifts() {
			ok := d.Lift != ""
			need := ""
			if d.Deliberate {
				need = d.Directive
				if d.Directive == "SystemCallFilter" {
					need = c.line.Syscalls[0]
				}
				ok = ok && opts.Allow[need]
			}
			if !ok {
				complete[i] = false
				blockers[i] = append(blockers[i], blocker{d.Directive, d.Setting})
			}
			if d.Directive == "SystemCallFilter" {
				v := c.verdict
				l := c.line
				l.Verdict = &v
				l.Reason = v.Reason
				if need != "" {
					l.Needs = []string{need}
				}
				if d.Lift == "" {
					l.Reason += "; " + d.NoLift
				}
				filterIdx[i] = len(out)
				out = append(out, l)
				continue
			}
			dl := byDirective[d.Directive]
			if dl == nil {
				v := directiveVerdict(c.verdict, d)
				dl = &dirLine{line: Line{
					Lifts: d.Directive, Set: d.Lift, Verdict: &v, Groups: []string{},
					Actions: map[string]uint64{}, Observed: false,
				}}
				var why []string
				why = append(why, "denied by "+describeDenier(d))
				if d.Argument != "" {
					why = append(why, d.Directive+" denies only for "+d.Argument+": the record cannot tell, so it may not be the denier")
				}
				if d.Lift == "" {
					why = append(why, "no change proposed: "+d.NoLift)
				} else if r := directiveRisk[d.Directive]; r != "" {
					why = append(why, "risk: "+d.Lift+" "+r)
				}
				dl.line.Reason = strings.Join(why, "; ")
				if need != "" {
					dl.line.Needs = []string{need}
				}
				byDirective[d.Directive] = dl
				order = append(order, d.Directive)
			}
			dl.calls = append(dl.calls, i)
			mergeInto(&dl.line, c.line)
		}
	}
	// Filter lines: risk, foreign binaries, and what else must be lifted.
	for i, c := range calls {
		j, ok := filterIdx[i]
		if !ok {
			continue
		}
		l := filterLine(out[j], t, p, opts, &c.verdict)
		if o := others(i, "SystemCallFilter"); len(o) > 0 {
			l.Included = false
			l.Reason += "; not active: " + strings.Join(o, ", ") + " must be lifted too, and " + liftHint(c)
		}
		out[j] = l
	}
	sort.Strings(order)
	for _, name := range order {
		dl := byDirective[name]
		l := dl.line
		sort.Strings(l.Syscalls)
		sort.Strings(l.Arches)
		all := true
		var blocked []string
		for _, i := range dl.calls {
			if o := others(i, name); len(o) > 0 {
				all = false
				blocked = append(blocked, calls[i].line.Syscalls[0]+" (also denied by "+strings.Join(o, ", ")+")")
			}
		}
		foreign, fr := foreignExes(l, p)
		l.Foreign = foreign
		if foreign {
			l.Reason += "; " + fr
		}
		l.Included = l.Set != "" && all && (!foreign || opts.AllowRisky) && (len(l.Needs) == 0 || opts.Allow[l.Needs[0]])
		switch {
		case l.Set == "":
		case len(l.Needs) > 0 && !opts.Allow[l.Needs[0]]:
			l.Reason += "; undoes a deliberate setting: add --allow " + l.Needs[0] + " to include"
		case !all:
			l.Reason += "; not active: it alone cannot lift " + strings.Join(blocked, ", ")
		case foreign && !opts.AllowRisky:
			l.Reason += "; add --allow-risky to include"
		}
		out = append(out, l)
	}
	return out
}

// directiveVerdict is a call's verdict as a directive line shows it: that
// directive first among the deniers, and the kind it gives.
func directiveVerdict(v sandbox.Verdict, d sandbox.Denier) sandbox.Verdict {
	out := v
	out.Deniers = []sandbox.Denier{d}
	for _, o := range v.Deniers {
		if o.Directive != d.Directive {
			out.Deniers = append(out.Deniers, o)
		}
	}
	switch {
	case d.Directive == "SystemCallArchitectures":
		out.Kind = sandbox.KindArchitecture
	case d.Benign:
		out.Kind = sandbox.KindBenign
	default:
		out.Kind = sandbox.KindDirective
	}
	return out
}

// liftHint says which opt-ins a call's lines need.
func liftHint(c callPlan) string {
	var needs []string
	for _, d := range c.lifts() {
		switch {
		case d.Lift == "":
			return "one of them cannot be lifted from a drop-in (" + d.NoLift + ")"
		case d.Deliberate && d.Directive == "SystemCallFilter":
			needs = append(needs, "--allow "+c.line.Syscalls[0])
		case d.Deliberate:
			needs = append(needs, "--allow "+d.Directive)
		}
	}
	if len(needs) == 0 {
		return "nothing else is needed"
	}
	return "that needs " + strings.Join(needs, " ")
}

// describeDenier is "Setting (set at SOURCES)".
func describeDenier(d sandbox.Denier) string {
	return d.Setting + sandbox.SetAt(d.Sources)
}

// mergeInto adds a call's evidence to a directive line.
func mergeInto(dst *Line, l Line) {
	dst.Syscalls = mergeList(dst.Syscalls, l.Syscalls)
	dst.Groups = mergeList(dst.Groups, l.Groups)
	dst.Arches = mergeList(dst.Arches, l.Arches)
	dst.Exes = mergeList(dst.Exes, l.Exes)
	dst.Comms = mergeList(dst.Comms, l.Comms)
	dst.ExesDropped += l.ExesDropped
	dst.Count += l.Count
	dst.FirstSeen, dst.LastSeen = widen(dst.FirstSeen, dst.LastSeen, l.FirstSeen)
	dst.FirstSeen, dst.LastSeen = widen(dst.FirstSeen, dst.LastSeen, l.LastSeen)
	for k, v := range l.Actions {
		dst.Actions[k] += v
	}
	sort.Strings(dst.Groups)
}

// filterLine completes a SystemCallFilter= line: its reasons, risk and
// foreign-binary flags, and whether it is included. v is the call's verdict
// (nil: the configuration is unknown, and the line is never included).
func filterLine(l Line, t *syscalls.Table, p *Policy, opts Options, v *sandbox.Verdict) Line {
	n := l.Syscalls[0]
	known := v != nil || l.Verdict != nil
	var why []string
	if l.Reason != "" {
		why = append(why, l.Reason)
	}
	if l.Observed {
		why = append(why, "observed via log (allowed and logged, not denied)")
	}
	if known && !p.AllowList && len(p.Names) > 0 {
		why = append(why, "removes "+n+" from the unit's deny-list")
	}
	if t != nil && len(l.Groups) == 0 {
		why = append(why, "in no group of "+t.Source+" (an older systemd may not know this name)")
	}
	if n == "clone3" && !known {
		why = append(why, "note: with RestrictNamespaces= systemd answers clone3 with ENOSYS on purpose and glibc falls back to clone")
	}
	risky, rr := Risk(t, n)
	l.Risky = risky
	if risky {
		why = append(why, rr)
	}
	if foreign, fr := foreignExes(l, p); foreign {
		l.Foreign = true
		why = append(why, fr)
	}
	gate := opts.AllowRisky || !(l.Risky || l.Foreign)
	if !gate {
		why = append(why, "add --allow-risky to include")
	}
	l.Included = known && gate
	if len(l.Needs) > 0 && !opts.Allow[l.Needs[0]] {
		l.Included = false
		why = append(why, "undoes a deliberate setting: add --allow "+l.Needs[0]+" to include")
	}
	l.Reason = strings.Join(why, "; ")
	return l
}
