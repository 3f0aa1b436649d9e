package cli

import (
	"context"
	"net/url"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

func registerWhy(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("why", `Say what denied a unit's calls, as audit2why does for SELinux.

For each denied call: the verdict (SystemCallFilter=, a deliberate "~"
removal, SystemCallArchitectures=, another seccomp-backed directive such as
MemoryDenyWriteExecute=, none of the unit's settings, stale, benign), where
the denying setting was made (file:line), and the change that would lift
it, or why none is proposed. From a running daemon (--server), or with
--replay from audit logs and the unit files under --root.

Examples:
  seccompwatch why nginx.service
  seccompwatch why nginx.service mmap
  seccompwatch why user@1000.service/build.service     # a unit of user 1000's manager
  seccompwatch why --machine web demo.service          # a container's unit
  seccompwatch why --replay /var/log/audit/audit.log --root / webapp.service`)
	unitArg := c.Arg("unit", "The unit (a bare name means NAME.service); a user's unit as user@UID.service/NAME, as the metrics label it.").Required().String()
	syscallArg := c.Arg("syscall", "Only this call.").String()
	replayFiles := c.Flag("replay", "Audit log to read (repeatable; - for stdin). Without it, ask the daemon.").Strings()
	root := c.Flag("root", "With --replay: root directory of the unit files.").Default("/").String()
	table := tableFlag(c)
	server := serverFlag(c)
	machine := c.Flag("machine", "Without --replay: the container (machine) whose unit to explain, or .host.").String()
	socket := c.Flag("daemon.socket", "Run as root, for a user's unit: the daemon's unix socket, whose records are judged here against the unit's configuration as its own manager says it (the shipped daemon cannot ask a user manager).").Default(apply.DefaultSocket).String()
	cmds[c.FullCommand()] = func() error {
		unit := unitname.CompleteRef(*unitArg)
		if err := unitname.ValidateRef(unit, unitname.Any); err != nil {
			return usagef("%v", err)
		}
		if *syscallArg != "" && !syscalls.Known(*syscallArg) {
			return usagef("%s is not a system call name", plainName(*syscallArg))
		}
		if _, _, user := unitname.SplitUserRef(unit); user && len(*replayFiles) == 0 && *machine == "" && os.Geteuid() == 0 {
			if _, err := os.Stat(*socket); err == nil {
				t, err := selectTable(*table)
				if err != nil {
					return err
				}
				return whyUser(e, *socket, unit, *syscallArg, t)
			}
		}
		if len(*replayFiles) == 0 {
			if *machine != "" && *machine != httpapi.HostMachine && !event.ValidMachineName(*machine) {
				return usagef("--machine: not a machine name: %q", *machine)
			}
			q := url.Values{"format": {"why"}}
			if *syscallArg != "" {
				q.Set("syscall", *syscallArg)
			}
			if *machine != "" {
				q.Set("machine", *machine)
			}
			return getTo(e.stdout, *server, "/api/v1/suggestions/"+url.PathEscape(unit), q)
		}
		t, err := selectTable(*table)
		if err != nil {
			return err
		}
		results, err := suggestFromReplay(e, *replayFiles, "", *root, t, suggest.Options{Table: t, Generator: buildinfo.Generator()})
		if err != nil {
			return err
		}
		for _, r := range results {
			if unitname.Ref(r.Suggestion.Unit, r.Suggestion.UserUnit, r.Suggestion.UID) == unit {
				return suggest.RenderWhy(e.stdout, r.Suggestion, *syscallArg)
			}
		}
		return usagef("no records of %s in the replayed logs", plainName(unit))
	}
}

// systemUnitArg completes and validates the unit argument of a command that
// changes or restarts a system unit (apply, learn): a user unit reference,
// which why, suggest and denials take, is refused with what to do instead.
func systemUnitArg(arg, command string) (string, error) {
	unit := unitname.CompleteRef(arg)
	if uid, name, ok := unitname.SplitUserRef(unit); ok {
		if err := unitname.ValidateRef(unit, unitname.Any); err != nil {
			return "", usagef("%v", err)
		}
		return "", usagef("%s is %s of user %d's service manager, and %s works on system units only: seccompwatch suggest %s shows its proposal; as root, seccompwatch apply %s installs it for that user",
			plainName(unit), plainName(name), uid, command, plainName(unit), plainName(unit))
	}
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		return "", usagef("%v", err)
	}
	return unit, nil
}

// whyUser explains a user's unit as root: the daemon's records (over its
// unix socket, as apply reads them), judged here against the unit's
// configuration read from its own manager (pipeline.PolicyFor).
func whyUser(e *env, socket, ref, sc string, t *syscalls.Table) error {
	ctx := context.Background()
	recs, err := apply.FetchRecords(ctx, socket, ref)
	if err != nil {
		return err
	}
	users := unitprops.NewUserManagers(unitprops.DBusOptions{Table: t, CallTimeout: 30 * time.Second})
	defer users.Close()
	uid, unit, _ := unitname.SplitUserRef(ref)
	connectUserManager(ctx, users, uid, unit)
	rs := pipeline.Suggest(ctx, []suggest.UnitAggregate{recs}, userProps{users}, suggest.Options{Table: t, Generator: buildinfo.Generator()})
	return suggest.RenderWhy(e.stdout, rs[0].Suggestion, sc)
}
