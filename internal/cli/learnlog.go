package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/exposure"
	"github.com/seccompwatch/seccompwatch/internal/learndropin"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/internal/units"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// learnLog is learn --method log: SystemCallLog= in a runtime drop-in
// (see learnLogHelp).
func learnLog(e *env, unit string, t *syscalls.Table, dur time.Duration, maxRate int, root, busAddr, machine, format string) error {
	if machine != "" && !event.ValidMachineName(machine) {
		return usagef("--machine: not a machine name: %q", machine)
	}
	a := &applier{e: e, unit: unit, root: root, t: t, timeout: 2 * time.Minute}
	if format == "json" {
		// The progress goes to stderr; stdout is the JSON document.
		a.e = &env{stdin: e.stdin, stdout: e.stderr, stderr: e.stderr}
		a.json = e.stdout
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := a.connect(context.Background(), busAddr); err != nil {
		return err
	}
	defer a.close()
	return a.learn(ctx, dur, maxRate, machine)
}

type seen struct {
	count uint64
	exes  map[string]bool
}

func (a *applier) learn(ctx context.Context, dur time.Duration, maxRate int, machine string) error {
	bg := context.Background() // clean-up runs after a signal too
	if left := learndropin.Removed(learndropin.Clean(a.root)); len(left) > 0 {
		a.printf("removed a learning drop-in an earlier learn left: %s\n", strings.Join(left, ", "))
		if err := a.reload(bg); err != nil {
			return err
		}
	}
	p, err := a.props.Props(bg, a.unit)
	if err != nil {
		return fmt.Errorf("cannot read %s's configuration from systemd: %w", a.unit, err)
	}
	if !p.Found {
		return fmt.Errorf("systemd does not know %s", a.unit)
	}
	st, err := a.unitState(bg)
	if err != nil {
		return err
	}
	wasActive := st == "active" || st == "activating" || st == "reloading"
	before, errBefore := a.exposure(p.FragmentPath, p.DropInPaths, "")

	name := learndropin.Name(p.DropInPaths)
	sysPath := filepath.Join("/", learndropin.Dir, a.unit+".d", name)
	if _, err := os.Stat(filepath.Join(a.root, "etc/systemd/system", a.unit+".d", name)); err == nil {
		return fmt.Errorf("/etc/systemd/system/%s.d/%s exists and would hide the learning drop-in", a.unit, name)
	}
	path := filepath.Join(a.root, sysPath)
	owner, err := learndropin.Self()
	if err != nil {
		return err
	}
	content := learndropin.Content(a.unit, owner)

	// Subscribe and attribute before the unit restarts.
	src, err := auditstream.NewSource(auditstream.Options{})
	if err != nil {
		return err
	}
	attr, err := units.New(bg, units.Options{})
	if err != nil {
		return err
	}
	defer attr.Close()
	var mu sync.Mutex
	calls := map[string]*seen{}
	var total, other uint64
	perSecond := map[int64]int{}
	tooFast := make(chan struct{})
	var once sync.Once
	sctx, scancel := context.WithCancel(bg)
	srcDone := make(chan error, 1)
	go func() {
		srcDone <- src.Run(sctx, func(rec auditstream.Record, _ []byte) {
			if rec.Action != auditstream.ActionLog {
				return
			}
			r := attr.Attribute(rec.PID, rec.Time)
			if r.Unit.Name != a.unit || r.Unit.Machine != machine || r.Unit.UID != -1 {
				if r.Unit.Name == "" {
					mu.Lock()
					other++
					mu.Unlock()
				}
				return
			}
			ev := pipeline.Enrich(rec, a.t)
			mu.Lock()
			defer mu.Unlock()
			total++
			s := calls[ev.SyscallName]
			if s == nil {
				s = &seen{exes: map[string]bool{}}
				calls[ev.SyscallName] = s
			}
			s.count++
			if len(s.exes) < 8 {
				s.exes[suggest.Sanitize(rec.Exe, 128)] = true
			}
			sec := time.Now().Unix()
			perSecond[sec]++
			if perSecond[sec] > maxRate {
				once.Do(func() { close(tooFast) })
			}
		})
	}()
	stopSource := func() { scancel(); <-srcDone }

	restore := func() error {
		var errs []error
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		_ = os.Remove(filepath.Dir(path)) // when empty
		if err := a.reload(bg); err != nil {
			errs = append(errs, err)
		}
		if wasActive {
			o, err := a.restartF(bg)
			if err != nil {
				errs = append(errs, err)
			} else {
				a.printf("restored %s: drop-in removed, restarted as it was: %s\n", a.unit, o)
			}
		} else {
			if err := a.stopUnit(bg); err != nil {
				errs = append(errs, err)
			}
			a.printf("restored %s: drop-in removed, stopped as it was\n", a.unit)
		}
		return errors.Join(errs...)
	}

	if _, err := apply.Write(path, content); err != nil {
		stopSource()
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = a.reload(bg)
	if err == nil {
		a.props.Invalidate(a.unit)
		var q unitprops.Props
		q, err = a.props.Props(bg, a.unit)
		switch {
		case err != nil:
		case !contains(q.DropInPaths, sysPath):
			err = fmt.Errorf("systemd did not load %s (drop-ins: %s)", sysPath, strings.Join(q.DropInPaths, ", "))
		case len(q.Filter) != 0:
			err = fmt.Errorf("after the reload %s still has a SystemCallFilter= (a drop-in after %s sets it)", a.unit, name)
		case q.LogAllowList || len(q.Log) == 0:
			err = fmt.Errorf("after the reload %s's SystemCallLog= is not ~@system-service", a.unit)
		}
	}
	if err != nil {
		stopSource()
		return errors.Join(fmt.Errorf("learning drop-in not in force: %w", err), restore())
	}
	a.printf("learning: %s in force (SystemCallFilter= reset, SystemCallLog=~@system-service); restarting %s for %s\n", sysPath, a.unit, dur)
	started := time.Now()
	if o, err := a.restartF(bg); err != nil {
		a.printf("restart: %v\n", err)
	} else {
		a.printf("restarted %s: %s\n", a.unit, o)
	}
	stopped := ""
	select {
	case <-time.After(dur - time.Since(started)):
	case <-ctx.Done():
		stopped = "interrupted by a signal"
	case <-tooFast:
		stopped = fmt.Sprintf("stopped early: more than %d records a second", maxRate)
	}
	time.Sleep(200 * time.Millisecond) // the last records in flight
	stopSource()
	elapsed := time.Since(started)
	rerr := restore()

	mu.Lock()
	defer mu.Unlock()
	peak := 0
	for _, n := range perSecond {
		peak = max(peak, n)
	}
	if stopped != "" {
		a.printf("%s\n", stopped)
	}
	a.printf("%d log records of %s in %s (%.1f/s, peak %d/s)", total, a.unit, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), peak)
	if other > 0 {
		a.printf("; %d log records of processes that could not be attributed", other)
	}
	a.printf("\n\nproposed filter (%s):\n[Service]\nSystemCallFilter=@system-service\n", a.t.Source)
	names := make([]string, 0, len(calls))
	for n := range calls {
		names = append(names, n)
	}
	sort.Strings(names)
	var extra []string
	for _, n := range names {
		if n == "unknown" || a.t.InGroup(n, suggest.SystemService) {
			continue
		}
		s := calls[n]
		exes := make([]string, 0, len(s.exes))
		for x := range s.exes {
			exes = append(exes, x)
		}
		sort.Strings(exes)
		why := fmt.Sprintf("%d call(s) by %s; groups %s", s.count, strings.Join(exes, ", "), strings.Join(a.t.Groups(n), " "))
		if risky, reason := suggest.Risk(a.t, n); risky {
			why += "; " + reason + ": review before granting"
		}
		a.printf("# %s: %s\nSystemCallFilter=%s\n", n, why, n)
		extra = append(extra, n)
	}
	if len(extra) == 0 {
		a.printf("# no call outside @system-service was seen\n")
	}
	proposal := "[Service]\nSystemCallFilter=@system-service\n"
	if len(extra) > 0 {
		proposal += "SystemCallFilter=" + strings.Join(extra, " ") + "\n"
	}
	after, errAfter := a.exposure(p.FragmentPath, p.DropInPaths, proposal)
	if a.json != nil {
		return errors.Join(rerr, a.learnedJSON(p, calls, extra, total, elapsed, stopped, before, errBefore, after, errAfter))
	}
	switch {
	case errBefore != nil:
		a.printf("\nexposure: %v\n", errBefore)
	case errAfter != nil:
		a.printf("\nexposure before: %s; after: %v\n", before, errAfter)
	default:
		a.printf("\nsystemd-analyze security --offline=true exposure: before %s, with the proposed filter %s\n", before, after)
	}
	return rerr
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *applier) unitState(ctx context.Context) (string, error) {
	v, err := a.conn.GetUnitPropertyContext(ctx, a.unit, "ActiveState")
	if err != nil {
		return "", fmt.Errorf("state of %s: %w", a.unit, err)
	}
	st, _ := v.Value.Value().(string)
	return st, nil
}

func (a *applier) stopUnit(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	ch := make(chan string, 1)
	if _, err := a.conn.StopUnitContext(cctx, a.unit, "replace", ch); err != nil {
		return fmt.Errorf("stop %s: %w", a.unit, err)
	}
	select {
	case <-ch:
		return nil
	case <-cctx.Done():
		return fmt.Errorf("stop %s: no result within %s", a.unit, a.timeout)
	}
}

// exposure scores the unit's files (the fragment, its drop-ins but the
// learning one, then extra as one more drop-in) with internal/exposure.
func (a *applier) exposure(fragment string, dropIns []string, extra string) (string, error) {
	if fragment == "" {
		return "", errors.New("the unit has no unit file to score")
	}
	frag, err := os.ReadFile(filepath.Join(a.root, fragment))
	if err != nil {
		return "", err
	}
	var ds []exposure.DropIn
	for _, f := range dropIns {
		if strings.Contains(f, "seccompwatch-learn") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(a.root, f))
		if err != nil {
			return "", err
		}
		ds = append(ds, exposure.DropIn{Name: f, Content: string(data)})
	}
	if extra != "" {
		ds = append(ds, exposure.DropIn{Name: "zz-proposal.conf", Content: extra})
	}
	v, err := exposure.Score(context.Background(), a.unit, string(frag), ds)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.1f", v), nil
}

