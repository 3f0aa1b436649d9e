package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/propose"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
)

// learnedJSON writes learn --method log's result in learn --format json's
// schema, so that apply --learned installs it. The log shows calls, not
// their arguments: the proposal is SystemCallFilter= only, and like the
// eBPF method's it keeps a filter the unit has and adds only what that
// filter does not allow.
func (a *applier) learnedJSON(p unitprops.Props, calls map[string]*seen, extra []string, total uint64, elapsed time.Duration,
	stopped, before string, errBefore error, after string, errAfter error) error {
	window := elapsed.Round(time.Second)
	in := fmt.Sprintf("in %s (%d log records)", window, total)
	var lines []propose.Line
	flt := p.Sandbox.Filter
	switch {
	case calls["unknown"] != nil:
		lines = append(lines, propose.Line{Directive: "SystemCallFilter", Skipped: true,
			Evidence: "not proposed: calls without a name in the table were logged; a filter would deny them"})
	case p.Sandbox.Known && flt.Set:
		var missing []string
		for _, n := range extra {
			if _, listed := flt.Entries[n]; flt.AllowList != listed {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			lines = append(lines, propose.Line{Directive: "SystemCallFilter", Kept: true,
				Evidence: "already set" + sandbox.SetAt(flt.Sources) + "; every call logged outside @system-service " + in + " is allowed by it; kept"})
			break
		}
		lines = append(lines, logExtraLine(a, missing, "the unit's filter is kept; these calls were logged "+in+" and it does not allow them"))
	default:
		ev := "SystemCallLog=~@system-service logged no other call " + in
		if len(extra) > 0 {
			ev = "the calls logged " + in + " are in it, but for those on the next line"
		}
		lines = append(lines, propose.Line{Directive: "SystemCallFilter", Value: suggest.SystemService, Evidence: ev})
		if len(extra) > 0 {
			lines = append(lines, logExtraLine(a, extra, "logged "+in+" and outside @system-service"))
		}
	}
	prop := propose.Proposal{Unit: a.unit, Table: a.t.Version, Lines: lines, Limit: propose.Limit}
	var b strings.Builder
	if err := prop.Render(&b, buildinfo.Generator()+" learn --method log"); err != nil {
		return err
	}
	out := learnJSON{Unit: a.unit, Method: "log", WindowSeconds: window.Seconds(), Interrupted: stopped != "", Calls: total,
		Proposal: prop, DropIn: b.String()}
	if errBefore == nil && errAfter == nil {
		if x, err := strconv.ParseFloat(before, 64); err == nil {
			out.ExposureBefore = &x
		}
		if y, err := strconv.ParseFloat(after, 64); err == nil {
			out.ExposureAfter = &y
		}
	}
	enc := json.NewEncoder(a.json)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func logExtraLine(a *applier, names []string, evidence string) propose.Line {
	l := propose.Line{Directive: "SystemCallFilter", Value: strings.Join(names, " "), Evidence: evidence}
	var notes []string
	for _, n := range names {
		if risky, reason := suggest.Risk(a.t, n); risky {
			notes = append(notes, n+": "+reason)
		}
	}
	if len(notes) > 0 {
		l.Note = "risky, review: " + strings.Join(notes, "; ")
	}
	return l
}
