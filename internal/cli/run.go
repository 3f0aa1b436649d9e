package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/seccompwatch/seccompwatch/internal/memlimit"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/daemon"
	"github.com/seccompwatch/seccompwatch/internal/logging"
)

func registerRun(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("run", `Run the daemon: watch the kernel's audit stream for seccomp denials,
attribute them to units, serve metrics and suggestions over HTTP.

The default mode, multicast, is read-only: it needs CAP_AUDIT_READ, changes no
kernel audit state, and runs beside auditd and journald. unicast registers as
the host's audit daemon (CAP_AUDIT_CONTROL; refused while another audit daemon
holds the pid) and restores the kernel's audit settings on exit.

Examples:
  seccompwatch run
  seccompwatch run --web.listen-address=:9872 --events.file=/var/log/seccompwatch/events.jsonl
  seccompwatch run --audit.mode=unicast --log.format=console --log.level=debug
  curl -s localhost:9872/metrics | grep seccompwatch_denials_total`)
	var cfg daemon.Config
	c.Flag("web.listen-address", "Address of the HTTP server (metrics, API). Localhost only by default.").Default(DefaultListenAddress).StringVar(&cfg.ListenAddress)
	c.Flag("web.unix-socket", "Also serve the API on this unix socket (mode 0600: root and the daemon's user only), the channel seccompwatch apply trusts (the shipped unit: /run/seccompwatch/api.sock).").PlaceHolder("PATH").StringVar(&cfg.UnixSocket)
	c.Flag("web.config.file", "exporter-toolkit web configuration file that enables TLS and/or basic auth, as for node_exporter (see the README, \"Exposing the port\"). Re-read on every connection.").PlaceHolder("FILE").StringVar(&cfg.WebConfigFile)
	c.Flag("web.enable-loglevel-change", "Let PUT /debug/loglevel change the log level (GET always reads it). Off: any local user can reach the listener, and a level of fatal would hide the daemon's warnings.").BoolVar(&cfg.LoglevelChange)
	c.Flag("audit.mode", "multicast (passive, read-only) or unicast (become the audit daemon).").Default(auditstream.ModeMulticast).EnumVar(&cfg.AuditMode, auditstream.ModeMulticast, auditstream.ModeUnicast)
	c.Flag("audit.rcvbuf-bytes", "Netlink receive buffer to ask for (SO_RCVBUFFORCE with CAP_NET_ADMIN, else capped at net.core.rmem_max).").Default("67108864").IntVar(&cfg.RcvBufBytes)
	c.Flag("audit.backlog-limit", "unicast: kernel backlog_limit while running (restored on exit).").Default("8192").Uint32Var(&cfg.BacklogLimit)
	c.Flag("audit.backlog-wait-time", "unicast: kernel backlog_wait_time in jiffies while running; 0 keeps the kernel's (it blocks audited tasks up to that long when the backlog is full, so nothing is lost), -1 never blocks them (the kernel drops at the backlog limit and counts lost). Restored on exit.").Default("0").Int32Var(&cfg.BacklogWaitTime)
	c.Flag("state.dir", "Directory for the persisted denials (\"\" keeps them in memory only).").Default("/var/lib/seccompwatch").StringVar(&cfg.StateDir)
	c.Flag("events.file", "Write every denial as a JSON line (record schema) to FILE, or - for stdout; reopened on SIGHUP.").StringVar(&cfg.EventsFile)
	c.Flag("max-series", "Most label sets per metric family; more go to one overflow series (counted).").Default("10000").IntVar(&cfg.MaxSeries)
	c.Flag("max-units", "Most units whose denials are aggregated for suggestions; more are counted as overflow.").Default("1024").IntVar(&cfg.MaxUnits)
	c.Flag("api.recent-denials", "How many recent denials /api/v1/denials keeps.").Default("1000").IntVar(&cfg.RecentDenials)
	memLimit := c.Flag("memory.limit", "Soft limit for the Go runtime's memory (GOMEMLIMIT, fixed, wins): the garbage collector works harder near it instead of growing RSS. It rises to twice the live heap when that is more (after each collection), so that a daemon holding many pairs does not collect on every allocation. 0 for none.").Default("24MiB").Bytes()
	gcPercent := c.Flag("memory.gc-percent", "How far the heap grows past what the daemon holds before the garbage collector runs, in percent (GOGC; the environment variable wins): low keeps RSS near the live heap (< 30 MB at 10,000 unit × syscall pairs) at a collection per few hundred KB of garbage, which the record path does not make. 0 for the runtime's default.").Default("25").Int()
	procs := c.Flag("runtime.procs", "How many CPUs the daemon's Go code may run on at once (GOMAXPROCS; the environment variable wins). With one, a batch of records wakes one thread instead of handing work between several (at 1,000 denials/s on 2 cores: about 2% of a core instead of 3%), and a storm never takes more than a core from the services that make it. 0 for every CPU.").Default("1").Int()
	c.Flag("dbus.address", "D-Bus address of the systemd to ask for unit properties (default: the system bus; none: unit files only).").StringVar(&cfg.DBusAddress)
	c.Flag("units.root", "Root directory of the unit files read when D-Bus is unavailable.").Default("/").StringVar(&cfg.UnitsRoot)
	c.Flag("attribution.no-bpf", "Do not load the eBPF attribution programs (read /proc at record time).").BoolVar(&cfg.DisableBPF)
	c.Flag("state.save-interval", "How often the denials are saved to --state.dir.").Default("1m").DurationVar(&cfg.SaveInterval)
	c.Flag("learn.enable", "Serve seccompwatch learn UNIT --daemon: the daemon runs the eBPF observation (its CAP_BPF and CAP_PERFMON) for root clients of --web.unix-socket only (never over TCP) and answers with what it saw.").BoolVar(&cfg.LearnEnable)
	c.Flag("learn.max-duration", "Longest learn window the daemon accepts.").Default("1h").DurationVar(&cfg.LearnMaxDuration)
	c.Flag("learn.max-concurrent", "Most learns the daemon runs at once (each loads its own program); more are refused (429).").Default("1").IntVar(&cfg.LearnMaxConcurrent)
	cfg.SystemdTable = "auto"
	c.Flag("systemd.table", "Which systemd group table to use: auto, host, or a bundled version.").Default("auto").StringVar(&cfg.SystemdTable)
	logLevel := c.Flag("log.level", "debug, info, warn or error.").Default("info").String()
	logFormat := c.Flag("log.format", "json (journald, SIEM) or console (humans).").Default("json").Enum("json", "console")
	cmds[c.FullCommand()] = func() error {
		log, err := logging.New(*logFormat, *logLevel)
		if err != nil {
			return usagef("%v", err)
		}
		defer log.Sync()
		if _, set := os.LookupEnv("GOMAXPROCS"); !set && *procs > 0 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*procs))
		}
		// The runtime's settings are restored on return (a test may run
		// this in its own process).
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set && *memLimit > 0 {
			defer memlimit.Follow(uint64(*memLimit))()
		}
		if _, set := os.LookupEnv("GOGC"); !set && *gcPercent > 0 {
			defer debug.SetGCPercent(debug.SetGCPercent(*gcPercent))
		}
		log.Info("starting", zap.String("version", buildinfo.Version()), zap.String("audit_mode", cfg.AuditMode),
			zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)), zap.Uint64("gogc", memlimit.Setting("/gc/gogc:percent")),
			zap.Uint64("gomemlimit", memlimit.Setting("/gc/gomemlimit:bytes")))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		d, err := daemon.New(ctx, cfg, log)
		if err != nil {
			return runError(err, cfg.AuditMode)
		}
		start := time.Now()
		err = d.Run(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("stopped", zap.Error(err))
			return runError(err, cfg.AuditMode)
		}
		log.Info("stopped", zap.Duration("uptime", time.Since(start)))
		return nil
	}
}

func registerAuditRestore(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("audit-restore", `Restore the kernel audit state that a unicast run changed and did not put
back because it died without running its clean-up (SIGKILL, the OOM killer,
SIGABRT from the service manager's watchdog). Unicast mode records enabled,
backlog_limit and backlog_wait_time under --state.dir before changing them;
this puts them back, unregisters the dead run's audit pid, and removes the
record. Nothing recorded: nothing to do (exit 0). It refuses while a
unicast run holds the record, and leaves everything alone when another
audit daemon has registered since. Needs CAP_AUDIT_CONTROL when there is
something to restore. The daemon does the same at its next start; as
ExecStopPost= of the service it runs as soon as the daemon is gone.

Example:
  seccompwatch audit-restore --state.dir=/var/lib/seccompwatch`)
	dir := c.Flag("state.dir", "The daemon's --state.dir.").Default("/var/lib/seccompwatch").String()
	cmds[c.FullCommand()] = func() error {
		if *dir == "" {
			return usagef("--state.dir must not be empty")
		}
		r, err := auditstream.RecoverAuditState(filepath.Join(*dir, auditstream.AuditStateFile))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, r.String())
		return err
	}
}
