// Package daemon wires the live pipeline of `seccompwatch run`:
//
//	audit source ─► enrich (syscalls) ─► attribute (units) ─► aggregate (suggest)
//	                                                        ├► metrics
//	                                                        ├► recent denials (API)
//	                                                        └► event stream
//
// plus the HTTP server, state persistence, and the service manager protocol
// (READY once the audit stream is subscribed, WATCHDOG tied to the
// pipeline's liveness, STATUS with counts).
//
// Records are handled synchronously on the source's read loop: each step is
// microseconds, and a stall shows up where it is counted — as receive
// overflows (ENOBUFS) at the socket — rather than in an unbounded queue.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/eventlog"
	"github.com/seccompwatch/seccompwatch/internal/guard"
	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/logging"
	"github.com/seccompwatch/seccompwatch/internal/machined"
	"github.com/seccompwatch/seccompwatch/internal/metrics"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/state"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/internal/units"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Config is the daemon's configuration (the `run` flags).
type Config struct {
	ListenAddress string
	// UnixSocket, when set, is a unix socket the daemon serves the same
	// API on, created with mode 0600 (web.go, listenUnix): the channel
	// `seccompwatch apply` trusts, since only root and the daemon's own
	// user can connect to it, and only they can create it in the
	// service's runtime directory. TLS and basic auth do not apply to it.
	UnixSocket string
	// LoglevelChange lets PUT /debug/loglevel change the log level (GET
	// always reads it). Off by default: any local user reaches the
	// listener.
	LoglevelChange  bool
	AuditMode       string // auditstream.ModeMulticast or ModeUnicast
	RcvBufBytes     int
	BacklogLimit    uint32
	BacklogWaitTime int32
	StateDir        string // "" disables persistence
	EventsFile      string // "" disables the event stream; "-" is stdout
	MaxSeries       int
	MaxUnits        int
	RecentDenials   int
	SystemdTable    string
	DBusAddress     string // "" is the system bus; "none" disables D-Bus
	UnitsRoot       string // root of the unit files read when D-Bus is absent
	DisableBPF      bool
	SaveInterval    time.Duration
	// WebConfigFile is exporter-toolkit's web configuration (TLS, basic
	// auth) for the HTTP server; "" serves plain HTTP (web.go).
	WebConfigFile string
	// LearnEnable serves learning in the daemon on the unix socket
	// (learn.go); LearnMaxDuration (default 1h) and LearnMaxConcurrent
	// (default 1) bound it.
	LearnEnable        bool
	LearnMaxDuration   time.Duration
	LearnMaxConcurrent int
}

// stateFile is the name of the persisted aggregation under StateDir.
const stateFile = "denials.json"

// persisted is the state file's schema.
type persisted struct {
	Version int                     `json:"version"`
	Saved   time.Time               `json:"saved"`
	Units   []suggest.UnitAggregate `json:"units"`
}

