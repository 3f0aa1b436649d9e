package apply

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Verify checks that a unit's properties, read after the reload, say what
// the drop-in at path (as systemd sees it, without the root prefix) says:
// systemd loaded the file, every SystemCallFilter= name is allowed by the
// merged filter, every "=no" is off, every ABI is allowed. When a check
// fails it names the drop-ins that sort after path, which can override it.
func Verify(p unitprops.Props, path string, items []Item, t *syscalls.Table) error {
	if !p.Found {
		return fmt.Errorf("systemd does not know %s after the reload", p.Unit)
	}
	if !slices.Contains(p.DropInPaths, path) {
		return fmt.Errorf("systemd did not load %s for %s (drop-ins: %s)", path, p.Unit, list(p.DropInPaths))
	}
	filter := map[string]bool{}
	for _, n := range p.Filter {
		n, _, _ = strings.Cut(n, ":")
		filter[n] = true
	}
	var wrong []string
	for _, it := range items {
		if it.Learned {
			wrong = append(wrong, verifyLearned(p, it, filter, t)...)
			continue
		}
		switch {
		case it.Key == "SystemCallFilter":
			if len(p.Filter) == 0 {
				continue // no filter at all: nothing denies the names
			}
			for _, v := range it.Values {
				names := []string{v}
				if strings.HasPrefix(v, "@") {
					names = t.Members(v)
				}
				for _, n := range names {
					if filter[n] != p.AllowList {
						wrong = append(wrong, "SystemCallFilter still denies "+n)
						break
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
	if len(wrong) == 0 {
		return nil
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
	return fmt.Errorf("after the reload %s: %s; %s", p.Unit, strings.Join(wrong, "; "), why)
}

// verifyLearned checks one learned (tightening) item against the unit's
// merged properties: what the drop-in restricts, systemd restricts.
func verifyLearned(p unitprops.Props, it Item, filter map[string]bool, t *syscalls.Table) []string {
	var wrong []string
	setting := p.Sandbox.Settings[it.Key].Value
	switch {
	case it.Key == "SystemCallFilter":
		if len(p.Filter) == 0 || !p.AllowList {
			return []string{"SystemCallFilter= is not an allow-list"}
		}
		// systemd drops a group member this ABI lacks (seen in the VM:
		// riscv_hwprobe of Debian's 252 @system-service on x86_64).
		native, _ := syscalls.ParseArch(runtime.GOARCH)
		for _, v := range it.Values {
			names := []string{v}
			if strings.HasPrefix(v, "@") {
				names = t.Members(v)
			}
			for _, n := range names {
				if _, ok := syscalls.Number(native, n); !ok && strings.HasPrefix(v, "@") {
					continue
				}
				if !filter[n] {
					wrong = append(wrong, "SystemCallFilter= does not allow "+n)
					break
				}
			}
		}
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
