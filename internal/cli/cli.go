// Package cli implements the seccompwatch command line: one kingpin
// application with a command per verb. main only calls Main.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
)

// Exit codes, documented in --help and the README.
const (
	ExitOK    = 0 // success
	ExitError = 1 // the command failed (I/O, daemon unreachable, ...)
	ExitUsage = 2 // bad flags or arguments
)

// env is what a command may touch: its standard streams, injected so that
// tests run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError marks an error that is the user's input, not a failure.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// stdinArg stands for a "-" argument while kingpin parses (see Main).
const stdinArg = "\x00stdin"

type terminated int

func init() {
	// "@mount" is a systemd group, not a file of arguments.
	kingpin.EnableFileExpansion = false
}

const description = `seccompwatch watches the kernel's seccomp denials, attributes each to its
systemd unit, and proposes the smallest SystemCallFilter= drop-in that fixes it.

Examples:
  # What did the sandbox deny? (replay an audit log, or - for stdin)
  seccompwatch replay /var/log/audit/audit.log
  journalctl -o json _TRANSPORT=audit | seccompwatch replay --output jsonl -

  # Turn an audit log into reviewed drop-ins for one unit
  seccompwatch suggest --replay /var/log/audit/audit.log --unit nginx.service

  # What is this syscall, group, or number?
  seccompwatch explain socket
  seccompwatch explain @mount
  seccompwatch explain x86_64 41

  # Run the daemon (Prometheus metrics + API on 127.0.0.1:9872)
  seccompwatch run
  seccompwatch denials
  seccompwatch suggest nginx.service

Exit codes: 0 success, 1 failure, 2 usage error.`

// Main runs the command line with args (without the program name) and
// returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	if len(args) > 0 && args[0] == apply.AsUserCommand {
		return apply.RunAsUserChild(args[1:], stdin, stdout)
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	app := kingpin.New("seccompwatch", description)
	app.Version(buildinfo.Generator())
	app.HelpFlag.Short('h')
	app.Writer(stdout)
	app.ErrorWriter(stderr)
	app.UsageWriter(stdout)
	app.Terminate(func(c int) { panic(terminated(c)) })
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code = int(t)
		}
	}()

	cmds := map[string]func() error{}
	register(app, e, cmds)

	// kingpin turns a lone "-" argument into "": pass stdin through as a
	// marker that no flag or file name can be.
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == "-" {
			args[i] = stdinArg
		}
	}
	selected, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "seccompwatch: %v (see --help)\n", err)
		return ExitUsage
	}
	run, ok := cmds[selected]
	if !ok {
		fmt.Fprintf(stderr, "seccompwatch: no command given (see --help)\n")
		return ExitUsage
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "seccompwatch %s: %s\n", selected, message(err))
		var ue usageError
		if errors.As(err, &ue) {
			return ExitUsage
		}
		return ExitError
	}
	return ExitOK
}

// register adds every command to app; cmds maps each command's full name to
// its action.
func register(app *kingpin.Application, e *env, cmds map[string]func() error) {
	registerReplay(app, e, cmds)
	registerSuggest(app, e, cmds)
	registerWhy(app, e, cmds)
	registerExplain(app, e, cmds)
	registerRun(app, e, cmds)
	registerAuditRestore(app, e, cmds)
	registerDenials(app, e, cmds)
	registerApply(app, e, cmds)
	registerLearn(app, e, cmds)
	registerLearnCleanup(app, e, cmds)
	registerLearnMerge(app, e, cmds)
	v := app.Command("version", "Print the version and build details.")
	cmds[v.FullCommand()] = func() error {
		_, err := fmt.Fprint(e.stdout, buildinfo.Get().Long())
		return err
	}
}