// Daemon is a running pipeline. Create it with New and call Run once.
type Daemon struct {
	cfg    Config
	log    *logging.Logger
	table  *syscalls.Table
	native syscalls.Arch

	files    *unitprops.Files        // the unit files under UnitsRoot
	props    unitprops.Provider      // D-Bus, then unit files
	bus      *unitprops.DBus         // nil with --dbus.address=none; closed when Run ends
	machines *machineProps           // containers' own systemd; closed when Run ends
	machined *machined.Registry      // systemd-machined's machines; nil with --dbus.address=none
	users    *unitprops.UserManagers // users' own service managers; closed when Run ends
	verdicts *verdicts               // live verdicts for the event stream
	source   *auditstream.Source
	attr     *units.Attributor
	exes     atomic.Pointer[exeIndex]
	mainPIDs mainPIDLookups // the ExecMainPID fallback's throttle (read loop only)
	outcomes *outcomes
	agg      *suggest.Aggregator
	denials  *metrics.Denials
	recent   *ring
	events   *eventlog.Writer
	reg      *prometheus.Registry
	vis      *visibility // what hides denials on this host (visibility.go)
	learns   *learns     // learning in the daemon (learn.go)

	addr      atomic.Pointer[string]
	dbusState atomic.Pointer[httpapi.Check] // nil with --dbus.address=none
	stateErr  atomic.Pointer[string]
	// stateWriteErrors counts failed saves (seccompwatch_state_write_errors_total).
	stateWriteErrors atomic.Uint64

	// The per-unit gauges, cached between scrapes (unitStates).
	unitsMu      sync.Mutex
	units        []metrics.UnitState
	unitsHandled uint64
	unitsAt      time.Time

	// riskCache holds suggest.Risk per syscall name for the table in use;
	// only the read loop touches it.
	riskCache map[string]bool

	// runDone is Run's context's Done channel (set before the source
	// starts): the stall-on-record failpoint blocks on it.
	runDone <-chan struct{}

	// hot remembers what recent records derived (hot.go); read loop only.
	hot hotCache

	// Liveness: the read loop counts the records it starts (entered) and
	// ends (handled); alive tells a record in handling for too long by
	// the same count seen entered and not ended across watchdog ticks.
	entered atomic.Uint64
	handled atomic.Uint64
	// tap, when set before Run (the package's tests), sees every event
	// before the counter publishes it: a test keeps its own records there, which
	// the bounded recent ring may have dropped under other denials. It
	// gets a copy: a pointer would make every record's event escape to
	// the heap (an allocation a record, the storm's garbage).
	tap        func(event.Event)
	sourceDone atomic.Bool
	stuckAt    uint64    // serviceLoop only: the entered count seen in handling
	stuckSince time.Time // and since when
}

