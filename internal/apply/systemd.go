package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Resolver tells which of names the systemd being checked can resolve
// (unitprops.ProbeFilter: the merged filter of a transient unit holding
// only those names). Verify calls it at most once, and only when names the
// drop-in allows are missing from the unit's merged filter.
type Resolver func(names []string) (map[string]bool, error)

// Verify checks that a unit's properties, read after the reload, say what
// the drop-in at path (as systemd sees it, without the root prefix) says:
// systemd loaded the file, every SystemCallFilter= name is allowed by the
// merged filter, every "=no" is off, every ABI is allowed. When a check
// fails it names the drop-ins that sort after path, which can override it.
// The notes say what systemd left out and why it does not count (see
// filterAllows).
func Verify(p unitprops.Props, path string, items []Item, t *syscalls.Table, resolve Resolver) (notes []string, err error) {
	if !p.Found {
		return nil, fmt.Errorf("systemd does not know %s after the reload", p.Unit)
	}
	if !slices.Contains(p.DropInPaths, path) {
		return nil, fmt.Errorf("systemd did not load %s for %s (drop-ins: %s)", path, p.Unit, list(p.DropInPaths))
	}
	var wrong, allowed []string
	for _, it := range items {
		if it.Learned {
			if it.Key == "SystemCallFilter" {
				if len(p.Filter) == 0 || !p.AllowList {
					wrong = append(wrong, "SystemCallFilter= is not an allow-list")
					continue
				}
				allowed = append(allowed, it.Values...)
				continue
			}
			wrong = append(wrong, verifyLearned(p, it)...)
			continue
		}
		switch {
		case it.Key == "SystemCallFilter":
			switch {
			case len(p.Filter) == 0:
				// no filter at all: nothing denies the names
			case p.AllowList:
				allowed = append(allowed, it.Values...)
			default:
				filter := filterSet(p.Filter)
				for _, v := range it.Values {
					for _, n := range members(t, v) {
						if filter[n] {
							wrong = append(wrong, "SystemCallFilter still denies "+n)
							break
						}
					}
				}
			}
		case it.Key == "SystemCallArchitectures":
			if len(p.Architectures) == 0 {
				continue
			}
			for _, v := range it.Values {
				if !slices.Contains(p.Architectures, v) {
					wrong = append(wrong, "SystemCallArchitectures= does not list "+v)
				}
			}
		case boolDirectives[it.Key]:
			if st, ok := p.Sandbox.Settings[it.Key]; ok {
				if v, _ := sandbox.ParseBool(st.Value); v {
					wrong = append(wrong, it.Key+"= is still "+st.Value)
				}
			}
		}
	}
	if len(allowed) > 0 {
		w, n := filterAllows(p.Filter, allowed, t, resolve)
		wrong, notes = append(wrong, w...), n
	}
	if len(wrong) == 0 {
		return notes, nil
	}
	var later []string
	for _, d := range p.DropInPaths {
		if d != path && filepath.Base(d) > filepath.Base(path) {
			later = append(later, d)
		}
	}
	why := "a later setting overrides the drop-in"
	if len(later) > 0 {
		why = "drop-ins that sort after it can override it: " + list(later)
	}
	return notes, fmt.Errorf("after the reload %s: %s; %s", p.Unit, strings.Join(wrong, "; "), why)
}

// filterAllows is the one rule for an allow-list: the SystemCallFilter=
// values a drop-in allows (names and @groups) against the unit's merged
// filter. A name written as such (a denied call the drop-in lifts, a call
// learn saw) must be in it. A member of a group may be missing only when
// there is evidence that this systemd cannot resolve it: systemd drops a
// name its libseccomp does not know, from every unit (seen in the VM:
// Debian's 252 lists uretprobe and riscv_hwprobe in @system-service,
// bookworm's libseccomp 2.5.4 knows neither). The evidence is resolve's
// answer for the missing names (a probe unit holding only them): what it
// resolves yet the unit lacks is denied by a later setting; what it cannot
// resolve is noted. Without an answer nothing missing is excused.
func filterAllows(merged, values []string, t *syscalls.Table, resolve Resolver) (wrong, notes []string) {
	filter := filterSet(merged)
	named := map[string]bool{}
	for _, v := range values {
		if !strings.HasPrefix(v, "@") {
			named[v] = true
		}
	}
	var missing []string
	seen := map[string]bool{}
	for _, v := range values {
		for _, n := range members(t, v) {
			if !filter[n] && !seen[n] {
				seen[n] = true
				missing = append(missing, n)
			}
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	var resolved map[string]bool
	var rerr error
	if resolve == nil {
		rerr = errors.New("not asked")
	} else {
		resolved, rerr = resolve(missing)
	}
	var denied, unknown, impossible []string
	unresolved := map[string][]string{} // group -> members this systemd cannot resolve
	for _, n := range missing {
		switch {
		case rerr != nil:
			unknown = append(unknown, n)
		case named[n] && !resolved[n]:
			impossible = append(impossible, n)
		case resolved[n]:
			denied = append(denied, n)
		default:
			for _, v := range values {
				if strings.HasPrefix(v, "@") && slices.Contains(t.Members(v), n) {
					unresolved[v] = append(unresolved[v], n)
					break
				}
			}
		}
	}
	if len(denied) > 0 {
		wrong = append(wrong, "SystemCallFilter still denies "+few(denied))
	}
	if len(impossible) > 0 {
		wrong = append(wrong, "SystemCallFilter still denies "+few(impossible)+": this systemd cannot resolve the name (its libseccomp does not know it; a probe unit allowing only it lacks it too), so no drop-in can allow it")
	}
	if len(unknown) > 0 {
		wrong = append(wrong, "SystemCallFilter still denies "+few(unknown)+" (whether this systemd can resolve them is unknown: "+rerr.Error()+")")
	}
	for _, g := range slices.Sorted(maps.Keys(unresolved)) {
		notes = append(notes, fmt.Sprintf("systemd leaves %s of %s out of the filter: it cannot resolve them (its libseccomp does not know them; a probe unit allowing only them lacks them too), so no unit on this host can use them",
			strings.Join(unresolved[g], " "), g))
	}
	return wrong, notes
}

// few lists names, at most 8 of them.
func few(names []string) string {
	if len(names) <= 8 {
		return strings.Join(names, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:8], " "), len(names)-8)
}

// members returns the names a SystemCallFilter= value stands for.
func members(t *syscalls.Table, v string) []string {
	if strings.HasPrefix(v, "@") {
		return t.Members(v)
	}
	return []string{v}
}

// filterSet is a merged SystemCallFilter property's names, without errnos.
func filterSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		n, _, _ = strings.Cut(n, ":")
		m[n] = true
	}
	return m
}

