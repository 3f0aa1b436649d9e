package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	sdbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/machined"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

func registerApply(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("apply", `Install the proposed drop-in of a unit, reload systemd, check it took effect.

Reads the unit's verdicts and proposals as data from the running daemon on
its unix socket (--daemon.socket; only root and the daemon's user can serve
or reach it, checked before and after connecting), or computes them from
--replay logs; renders /etc/systemd/system/UNIT.d/50-seccompwatch.conf
itself, with only SystemCallFilter= names, SystemCallArchitectures= ABIs
and the boolean directives' =no, each validated; shows the diff; asks at a
terminal (without one and without --yes it is a dry run); writes the file
atomically; reloads systemd over D-Bus and checks that the unit's
properties now say what the drop-in says (a later drop-in can override
it: then it fails and names it). What the suggestion holds back (risky or
foreign calls, deliberate settings) is written only with --allow-risky or
--allow NAME. A unit whose configuration is unknown is refused. Running it
again changes nothing; --revert removes exactly the files it wrote.

With --learned FILE (the output of seccompwatch learn --format json, or -
for stdin) it installs the whole sandbox learn proposed, as
UNIT.d/40-seccompwatch-learned.conf (before the lifting drop-in, which
overrides it): only the tightening values learn proposes, each validated;
lines learn proposed commented out only with --allow DIRECTIVE, risky
calls only with --allow-risky.

Examples:
  seccompwatch apply nginx.service                  # diff, then ask
  seccompwatch apply --yes --restart nginx.service
  seccompwatch apply --allow MemoryDenyWriteExecute --yes webapp.service
  seccompwatch apply --revert nginx.service
  seccompwatch learn nginx.service --for 10m --format json >nginx.json &&
      seccompwatch apply --learned nginx.json --yes --restart nginx.service
  seccompwatch apply --replay audit.log --yes demo.service
  seccompwatch apply --machine web demo.service      # a container's unit
  sudo seccompwatch apply --yes user@1000.service/build # user 1000's own unit

A user's unit (user@UID.service/NAME), as root: the records come from the
daemon, the verdicts are computed here against the unit as that user's
manager says it (/run/user/UID/systemd/private), the drop-in goes to
~UID/.config/systemd/user/NAME.d/ (--all-users: /etc/systemd/user/NAME.d/,
every user's NAME), written as that user, and that manager is reloaded.`)
	unitArg := c.Arg("unit", "The unit (a bare name means NAME.service).").Required().String()
	yes := c.Flag("yes", "Write without asking.").Bool()
	restart := c.Flag("restart", "Restart the unit afterwards, wait for the result and report it.").Bool()
	revert := c.Flag("revert", "Remove the drop-ins apply wrote (each only if unchanged since) and reload.").Bool()
	learned := c.Flag("learned", "Install the sandbox `seccompwatch learn --format json` proposed (its output file, or - for stdin) as UNIT.d/"+apply.LearnedName+" (--revert removes it with the other).").PlaceHolder("FILE").String()
	root := c.Flag("root", "Write below this root directory (a container's /proc/LEADER/root, with its bus as --dbus.address).").Default("/").String()
	busAddr := c.Flag("dbus.address", "D-Bus address of the systemd to reload and ask (default: the system bus).").String()
	allowRisky := c.Flag("allow-risky", "Write risky and foreign-binary syscalls too.").Bool()
	allow := allowFlag(c)
	replayFiles := c.Flag("replay", "Compute the proposals from this audit log instead of asking the daemon (repeatable).").Strings()
	attributeAll := c.Flag("replay.attribute-all", "With --replay: attribute every record to UNIT (as suggest --unit does), for a log of that unit alone.").Bool()
	socket := c.Flag("daemon.socket", "The daemon's unix socket (its --web.unix-socket).").Default(apply.DefaultSocket).String()
	machine := c.Flag("machine", "The container whose unit this is, as the daemon names it: apply writes below its leader's /proc/LEADER/root and reloads the systemd on its bus (or at --root and --dbus.address, given both).").String()
	timeout := c.Flag("timeout", "How long --restart waits for the unit.").Default("2m").Duration()
	allUsers := c.Flag("all-users", "For a user's unit (user@UID.service/NAME): write /etc/systemd/user/NAME.d/, which every user's NAME reads, instead of that user's ~/.config/systemd/user/NAME.d/.").Bool()
	table := tableFlag(c)
	cmds[c.FullCommand()] = func() error {
		if uid, name, ok := unitname.SplitUserRef(unitname.CompleteRef(*unitArg)); ok {
			switch {
			case *machine != "" || *learned != "" || len(*replayFiles) > 0 || *busAddr != "" || filepath.Clean(*root) != "/":
				return usagef("a user's unit is applied from the daemon's records to its own manager: not with --machine, --learned, --replay, --root or --dbus.address")
			}
			allowed, err := allowSet(*allow)
			if err != nil {
				return err
			}
			t, err := selectTable(*table)
			if err != nil {
				return err
			}
			if err := unitname.ValidateRef(unitname.CompleteRef(*unitArg), unitname.Any); err != nil {
				return usagef("%v", err)
			}
			a := &applier{e: e, unit: name, root: "/", t: t, restart: *restart, timeout: *timeout, userUnit: true, uid: uid, allUsers: *allUsers}
			return a.runUser(context.Background(), *socket, *revert, *yes, allowed, *allowRisky)
		}
		if *allUsers {
			return usagef("--all-users is for a user's unit (user@UID.service/NAME)")
		}
		unit, err := systemUnitArg(*unitArg, "apply")
		if err != nil {
			return err
		}
		var leader int
		if *machine != "" {
			if !event.ValidMachineName(*machine) {
				return usagef("--machine needs a machine name")
			}
			var err error
			if *root, *busAddr, leader, err = machineTarget(*machine, *root, *busAddr); err != nil {
				return err
			}
		}
		allowed, err := allowSet(*allow)
		if err != nil {
			return err
		}
		t, err := selectTable(*table)
		if err != nil {
			return err
		}
		a := &applier{e: e, unit: unit, root: *root, t: t, restart: *restart, timeout: *timeout, machine: *machine, leader: leader}
		ctx := context.Background()
		if *revert {
			if err := a.connect(ctx, *busAddr); err != nil {
				return err
			}
			defer a.close()
			return a.revert(ctx)
		}
		if *learned != "" {
			if len(*replayFiles) > 0 || *machine != "" {
				return usagef("--learned reads learn's output: not with --replay or --machine")
			}
			r := a.e.stdin
			if *learned != "-" {
				f, err := os.Open(*learned)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			l, err := apply.DecodeLearned(r, unit)
			if err != nil {
				return err
			}
			plan, err := apply.BuildLearned(l, apply.Options{Table: t, Allow: allowed, AllowRisky: *allowRisky})
			if err != nil {
				return err
			}
			if err := a.connect(ctx, *busAddr); err != nil {
				return err
			}
			defer a.close()
			return a.applyLearned(ctx, plan, *yes)
		}
		// The proposals first: what is wrong with them (none recorded, a
		// machine's unit without --machine, invalid data) is said before
		// any systemd is asked.
		var data []byte
		var plan apply.Plan
		start := time.Now()
		for try := 0; ; try++ {
			if len(*replayFiles) > 0 {
				if *machine != "" {
					return usagef("--machine reads the daemon; with --replay, --root is the container's root")
				}
				data, err = a.fromReplay(*replayFiles, *attributeAll, allowed, *allowRisky)
			} else {
				q := url.Values{}
				for n := range allowed {
					q.Add("allow", n)
				}
				if *allowRisky {
					q.Set("allow_risky", "1")
				}
				if *machine != "" {
					q.Set("machine", *machine)
				}
				data, err = apply.Fetch(ctx, *socket, unit, q)
			}
			if err != nil {
				return err
			}
			s, err := apply.Decode(bytes.NewReader(data), unit, *machine)
			if err != nil {
				if m := apply.OnlyMachine(data, unit); *machine == "" && m != "" {
					return fmt.Errorf("%w: the daemon's records of %s are machine %s's, not the host's: seccompwatch apply --machine %s %s", err, unit, m, m, shellWord(unit))
				}
				return err
			}
			plan, err = apply.Build(s, apply.Options{Table: t, Allow: allowed, AllowRisky: *allowRisky})
			if errors.Is(err, apply.ErrNotRead) && len(*replayFiles) == 0 {
				// A slow or reconnecting bus is not an unknown
				// configuration: ask again, a few times.
				if try < len(notReadRetries) {
					fmt.Fprintf(a.e.stderr, "%v; asking the daemon again in %s\n", err, notReadRetries[try])
					time.Sleep(notReadRetries[try])
					continue
				}
				return fmt.Errorf("%w (asked %d times in %s); nothing applied", err, try+1, time.Since(start).Round(time.Second))
			}
			if err != nil {
				return err
			}
			break
		}
		if err := a.connect(ctx, *busAddr); err != nil {
			return err
		}
		defer a.close()
		return a.apply(ctx, plan, *yes)
	}
}

// notReadRetries are the waits before apply asks the daemon again for a
// suggestion whose unit's configuration the daemon could not read now
// (apply.ErrNotRead: under load in the VM, systemd busy with a reload took
// longer than the daemon's 2 s for a D-Bus call).
var notReadRetries = []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// shellWord quotes a validated unit name for a command line to copy.
func shellWord(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// machineTarget returns where apply writes and which systemd it reloads
// for a unit of machine: the machine's root and system bus through its
// leader (machineLeader: the leader systemd-machined registered, else the
// PID 1 of /machine.slice's scope of that name; only root can do either),
// unless --root and
// --dbus.address say so (both, or neither). A root that is the host's own
// is refused: the unit would be written to the host.
func machineTarget(machine, root, bus string) (string, string, int, error) {
	given := filepath.Clean(root) != "/"
	if given != (bus != "") {
		return "", "", 0, usagef("--machine: give both --root and --dbus.address, or neither (then they are found through the machine's leader)")
	}
	leader := 0
	if !given {
		var err error
		if leader, err = machineLeader(machine); err != nil {
			return "", "", 0, fmt.Errorf("machine %s: %w: nothing applied", machine, err)
		}
		root = "/proc/" + strconv.Itoa(leader) + "/root"
		bus = "unix:path=" + root + "/run/dbus/system_bus_socket"
	}
	host, err := os.Stat("/")
	if err != nil {
		return "", "", 0, err
	}
	mr, err := os.Stat(root)
	if err != nil {
		return "", "", 0, fmt.Errorf("machine %s: its root: %w", machine, err)
	}
	if os.SameFile(host, mr) {
		return "", "", 0, fmt.Errorf("machine %s: %s is the host's own root: nothing applied", machine, root)
	}
	return root, bus, leader, nil
}

// applier holds one apply run's connections.
type applier struct {
	e        *env
	unit     string
	machine  string
	leader   int // the machine's leader whose root apply writes below; 0: none
	root     string
	t        *syscalls.Table
	restart  bool
	timeout  time.Duration
	conn     *sdbus.Conn
	reload   func(context.Context) error
	restartF func(context.Context) (apply.Outcome, error)
	props    *unitprops.DBus
	busAddr  string // the D-Bus address of the systemd reloaded and asked ("": the system bus)
	// json, when set, receives learn --method log's output as JSON.
	json io.Writer
	// userUnit: a unit of user uid's service manager (applyuser.go);
	// asUser, when set, does every file operation (below the user's home).
	userUnit bool
	uid      int
	allUsers bool
	asUser   *apply.User
}

func (a *applier) connect(ctx context.Context, address string) error {
	conn, err := unitprops.Dial(ctx, address)
	if err != nil {
		return fmt.Errorf("cannot reach systemd: %w", err)
	}
	a.conn = conn
	a.busAddr = address
	a.reload = func(ctx context.Context) error { return apply.Reload(ctx, conn) }
	a.restartF = func(ctx context.Context) (apply.Outcome, error) { return apply.Restart(ctx, conn, a.unit, a.timeout) }
	root := a.root
	if filepath.Clean(root) == "/" {
		root = ""
	}
	a.props = unitprops.NewDBus(unitprops.DBusOptions{Address: address, Root: root, Table: a.t, CallTimeout: 10 * time.Second})
	return nil
}

func (a *applier) close() {
	a.conn.Close()
	_ = a.props.Close()
}

func (a *applier) printf(format string, args ...any) { fmt.Fprintf(a.e.stdout, format, args...) }

func (a *applier) paths() (path, sysPath string) {
	if a.isUser() {
		return a.userPath(), a.userPath()
	}
	path, _ = apply.Path(a.root, a.unit, false) // the unit name is validated
	sysPath, _ = apply.Path("/", a.unit, false)
	return path, sysPath
}

func (a *applier) fromReplay(files []string, all bool, allowed map[string]bool, allowRisky bool) ([]byte, error) {
	attribute := ""
	if all {
		attribute = a.unit
	}
	results, err := suggestFromReplay(a.e, files, attribute, a.root, a.t, suggest.Options{
		Table: a.t, AllowRisky: allowRisky, Generator: buildinfo.Generator(), Allow: allowed,
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, r := range results {
		if r.Suggestion.Unit == a.unit && r.Suggestion.Machine == "" && !r.Suggestion.UserUnit {
			err := suggest.RenderJSON(&buf, []suggest.Suggestion{r.Suggestion})
			return buf.Bytes(), err
		}
	}
	return nil, fmt.Errorf("%w: the replayed logs hold no records of %s", apply.ErrNotFound, a.unit)
}

func (a *applier) apply(ctx context.Context, plan apply.Plan, yes bool) error {
	p, err := a.props.Props(ctx, a.unit)
	if err != nil {
		return fmt.Errorf("cannot read %s's configuration from systemd: %w; nothing applied", a.unit, err)
	}
	if !p.Found {
		return fmt.Errorf("systemd does not know %s; nothing applied", a.unit)
	}
	path, sysPath := a.paths()
	cur := apply.File{Unit: a.fileUnit()}
	old, exists, dirExists, err := a.readFile(path)
	switch {
	case err != nil:
		return err
	case exists:
		if cur, err = apply.Parse(old, a.fileUnit(), a.t); err != nil {
			return fmt.Errorf("%s: %w; apply does not overwrite it", sysPath, err)
		}
	case !dirExists:
		cur.CreatedDir = true
	}
	for _, h := range plan.Held {
		a.printf("held back: %s\n", h)
	}
	next, added := apply.Merge(cur, plan.Items)
	if !added {
		switch {
		case len(plan.Held) > 0 && !exists:
			return fmt.Errorf("nothing applied to %s: every proposal is held back (above)", a.unit)
		case !exists:
			a.printf("%s: nothing to apply\n", a.unit)
			return nil
		}
		if err := a.verify(ctx, p, sysPath, cur.Items); err != nil {
			return err
		}
		a.printf("%s already holds every proposal; %s's properties say what it says: nothing to do\n", sysPath, a.unit)
		return nil
	}
	return a.install(ctx, path, sysPath, old, exists, next.Render(buildinfo.Generator()), next.Items, yes)
}

// install shows the diff from old to content, asks (or is a dry run), writes
// path atomically, reloads systemd and checks that the unit's properties
// say what items say; then restarts the unit if asked.
func (a *applier) install(ctx context.Context, path, sysPath, old string, exists bool, content string, items []apply.Item, yes bool) error {
	a.printf("%s", suggest.UnifiedDiff(sysPath, old, content, exists))
	if !yes {
		if !isTerminal(a.e.stdin) {
			a.printf("dry run (no terminal, no --yes): nothing written\n")
			return nil
		}
		a.printf("Write %s and reload systemd? [y/N] ", path)
		answer, _ := bufio.NewReader(a.e.stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "y" && ans != "yes" {
			a.printf("nothing written\n")
			return nil
		}
	}
	if err := a.sameLeader(); err != nil {
		return err
	}
	if err := a.writeFile(path, content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := a.reload(ctx); err != nil {
		return fmt.Errorf("wrote %s, but %w", path, err)
	}
	a.props.Invalidate(a.unit)
	p, err := a.props.Props(ctx, a.unit)
	if err == nil {
		err = a.verify(ctx, p, sysPath, items)
	}
	if err != nil {
		return fmt.Errorf("%w (the drop-in stays; seccompwatch apply --revert %s removes it)", err, a.unit)
	}
	a.printf("wrote %s; systemd reloaded; %s's properties now say what it says\n", path, a.unit)
	return a.maybeRestart(ctx)
}

// applyLearned installs a learned proposal's plan as the learned drop-in,
// replacing an earlier one apply wrote.
func (a *applier) applyLearned(ctx context.Context, plan apply.Plan, yes bool) error {
	p, err := a.props.Props(ctx, a.unit)
	if err != nil {
		return fmt.Errorf("cannot read %s's configuration from systemd: %w; nothing applied", a.unit, err)
	}
	if !p.Found {
		return fmt.Errorf("systemd does not know %s; nothing applied", a.unit)
	}
	path, _ := apply.LearnedPath(a.root, a.unit) // the unit name is validated
	sysPath, _ := apply.LearnedPath("/", a.unit)
	next := apply.File{Unit: a.unit, Items: plan.Items, Learned: true}
	old, exists := "", false
	switch b, err := os.ReadFile(path); {
	case err == nil:
		old, exists = string(b), true
		cur, err := apply.Parse(old, a.unit, a.t)
		if err != nil {
			return fmt.Errorf("%s: %w; apply does not overwrite it", sysPath, err)
		}
		if !cur.Learned {
			return fmt.Errorf("%s: %w (not a learned drop-in); apply does not overwrite it", sysPath, apply.ErrNotOurs)
		}
		next.CreatedDir = cur.CreatedDir
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, os.ErrNotExist) {
			next.CreatedDir = true
		}
	default:
		return err
	}
	for _, h := range plan.Held {
		a.printf("not written: %s\n", h)
	}
	if len(plan.Items) == 0 {
		a.printf("%s: the learned proposal holds nothing to write (every line kept, skipped or held)\n", a.unit)
		return nil
	}
	content := next.Render(buildinfo.Generator())
	if exists && content == old {
		if err := a.verify(ctx, p, sysPath, next.Items); err != nil {
			return err
		}
		a.printf("%s already holds this proposal; %s's properties say what it says: nothing to do\n", sysPath, a.unit)
		return nil
	}
	return a.install(ctx, path, sysPath, old, exists, content, next.Items, yes)
}

// verify checks the unit's properties against items (apply.Verify), with
// this systemd asked which missing names it can resolve (a probe unit,
// unitprops.ProbeFilter), and prints what systemd left out and why. For
// a user's unit the probe runs on the system's manager (the same systemd
// resolves names the same way; a probe on a user manager's private socket
// is not implemented).
func (a *applier) verify(ctx context.Context, p unitprops.Props, sysPath string, items []apply.Item) error {
	notes, err := apply.Verify(p, sysPath, items, a.t, func(names []string) (map[string]bool, error) {
		return unitprops.ProbeFilter(ctx, a.busAddr, names)
	})
	for _, n := range notes {
		a.printf("note: %s\n", n)
	}
	return err
}

func (a *applier) maybeRestart(ctx context.Context) error {
	if !a.restart {
		return nil
	}
	o, err := a.restartF(ctx)
	if err != nil {
		return err
	}
	a.printf("restarted %s: %s\n", a.unit, o)
	if !o.OK() {
		return fmt.Errorf("%s did not come back cleanly: %s", a.unit, o)
	}
	return nil
}

// machineLeader finds machine's leader as the daemon does (machined.Leader),
// asking the host's systemd-machined on the system bus once.
func machineLeader(machine string) (int, error) {
	reg := machined.New("", nil)
	defer reg.Close()
	_, _ = reg.Refresh() // no machined, or no bus: /machine.slice alone
	return machined.Leader(reg, machine)
}

// sameLeader checks, just before a write or a removal below
// /proc/LEADER/root, that LEADER is still the machine's leader: a machine
// restarted meanwhile has another, and its old pid may now be anyone's.
func (a *applier) sameLeader() error {
	if a.leader == 0 {
		return nil
	}
	if l, err := machineLeader(a.machine); err != nil || l != a.leader {
		return fmt.Errorf("machine %s: its leader is no longer pid %d (restarted?): nothing written", a.machine, a.leader)
	}
	return nil
}

func (a *applier) revert(ctx context.Context) error {
	path, sysPath := a.paths()
	if err := a.sameLeader(); err != nil {
		return err
	}
	lpath, _ := apply.LearnedPath(a.root, a.unit) // the unit name is validated
	lsysPath, _ := apply.LearnedPath("/", a.unit)
	files := [][2]string{{path, sysPath}, {lpath, lsysPath}}
	if a.isUser() {
		files = files[:1] // no learned drop-in for a user's unit
	}
	var removed []string
	for _, f := range files {
		ok, err := a.removeFile(f[0])
		if err != nil {
			if len(removed) > 0 {
				_ = a.reload(ctx)
			}
			return fmt.Errorf("%s: %w; left in place", f[1], err)
		}
		if ok {
			removed = append(removed, f[0])
		}
	}
	if len(removed) == 0 {
		if a.isUser() {
			a.printf("nothing to revert: there is no %s\n", sysPath)
			return nil
		}
		a.printf("nothing to revert: there is no %s or %s\n", sysPath, lsysPath)
		return nil
	}
	if err := a.reload(ctx); err != nil {
		return fmt.Errorf("removed %s, but %w", strings.Join(removed, ", "), err)
	}
	a.printf("removed %s; systemd reloaded\n", strings.Join(removed, ", "))
	return a.maybeRestart(ctx)
}