// New prepares the daemon: tables, attribution, unit properties, restored
// state and sinks. It opens no audit socket yet.
func New(ctx context.Context, cfg Config, log *logging.Logger) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, native: pipeline.NativeArch(), outcomes: newOutcomes(),
		riskCache: map[string]bool{}}
	if d.cfg.SaveInterval <= 0 {
		d.cfg.SaveInterval = time.Minute
	}
	if d.cfg.LearnMaxDuration <= 0 {
		d.cfg.LearnMaxDuration = time.Hour
	}
	d.learns = newLearns(cfg.LearnMaxConcurrent)
	if err := web.Validate(cfg.WebConfigFile); err != nil {
		return nil, fmt.Errorf("--web.config.file: %w", err)
	}
	t, err := syscalls.Select(ctx, cfg.SystemdTable)
	if err != nil {
		return nil, err
	}
	d.table = t
	log.Info("syscall group table", zap.String("table", t.Source))

	d.source, err = auditstream.NewSource(auditstream.Options{
		Mode:            cfg.AuditMode,
		RcvBufBytes:     cfg.RcvBufBytes,
		BacklogLimit:    cfg.BacklogLimit,
		BacklogWaitTime: cfg.BacklogWaitTime,
		Logger:          log.Logger,
		StateFile:       d.auditStatePath(),
		Drained:         d.drained,
	})
	if err != nil {
		return nil, err
	}

	d.attr, err = units.New(ctx, units.Options{DisableBPF: cfg.DisableBPF, Logger: log.Logger})
	if err != nil {
		return nil, fmt.Errorf("attribution: %w", err)
	}
	mode, reason := d.attr.Mode()
	if mode != "bpf" {
		log.Warn("eBPF attribution unavailable: falling back to reading /proc at record time; processes that exit before their record is read will be unit \"unknown\"",
			zap.String("mode", mode), zap.String("reason", reason))
	} else {
		log.Info("attribution", zap.String("mode", mode))
	}

	// Loading the BPF programs parsed the kernel's BTF (megabytes of
	// garbage and a mapping of /sys/kernel/btf/vmlinux): give it back now
	// rather than carry it in RSS for the daemon's lifetime.
	runtime.GC()
	debug.FreeOSMemory()

	d.files = unitprops.NewFiles(d.table, unitprops.FilesOptions{Root: d.cfg.UnitsRoot})
	d.vis = newVisibility(d.cfg.UnitsRoot, d.files, log.Named("visibility"))
	d.vis.check(ctx, true)
	if cfg.DBusAddress != "none" {
		// Machines systemd-machined registered outside machine.slice are
		// container boundaries too (units.MachineRegistry); listed now so
		// that the first records need not wait for it.
		d.machined = machined.New(cfg.DBusAddress, d.log.Named("machined"))
		d.attr.SetMachines(d.machined)
		if n, err := d.machined.Refresh(); err != nil {
			d.log.Warn("systemd-machined: machines not listed; records below a unit's payload directory are unknown until it answers", zap.Error(err))
		} else {
			d.log.Info("systemd-machined: machines listed", zap.Int("boundaries", n))
		}
	}
	d.machines = newMachineProps(d.table, d.log.Named("machines"), d.machined)
	d.users = unitprops.NewUserManagers(unitprops.DBusOptions{Table: d.table, Logger: d.log.Named("users")})
	d.props = withMachines{Provider: d.unitProviders(ctx), m: d.machines, users: d.users}
	d.cleanLearning(ctx)
	d.verdicts = newVerdicts(d, max(cfg.MaxSeries, 1024))
	d.refreshExeIndex(ctx)
	d.agg = suggest.NewAggregator(suggest.Limits{MaxUnits: cfg.MaxUnits})
	d.restoreState()
	d.recoverAuditState()
	if cfg.AuditMode == auditstream.ModeUnicast && cfg.StateDir == "" {
		log.Warn("unicast without --state.dir: the kernel audit state is saved in memory only, so a run killed by SIGKILL, the OOM killer or the watchdog's SIGABRT leaves it changed")
	}
	d.denials = metrics.NewDenials(cfg.MaxSeries)
	d.recent = newRing(max(cfg.RecentDenials, 1))
	if cfg.EventsFile != "" {
		d.events, err = eventlog.Open(cfg.EventsFile)
		if err != nil {
			d.attr.Close()
			d.closeBus()
			return nil, err
		}
	}
	d.reg = prometheus.NewRegistry()
	// The registry runs collectors on goroutines of its own and recovers
	// their panics itself (the scrape fails, the daemon stays up).
	d.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("seccompwatch"),
		metrics.NewCollector(d.snapshot, d.denials, cfg.MaxSeries),
	)
	if n := pageOutExecutable(); n > 0 {
		log.Debug("start-up's pages of the executable out of the resident set", zap.Int("mapped_bytes", n))
	}
	return d, nil
}

// unitProviders returns D-Bus first (when it answers), then unit files.
// D-Bus caches by itself and drops entries when systemd reloads; parsed
// unit files are cached here for propsTTL.
func (d *Daemon) unitProviders(ctx context.Context) unitprops.Provider {
	files := newPropsCache(d.files, propsTTL)
	if d.cfg.DBusAddress == "none" {
		return files
	}
	bus := unitprops.NewDBus(unitprops.DBusOptions{Address: d.cfg.DBusAddress, Table: d.table, Logger: d.log.Named("dbus"), CallTimeout: pipeline.PropsTimeout})
	d.bus = bus
	// Probe once so that the operator learns at start-up whether unit
	// properties come from systemd; the provider reconnects by itself,
	// and /healthz says how it stands.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := bus.Props(pctx, "-.slice")
	cancel()
	if errors.Is(err, unitprops.ErrNoDBus) {
		d.log.Warn("no systemd on D-Bus: unit properties come from unit files until it answers",
			zap.String("address", bus.Address()), zap.Error(err), zap.String("why", dbusWhy(err, os.Getuid())), zap.String("cost", noDBusCost))
		d.setDBus(err)
	} else {
		d.setDBus(nil)
	}
	return unitprops.Chain{bus, files}
}