// verifyLearned checks one learned (tightening) item other than
// SystemCallFilter= against the unit's merged properties: what the drop-in
// restricts, systemd restricts.
func verifyLearned(p unitprops.Props, it Item) []string {
	var wrong []string
	setting := p.Sandbox.Settings[it.Key].Value
	switch {
	case it.Key == "SystemCallArchitectures":
		for _, v := range it.Values {
			if !slices.Contains(p.Architectures, v) {
				wrong = append(wrong, "SystemCallArchitectures= does not list "+v)
			}
		}
		if len(p.Architectures) != len(it.Values) {
			wrong = append(wrong, "SystemCallArchitectures= is "+list(p.Architectures))
		}
	case it.Key == "RestrictAddressFamilies", it.Key == "RestrictNamespaces":
		want := strings.Join(it.Values, " ")
		if !sameSet(setting, want) {
			wrong = append(wrong, it.Key+"= is "+quoted(setting)+", not "+want)
		}
	case boolDirectives[it.Key]:
		if v, _ := sandbox.ParseBool(setting); !v {
			wrong = append(wrong, it.Key+"= is "+quoted(setting)+", not yes")
		}
	}
	return wrong
}

func sameSet(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func quoted(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Reload asks systemd to reload its unit files and waits for it.
func Reload(ctx context.Context, conn *sdbus.Conn) error {
	cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := conn.ReloadContext(cctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

// Outcome is how a restart ended.
type Outcome struct {
	Job         string // the job's result: done, failed, timeout, ...
	ActiveState string
	SubState    string
	Result      string // the service's Result= (success, exit-code, signal, ...)
	ExecStatus  int32  // ExecMainStatus: exit status or signal number
}

// OK reports a restart that ended well: the job is done and the service
// did not fail.
func (o Outcome) OK() bool {
	return o.Job == "done" && (o.Result == "" || o.Result == "success") && o.ActiveState != "failed"
}

func (o Outcome) String() string {
	s := fmt.Sprintf("job %s, %s (%s)", o.Job, o.ActiveState, o.SubState)
	if o.Result != "" {
		s += fmt.Sprintf(", result %s, main process status %d", o.Result, o.ExecStatus)
	}
	return s
}

// Restart restarts unit and waits for the job (a oneshot service's job
// ends when its process does) and then reads the outcome.
func Restart(ctx context.Context, conn *sdbus.Conn, unit string, timeout time.Duration) (Outcome, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan string, 1)
	if _, err := conn.RestartUnitContext(cctx, unit, "replace", ch); err != nil {
		return Outcome{}, fmt.Errorf("restart %s: %w", unit, err)
	}
	var o Outcome
	select {
	case o.Job = <-ch:
	case <-cctx.Done():
		return Outcome{}, fmt.Errorf("restart %s: no result within %s", unit, timeout)
	}
	up, err := conn.GetUnitPropertiesContext(cctx, unit)
	if err != nil {
		return o, fmt.Errorf("state of %s: %w", unit, err)
	}
	o.ActiveState, _ = up["ActiveState"].(string)
	o.SubState, _ = up["SubState"].(string)
	if strings.HasSuffix(unit, ".service") {
		sp, err := conn.GetUnitTypePropertiesContext(cctx, unit, "Service")
		if err != nil {
			return o, fmt.Errorf("state of %s: %w", unit, err)
		}
		o.Result, _ = sp["Result"].(string)
		o.ExecStatus, _ = sp["ExecMainStatus"].(int32)
	}
	return o, nil
}
