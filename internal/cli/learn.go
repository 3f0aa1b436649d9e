package cli

// learn: watch a running unit and propose its whole seccomp sandbox.
//
// This file carries the eBPF method (--method bpf, the default where BPF
// works). The SystemCallLog= method (--method log) is in learnlog.go. The VM scenarios
// (nginx, chrony, a Python HTTP service; issue 16) should run
// `seccompwatch learn UNIT --for 1m --format json` beside a request loop,
// apply the drop-in with `seccompwatch apply`, restart the unit and check
// that it serves with no new SECCOMP record; the exposure figures are in
// the JSON (exposure_before, exposure_after).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/daemon"
	"github.com/seccompwatch/seccompwatch/internal/exposure"
	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/opensockets"
	"github.com/seccompwatch/seccompwatch/internal/propose"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
)

func registerLearn(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("learn", `Watch a running unit and propose its whole seccomp sandbox.

With --method bpf (the default) an eBPF program on sys_enter, filtered in
the kernel to the unit's cgroup and its descendants, records which calls
the unit makes and the arguments systemd's seccomp-backed directives look
at (socket families, W+X mappings, namespace flags, personality,
realtime policies, set-uid modes, ...). Nothing in the unit changes and it
is not restarted; the program is detached and its maps freed when the
window ends or the command is interrupted (Ctrl-C proposes from what was
seen so far). Needs root (CAP_BPF, CAP_PERFMON) and a kernel with BTF.

The output is a drop-in: SystemCallFilter=, SystemCallArchitectures=,
RestrictAddressFamilies=, MemoryDenyWriteExecute=, RestrictNamespaces=,
LockPersonality=, RestrictRealtime=, RestrictSUIDSGID=, and commented out
the directives that do more than filter calls; each line with its
evidence. Only what ran during the window is covered: learn under
representative load.

With --method log, a runtime drop-in in /run/systemd/system/UNIT.d/ (named
to sort after the unit's drop-ins) resets SystemCallFilter= and sets
SystemCallLog=~@system-service; after the reload the properties are
checked, the unit is restarted, its log records (audit multicast,
attributed by cgroup) collected, bounded by --max-rate; then the drop-in is
removed and the unit restored (also on SIGINT/SIGTERM; a leftover learning
drop-in is removed by the next learn). It prints @system-service plus the
calls outside it, each with why, and the exposure before and after.

Examples:
  seccompwatch learn nginx.service --for 10m
  seccompwatch learn nginx.service --for 1m --granularity syscall --format json
  seccompwatch learn --cgroup /sys/fs/cgroup/system.slice/app.service app.service --for 30s
  seccompwatch learn nginx.service --for 10m --daemon   # the daemon observes (run --learn.enable)`)
	unitArg := c.Arg("unit", "The unit (a bare name means NAME.service).").Required().String()
	window := c.Flag("for", "How long to watch.").Default("10m").Duration()
	method := c.Flag("method", "bpf (eBPF on sys_enter) or log (SystemCallLog=).").Default("bpf").Enum("bpf", "log")
	granularity := c.Flag("granularity", "SystemCallFilter= as group (@system-service plus the calls outside it) or syscall (exactly the calls seen).").Default(propose.GranularityGroup).Enum(propose.GranularityGroup, propose.GranularitySyscall)
	cgroup := c.Flag("cgroup", "The unit's cgroup2 directory (default: ControlGroup from systemd over D-Bus).").String()
	root := c.Flag("root", "Root directory of the unit files (when systemd is not on D-Bus).").Default("/").String()
	format := c.Flag("format", "Output: dropin or json.").Default("dropin").Enum("dropin", "json")
	noExposure := c.Flag("no-exposure", "Do not score the unit with systemd-analyze security before and after.").Bool()
	maxRate := c.Flag("max-rate", "--method log: stop early when the unit logs more records a second than this (every logged call is an audit record).").Default("2000").Int()
	busAddr := c.Flag("dbus.address", "--method log: D-Bus address of the unit's systemd (default: the system bus; a container's: unix:path=/proc/LEADER/root/run/dbus/system_bus_socket, with --root /proc/LEADER/root).").String()
	machine := c.Flag("machine", "--method log: the container's machine name (its records are matched to the unit in it).").String()
	inDaemon := c.Flag("daemon", "--method bpf: let the running daemon observe (its CAP_BPF and CAP_PERFMON; it needs --learn.enable) over its unix socket, as root; Ctrl-C cancels the daemon's learn.").Bool()
	socket := c.Flag("daemon.socket", "With --daemon: the daemon's unix socket (its --web.unix-socket).").Default(apply.DefaultSocket).String()
	table := tableFlag(c)
	cmds[c.FullCommand()] = func() error {
		unit, err := systemUnitArg(*unitArg, "learn")
		if err != nil {
			return err
		}
		if *window <= 0 {
			return usagef("--for must be positive")
		}
		t, err := selectTable(*table)
		if err != nil {
			return err
		}
		if *method == "log" && *inDaemon {
			return usagef("--daemon learns with --method bpf only")
		}
		if *method == "log" {
			return learnLog(e, unit, t, *window, *maxRate, *root, *busAddr, *machine, *format)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		dbus := unitprops.NewDBus(unitprops.DBusOptions{})
		defer dbus.Close()
		props, perr := unitprops.Chain{dbus, unitprops.NewFiles(t, unitprops.FilesOptions{Root: *root})}.Props(ctx, unit)
		if !props.Found {
			fmt.Fprintf(e.stderr, "seccompwatch learn: %s's configuration is unknown (%v): every directive is proposed as if unset\n", plainName(unit), perr)
			props.Sandbox = sandbox.Sandbox{Unknown: "not found"}
		}
		var w watched
		if *inDaemon {
			w, err = learnInDaemon(ctx, e, *socket, unit, *window, *cgroup)
		} else {
			w, err = learnHere(ctx, e, unit, *window, *cgroup, propose.CountedCalls(t, props.Sandbox.Version))
		}
		if err != nil {
			return err
		}
		if err := sawCalls(unit, w); err != nil {
			return err
		}
		o, st, dir, interrupted := &w.obs, w.stats, w.obs.Cgroup, w.interrupted
		in := propose.Input{Unit: unit, Window: w.window, Obs: *o, Sandbox: props.Sandbox, Table: t, Granularity: *granularity}
		in.Open = openSockets(dir)
		in.Lifted = liftedByApply(*root, unit, t)
		p := propose.Propose(in)
		var before, after float64
		var scoreErr error
		if !*noExposure && props.FragmentPath != "" {
			before, after, scoreErr = scores(context.Background(), *root, unit, props, p)
		}
		if *format == "json" {
			host, _ := os.Hostname()
			out := learnJSON{Unit: unit, Host: host, Method: *method, Cgroup: dir, WindowSeconds: in.Window.Seconds(), Interrupted: interrupted,
				Calls: o.Calls, Processes: o.Processes, Syscalls: o.Syscalls, EventsLost: st.EventsLost, ProcessesLost: st.ProcsLost, HostCalls: st.HostCalls,
				Proposal: p}
			var b strings.Builder
			if err := p.Render(&b, buildinfo.Generator()+" learn --method "+*method); err != nil {
				return err
			}
			out.DropIn = b.String()
			if scoreErr == nil && props.FragmentPath != "" && !*noExposure {
				out.ExposureBefore, out.ExposureAfter = &before, &after
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		if err := p.Render(e.stdout, buildinfo.Generator()+" learn --method "+*method); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "# Seen: %d calls from %d processes in %s%s; events lost: %d, processes lost: %d.\n",
			o.Calls, o.Processes, in.Window, map[bool]string{true: " (interrupted)"}[interrupted], st.EventsLost, st.ProcsLost)
		switch {
		case *noExposure:
		case props.FragmentPath == "":
			fmt.Fprintf(e.stdout, "# Exposure not scored: the unit file is unknown.\n")
		case scoreErr != nil:
			fmt.Fprintf(e.stdout, "# Exposure not scored: %s\n", strings.ReplaceAll(scoreErr.Error(), "\n", " "))
		default:
			fmt.Fprintf(e.stdout, "# Exposure (systemd-analyze security --offline=true): %.1f now, %.1f with this drop-in.\n", before, after)
		}
		return nil
	}
}

// learnJSON is learn --format json's output.
type learnJSON struct {
	Unit string `json:"unit"`
	// Host is the hostname, the host's name in learn-merge.
	Host          string              `json:"host"`
	Method        string              `json:"method"`
	Cgroup        string              `json:"cgroup"`
	WindowSeconds float64             `json:"window_seconds"`
	Interrupted   bool                `json:"interrupted"`
	Calls         uint64              `json:"calls"`
	Processes     int                 `json:"processes"`
	Syscalls      map[string][]string `json:"syscalls"`
	EventsLost    uint64              `json:"events_lost"`
	ProcessesLost uint64              `json:"processes_lost"`
	// HostCalls is the program's count of the whole host's calls in the
	// window (observe.Stats.HostCalls).
	HostCalls      uint64           `json:"host_calls"`
	ExposureBefore *float64         `json:"exposure_before"`
	ExposureAfter  *float64         `json:"exposure_after"`
	Proposal       propose.Proposal `json:"proposal"`
	// DropIn is the proposal rendered as learn --format dropin prints it.
	DropIn string `json:"dropin"`
}

// watched is what a learn saw, here or in the daemon.
type watched struct {
	obs         observe.Observation
	stats       observe.Stats
	window      time.Duration
	interrupted bool
}

// sawCalls refuses to propose from a window in which the unit made no
// system call: every directive would be proposed on no evidence. The
// program's count of the host's calls tells an idle unit (or a cgroup
// with no process) from a program the kernel did not run.
func sawCalls(unit string, w watched) error {
	if w.obs.Calls > 0 {
		return nil
	}
	if w.stats.HostCalls == 0 {
		return fmt.Errorf("saw no system call of %s in %s, and the kernel ran the program for no call of the whole host: it was not attached to sys_enter; nothing to propose", plainName(unit), w.window)
	}
	procs := "cannot be read"
	if pids, err := opensockets.Pids(w.obs.Cgroup); err == nil {
		procs = fmt.Sprintf("holds %d processes", len(pids))
	}
	return fmt.Errorf("%s made no system call in %s (its cgroup %s %s at the end; the program ran for %d calls elsewhere on the host): nothing to propose from; learn while the unit works", plainName(unit), w.window, w.obs.Cgroup, procs, w.stats.HostCalls)
}

// learnHere observes the unit's cgroup (dir, default its ControlGroup)
// in this process until window ends or ctx is cancelled.
func learnHere(ctx context.Context, e *env, unit string, window time.Duration, dir string, count []string) (watched, error) {
	mount, err := observe.Cgroup2Mount()
	if err != nil {
		return watched{}, err
	}
	if dir == "" {
		cg, err := unitprops.ControlGroup(ctx, "", unit)
		if err != nil {
			return watched{}, fmt.Errorf("cannot find %s's cgroup (%v); give --cgroup", plainName(unit), err)
		}
		dir = filepath.Join(mount, cg)
	}
	ob, err := observe.New(observe.Options{Count: count})
	if err != nil {
		return watched{}, err
	}
	defer ob.Close()
	id, err := ob.Add(mount, dir)
	if err != nil {
		return watched{}, err
	}
	start := time.Now()
	fmt.Fprintf(e.stderr, "seccompwatch learn: watching %s (%s) for %s; Ctrl-C ends early\n", plainName(unit), dir, window)
	timer := time.NewTimer(window)
	defer timer.Stop()
	w := watched{window: window}
	select {
	case <-timer.C:
	case <-ctx.Done():
		w.interrupted, w.window = true, time.Since(start).Round(time.Second)
	}
	obs, st, err := ob.Snapshot()
	cerr := ob.Close()
	if err != nil {
		return watched{}, err
	}
	if cerr != nil {
		return watched{}, fmt.Errorf("detach: %w", cerr)
	}
	w.obs, w.stats = *obs[id], st
	return w, nil
}

// learnInDaemon has the daemon on the unix socket observe the unit.
func learnInDaemon(ctx context.Context, e *env, socket, unit string, window time.Duration, dir string) (watched, error) {
	q := url.Values{"for": {window.String()}}
	if dir != "" {
		q.Set("cgroup", dir)
	}
	fmt.Fprintf(e.stderr, "seccompwatch learn: the daemon on %s watches %s for %s; Ctrl-C cancels it\n", socket, plainName(unit), window)
	body, err := apply.Learn(ctx, socket, unit, q)
	if err != nil {
		if ctx.Err() != nil {
			return watched{}, errors.New("interrupted: the daemon's learn was cancelled (its program detached); nothing to propose")
		}
		return watched{}, err
	}
	var r daemon.LearnReply
	if err := json.Unmarshal(body, &r); err != nil {
		return watched{}, fmt.Errorf("the daemon's answer: %w", err)
	}
	if r.Unit != unit {
		return watched{}, fmt.Errorf("the daemon answered for %q, not %s", r.Unit, unit)
	}
	w := watched{obs: r.Observation, stats: r.Stats, window: window, interrupted: r.Interrupted != ""}
	w.obs.Cgroup = r.Cgroup
	if w.interrupted {
		w.window = time.Duration(r.WindowSeconds * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(e.stderr, "seccompwatch learn: the daemon ended the learn early: %s\n", suggest.Sanitize(r.Interrupted, 128))
	}
	return w, nil
}

// scores returns the exposure of the unit as it is and with the proposal.
func scores(ctx context.Context, root, unit string, props unitprops.Props, p propose.Proposal) (before, after float64, err error) {
	frag, err := os.ReadFile(filepath.Join(root, props.FragmentPath))
	if err != nil {
		return 0, 0, err
	}
	var dropIns []exposure.DropIn
	for _, path := range props.DropInPaths {
		if c, ok := props.DropIns[path]; ok {
			dropIns = append(dropIns, exposure.DropIn{Name: path, Content: c})
		}
	}
	if before, err = exposure.Score(ctx, unit, string(frag), dropIns); err != nil {
		return 0, 0, err
	}
	var b strings.Builder
	if err := p.Render(&b, "seccompwatch learn"); err != nil {
		return 0, 0, err
	}
	after, err = exposure.Score(ctx, unit, string(frag), append(dropIns, exposure.DropIn{Name: "99-seccompwatch-learn.conf", Content: b.String()}))
	return before, after, err
}