// Addr returns the HTTP server's address once Run has bound it, else "".
func (d *Daemon) Addr() string {
	if p := d.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// closeBus closes the D-Bus connections (and their signal watcher).
func (d *Daemon) closeBus() {
	if d.bus != nil {
		_ = d.bus.Close()
	}
	if d.machines != nil {
		d.machines.close()
	}
	if d.machined != nil {
		d.machined.Close()
	}
	if d.users != nil {
		d.users.Close()
	}
}

func (d *Daemon) statePath() string { return filepath.Join(d.cfg.StateDir, stateFile) }

// auditStatePath is where unicast mode records the kernel audit state
// before changing it ("" without --state.dir).
func (d *Daemon) auditStatePath() string {
	if d.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(d.cfg.StateDir, auditstream.AuditStateFile)
}

// recoverAuditState restores what a previous unicast run left changed in
// the kernel (it died without restoring). A unicast source does it itself
// under its lock when it starts; this covers a restart in multicast mode.
func (d *Daemon) recoverAuditState() {
	path := d.auditStatePath()
	if path == "" || d.cfg.AuditMode == auditstream.ModeUnicast {
		return
	}
	r, err := auditstream.RecoverAuditState(path)
	switch {
	case err != nil:
		d.log.Warn("a previous unicast run's kernel audit state was not restored", zap.String("file", path), zap.Error(err))
	case r.Found:
		d.log.Warn("kernel audit state of a previous run that did not restore it", zap.String("recovery", r.String()))
	}
}

func (d *Daemon) restoreState() {
	if d.cfg.StateDir == "" {
		return
	}
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		d.log.Warn("state directory unusable: denials are kept in memory only", zap.Error(err))
		d.setStateErr(err)
		return
	}
	var p persisted
	err := state.Load(d.statePath(), &p)
	switch {
	case err == nil:
		d.agg.Restore(p.Units)
		d.log.Info("state restored", zap.String("file", d.statePath()), zap.Int("units", len(p.Units)), zap.Time("saved", p.Saved))
	case errors.Is(err, os.ErrNotExist):
	default:
		d.log.Warn("state not restored: starting empty", zap.Error(err))
		d.setStateErr(err)
	}
}

func (d *Daemon) saveState() {
	if d.cfg.StateDir == "" {
		return
	}
	err := state.Save(d.statePath(), persisted{Version: 1, Saved: time.Now().UTC(), Units: d.agg.Snapshot()})
	if err != nil {
		d.stateWriteErrors.Add(1)
		d.log.Warn("state not saved (kept in memory; retrying)", zap.Error(err), zap.Uint64("state_write_errors_total", d.stateWriteErrors.Load()))
		d.setStateErr(err)
		return
	}
	d.stateErr.Store(nil)
}

func (d *Daemon) setStateErr(err error) {
	s := err.Error()
	d.stateErr.Store(&s)
}

// drained is called by the source's read loop once it has read the socket
// empty after records: the event stream is written through there, on the
// read loop's own wake-up, instead of on its flush timer's.
func (d *Daemon) drained() {
	if d.events != nil {
		_ = d.events.Drain()
	}
}

// handle is called by the source for every SECCOMP record, on its read loop.
func (d *Daemon) handle(rec auditstream.Record, _ []byte) {
	d.entered.Add(1)
	if guard.RecordFailpoint(rec.Exe) {
		guard.Failpoint("panic-on-record")
		guard.FatalFailpoint("fatal-on-record")
		if guard.FailpointSet("stall-on-record") {
			// The pipeline stops making progress (as a hung look-up
			// would): the watchdog pings stop and systemd restarts the
			// service.
			<-d.runDone
			return
		}
	}

	res := d.attr.Attribute(rec.PID, rec.Time)
	key := hotKey(&rec)
	h := d.hot.find(&key, &res)
	if h == nil {
		d.handleSlow(&rec, key, res)
		return
	}
	h.outcome.Add(1)
	den := h.denial
	den.Time = rec.Time
	if h.slot != nil {
		d.agg.AddAt(h.slot, &den)
	} else {
		d.agg.Add(den)
	}
	ev := h.ev
	ev.Record = rec
	if h.judged {
		if h.verdict == nil || !rec.Time.Before(h.vUntil) {
			h.verdict, h.vUntil = d.verdicts.lookupKey(h.vkey, time.Now())
		}
		ev.Verdict = h.verdict
	}
	d.sink(&ev, h.counter)
}