func registerLearnCleanup(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("learn-cleanup", `Remove the runtime drop-ins a killed "learn --method log" left (its unit
would otherwise start without its filter until the next boot), and reload
systemd. Only a file that is exactly what learn wrote (its marker and owner
lines, the fixed directives, for the unit its directory names) and whose
learn process is gone is removed; a running learn's is kept. Nothing
found: nothing to do (exit 0). The next learn and the daemon at its start
do the same; the shipped unit runs this as ExecStartPre=+ (as root: the
daemon's own user cannot write /run/systemd).

Example:
  seccompwatch learn-cleanup`)
	root := c.Flag("root", "Root directory (a container's /proc/LEADER/root, with its bus as --dbus.address).").Default("/").String()
	busAddr := c.Flag("dbus.address", "D-Bus address of the systemd to reload (default: the system bus).").String()
	cmds[c.FullCommand()] = func() error {
		found := learndropin.Clean(*root)
		var errs []error
		for _, f := range found {
			switch {
			case f.Removed:
				fmt.Fprintf(e.stdout, "removed %s (a learn of %s, pid %d, that is gone)\n", f.Path, plainName(f.Unit), f.Owner.PID)
			case f.Err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", f.Path, f.Err))
			default:
				fmt.Fprintf(e.stdout, "kept %s: its learn (pid %d) still runs\n", f.Path, f.Owner.PID)
			}
		}
		if len(learndropin.Removed(found)) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := unitprops.Reload(ctx, *busAddr); err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintln(e.stdout, "systemd reloaded")
			}
		}
		return errors.Join(errs...)
	}
}