// handleSlow is the full record path, for a record unlike the recent ones
// (hotCache); it remembers what it derived when records like it may reuse
// it.
func (d *Daemon) handleSlow(rec *auditstream.Record, key auditstream.Record, res units.Result) {
	ev := pipeline.Enrich(*rec, d.table)
	d.applyAttribution(&ev, rec, res)
	risky, ok := d.riskCache[ev.SyscallName]
	if !ok {
		risky, _ = suggest.Risk(d.table, ev.SyscallName)
		if len(d.riskCache) < 4096 {
			d.riskCache[ev.SyscallName] = risky
		}
	}
	unit := metricUnit(ev.Unit, ev.UserUnit, ev.UserUID)
	counter := d.denials.Counter(ev.Machine, unit, ev.SyscallName, ev.Action.String(), ev.ArchLabel(), risky)
	den := pipeline.Denial(&ev, d.native)
	slot, isNew := d.agg.AddSlot(&den)
	if isNew {
		// One line per new unit × syscall pair, so that the journal shows
		// what happened; the logger's sampler bounds a storm of new pairs.
		d.log.Info("new denial", zap.String("unit", suggest.Sanitize(unit, 256)), zap.String("machine", suggest.Sanitize(ev.Machine, 64)),
			zap.String("syscall", ev.SyscallName), zap.String("arch", ev.ArchLabel()), zap.String("action", ev.Action.String()),
			zap.String("exe", suggest.Sanitize(ev.Exe, 256)), zap.Bool("risky", risky))
	}
	judged := ev.Unit != "" && ev.Unit != event.UnknownUnit
	var vkey verdictKey
	var verdict *event.Verdict
	var until time.Time
	if judged {
		vkey = keyOf(&ev, d.native)
		verdict, until = d.verdicts.lookupKey(vkey, time.Now())
	}
	ev.Verdict = verdict
	if cacheable(&res) {
		h := &hotEntry{key: key, res: res, ev: ev, denial: den, risky: risky, counter: counter, slot: slot,
			vkey: vkey, judged: judged, verdict: verdict, vUntil: until}
		h.ev.Record, h.ev.Verdict = auditstream.Record{}, nil
		if ev.Method != "" {
			h.outcome = d.outcomes.counter(ev.Method, false)
		} else {
			h.outcome = d.outcomes.counter(ev.Reason, true)
		}
		d.hot.put(h)
	}
	d.sink(&ev, counter)
}

// sink hands a denial, already aggregated, to the sinks that see every
// record: the recent ring (API), the event stream, the handled count, its
// metric series' counter and the debug log.
func (d *Daemon) sink(ev *event.Event, counter metrics.DenialCounter) {
	d.recent.add(ev)
	if d.events != nil {
		d.events.WriteHeld(ev) // the read loop drains it: see drained
	}
	// The counter last: a reader who sees it count this denial (a test, an
	// alert, an operator) finds it in the suggestions and /api/v1/denials
	// too, never a count ahead of what the API serves.
	if d.tap != nil {
		d.tap(*ev)
	}
	d.handled.Add(1)
	counter.Inc()
	if ce := d.log.Check(zap.DebugLevel, "denial"); ce != nil {
		ce.Write(zap.String("unit", ev.Unit), zap.String("syscall", ev.SyscallName), zap.String("action", ev.Action.String()),
			zap.Int("pid", ev.PID), zap.String("comm", suggest.Sanitize(ev.Comm, 64)))
	}
}

// Run runs the daemon until ctx is cancelled or a component fails. It always
// restores the kernel audit state it changed, also after a panic in any of
// the daemon's goroutines (package guard).
func (d *Daemon) Run(ctx context.Context) (err error) {
	defer guard.OnPanic(func() {
		if err := d.source.Restore(); err != nil {
			d.log.Error("restoring kernel audit state after a panic", zap.Error(err))
		}
	})()
	defer guard.Recover()
	defer d.attr.Close()
	defer d.closeBus()
	defer func() {
		if d.events != nil {
			if cerr := d.events.Close(); cerr != nil {
				d.log.Warn("event stream close", zap.Error(cerr))
			}
		}
	}()

	ln, err := net.Listen("tcp", d.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("--web.listen-address: %w", err)
	}
	api := httpapi.New(d, httpapi.Options{
		Gatherer: d.reg, Level: &d.log.Level, LevelChange: d.cfg.LoglevelChange, Logger: d.log.Named("http"), Version: buildinfo.Version(),
	})
	tcpMux := http.NewServeMux()
	tcpMux.HandleFunc(LearnPath, learnRefused)
	tcpMux.Handle("/", api)
	srv := &http.Server{
		Handler:           tcpMux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	addr := ln.Addr().String()
	d.addr.Store(&addr)
	d.log.Info("listening", zap.String("address", addr))
	// The unix socket serves the same API, and learning (learn.go): no
	// read or write timeout for the whole request, which a learn outlasts
	// (the peers are root and the daemon's user only).
	unixMux := http.NewServeMux()
	unixMux.HandleFunc("POST "+LearnPath+"{unit}", d.handleLearn)
	unixMux.Handle("/", api)
	usrv := &http.Server{
		Handler:           unixMux,
		ConnContext:       peerContext,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	var uln net.Listener
	if d.cfg.UnixSocket != "" {
		if uln, err = listenUnix(d.cfg.UnixSocket); err != nil {
			ln.Close()
			return fmt.Errorf("--web.unix-socket: %w", err)
		}
		d.log.Info("listening", zap.String("unix_socket", d.cfg.UnixSocket))
	}

	g, gctx := errgroup.WithContext(ctx)
	d.runDone = gctx.Done()
	g.Go(guarded(func() error {
		err := d.serve(srv, ln)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}))
	if uln != nil {
		g.Go(guarded(func() error {
			err := usrv.Serve(uln)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		}))
	}
	g.Go(guarded(func() error {
		defer d.sourceDone.Store(true)
		err := d.source.Run(gctx, d.handle)
		if err != nil {
			return fmt.Errorf("audit stream: %w%s", err, d.vis.hint())
		}
		return nil
	}))
	g.Go(guarded(func() error { d.serviceLoop(gctx); return nil }))
	if d.bus != nil {
		g.Go(guarded(func() error { d.dbusLoop(gctx); return nil }))
	}
	g.Go(guarded(func() error { d.vis.run(gctx); return nil }))
	g.Go(guarded(func() error { d.verdicts.run(gctx); return nil }))
	g.Go(guarded(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(srv.Shutdown(sctx), usrv.Shutdown(sctx))
	}))
	err = g.Wait()
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	d.saveState()
	if rerr := d.source.Restore(); rerr != nil {
		d.log.Error("restoring kernel audit state", zap.Error(rerr))
	}
	return err
}

// guarded returns f for an errgroup goroutine, with guard.Recover
// deferred: a panic in any goroutine ends the program without running
// Run's deferred calls.
func guarded(f func() error) func() error {
	return func() error {
		defer guard.Recover()
		return f()
	}
}

// serviceLoop speaks the service manager protocol, saves state, flushes
// events and reopens the event file on SIGHUP.
func (d *Daemon) serviceLoop(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	wd, _ := sddaemon.SdWatchdogEnabled(false)
	tick := time.Second
	if wd > 0 && wd/2 < tick {
		tick = wd / 2
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	ready := false
	lastSave, lastExes := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if d.events != nil {
				if err := d.events.Reopen(); err != nil {
					d.log.Warn("event stream reopen", zap.Error(err))
				} else {
					d.log.Info("event stream reopened", zap.String("file", d.cfg.EventsFile))
				}
			}
		case <-t.C:
		}
		st := d.source.Stats()
		if !ready && st.Connected {
			ready = true
			_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
			d.log.Info("audit stream subscribed", zap.String("mode", st.Mode), zap.Int("rcvbuf_bytes", st.RcvBufBytes))
		}
		if ready {
			_, _ = sddaemon.SdNotify(false, "STATUS="+d.status(st))
		}
		if wd > 0 && d.alive(wd) {
			_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyWatchdog)
		}
		if d.events != nil {
			_ = d.events.Flush()
		}
		if time.Since(lastExes) >= exeIndexRefresh {
			d.refreshExeIndex(ctx)
			lastExes = time.Now()
		}
		if time.Since(lastSave) >= d.cfg.SaveInterval {
			d.saveState()
			lastSave = time.Now()
		}
	}
}

// dbusCheckInterval is how often the D-Bus connection is checked (and
// re-established after the bus went away, within the provider's backoff).
const dbusCheckInterval = 2 * time.Second

// dbusLoop keeps /healthz's D-Bus status true to the connection and
// reconnects when systemd's bus comes back, so that unit properties come
// from D-Bus again without waiting for a denial to ask.
func (d *Daemon) dbusLoop(ctx context.Context) {
	t := time.NewTicker(dbusCheckInterval)
	defer t.Stop()
	up := true // as the start-up probe left it, or close enough: the first check says
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := d.bus.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		d.setDBus(err)
		switch {
		case err == nil:
			if !up {
				d.log.Info("D-Bus back: unit properties come from systemd again", zap.String("address", d.bus.Address()))
			}
			up = true
		default:
			if up {
				d.log.Warn("D-Bus unavailable: unit properties come from unit files until it is back", zap.String("address", d.bus.Address()),
					zap.Error(err), zap.String("why", dbusWhy(err, os.Getuid())), zap.String("cost", noDBusCost))
			}
			up = false
		}
	}
}

// alive reports whether the pipeline makes progress: the source still
// runs and no record has been in handling for half the watchdog period.
func (d *Daemon) alive(wd time.Duration) bool {
	if d.sourceDone.Load() {
		return false
	}
	entered := d.entered.Load()
	if entered == d.handled.Load() {
		d.stuckAt = 0
		return true
	}
	// A record is in handling: the same one as at the last check?
	now := time.Now()
	if entered != d.stuckAt {
		d.stuckAt, d.stuckSince = entered, now
		return true
	}
	return now.Sub(d.stuckSince) <= wd/2
}

func (d *Daemon) status(st auditstream.LiveStats) string {
	var lost uint64
	for _, v := range st.Lost {
		lost += v
	}
	mode, _ := d.attr.Mode()
	return fmt.Sprintf("%s: %d denials, %d units; attribution %s; lost %d", st.Mode, d.handled.Load(), d.agg.Units(), mode, lost)
}

// ring keeps the most recent denials for /api/v1/denials.
type ring struct {
	mu   sync.Mutex
	buf  []event.Event
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]event.Event, n)} }

func (r *ring) add(e *event.Event) {
	r.mu.Lock()
	r.buf[r.next] = *e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// list returns up to limit events, oldest first, of unit (all when "").
func (r *ring) list(unit string, limit int) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	for i := 0; i < n; i++ {
		// Walk newest to oldest, then reverse.
		idx := (r.next - 1 - i + len(r.buf)) % len(r.buf)
		e := r.buf[idx]
		if unit != "" && metricUnit(e.Unit, e.UserUnit, e.UserUID) != unit {
			continue
		}
		out = append(out, e)
		if len(out) == limit {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
