package unitprops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/seccompwatch/seccompwatch/internal/guard"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// ErrTimeout is wrapped by errors of D-Bus calls that exceeded the
// per-call timeout (a hung systemd or bus).
var ErrTimeout = errors.New("unitprops: D-Bus call timed out")

// Transient reports whether err is one a later attempt may not meet: a
// D-Bus call that timed out (a systemd busy with a reload, a loaded host),
// or no connection while the provider reconnects. The unit's
// configuration is then not known now, which is not an unknown
// configuration.
func Transient(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrNoDBus)
}

// DefaultSystemBusAddress is the system bus when DBUS_SYSTEM_BUS_ADDRESS is
// unset.
const DefaultSystemBusAddress = "unix:path=/run/dbus/system_bus_socket"

const (
	systemdBusName = "org.freedesktop.systemd1"
	systemdPath    = dbus.ObjectPath("/org/freedesktop/systemd1")
	managerIface   = "org.freedesktop.systemd1.Manager"
)

// DBusOptions configures a DBus provider. Zero values pick the defaults.
type DBusOptions struct {
	// Address is the D-Bus address to dial, e.g.
	// "unix:path=/proc/1234/root/run/dbus/system_bus_socket" for a
	// container's system bus. Empty means the system bus
	// ($DBUS_SYSTEM_BUS_ADDRESS, else DefaultSystemBusAddress).
	Address string
	// CallTimeout bounds each D-Bus call and each connection attempt
	// (default 2s).
	CallTimeout time.Duration
	// TTL bounds how long a unit's properties are cached (default 1m);
	// reloads and unit (un)loading drop entries earlier.
	TTL time.Duration
	// Root is prepended to drop-in paths when reading their content (e.g.
	// "/proc/1234/root" for a container); empty for the host.
	Root string
	// User marks the bus as a user manager's (sets Props.UserUnit); the
	// unit files and drop-ins it names are then read without following
	// symbolic links (that user controls their paths).
	User bool
	// Peer: Address is a manager's private socket (peer to peer, as
	// /run/user/UID/systemd/private): no Hello and no AddMatch, since no
	// bus daemon is there; the manager sends its signals to every
	// subscribed peer.
	Peer bool
	// MinBackoff and MaxBackoff bound the delay between connection
	// attempts after a failure (defaults 1s and 1m).
	MinBackoff, MaxBackoff time.Duration
	// ManagerPID is the host pid of the service manager whose process
	// environment decides SYSTEMD_LOG_SECCOMP (read from
	// /proc/<pid>/environ). 0 derives it: the <pid> of an address
	// "unix:path=/proc/<pid>/root/...", else 1 for the system bus (never
	// for a user bus). -1 disables the check.
	ManagerPID int
	// Logger receives connection lifecycle messages (nil: none).
	Logger *zap.Logger
	// Table expands @groups when the unit's files are read (below Root)
	// to find where each setting was made (nil: groups stay as written).
	Table *syscalls.Table
}

// DBus reads unit properties from a running systemd over D-Bus. It
// connects lazily on first use, reconnects with exponential backoff when
// the bus goes away (returning ErrNoDBus meanwhile, without blocking), and
// caches properties per unit.
//
// Cache invalidation: systemd changes a unit's configuration only when it
// (re)loads the unit: on daemon-reload (the manager's Reloading signal) or
// when a unit is loaded or unloaded (UnitNew, UnitRemoved, sent to
// subscribers after Manager.Subscribe). The seccomp and Exec properties are
// constant between those events, so PropertiesChanged (frequent: it fires
// on every state change) is not watched and ListUnits is not polled. The
// TTL covers what signals cannot: set-environment on the manager, and
// signals lost while reconnecting (a reconnect drops the whole cache).
//
// DBus is safe for concurrent use. Close releases the connections.
type DBus struct {
	opts    DBusOptions
	address string
	log     *zap.Logger
	ctx     context.Context // lifetime of connections
	cancel  context.CancelFunc
	sf      singleflight.Group
	now     func() time.Time

	mu       sync.Mutex
	closed   bool
	conn     *sdbus.Conn
	sig      *dbus.Conn
	dialing  chan struct{} // closed when the current attempt ends
	backoff  time.Duration
	nextDial time.Time
	lastErr  error
	gen      uint64 // bumped on reload/reconnect: fetches of an older gen are not cached
	cache    map[string]cacheEntry
	env      *envEntry
}

type cacheEntry struct {
	props   Props
	fetched time.Time
}

type envEntry struct {
	logSeccomp bool
	fetched    time.Time
}

var _ Provider = (*DBus)(nil)

// NewDBus returns a D-Bus provider; it does not connect yet.
func NewDBus(opts DBusOptions) *DBus {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 2 * time.Second
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Minute, opts.MinBackoff)
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	addr := opts.Address
	if addr == "" {
		addr = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if addr == "" {
		addr = DefaultSystemBusAddress
	}
	if opts.ManagerPID == 0 {
		opts.ManagerPID = managerPID(addr, opts.User)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &DBus{
		opts:    opts,
		address: addr,
		log:     log.Named("unitprops").With(zap.String("address", addr)),
		ctx:     ctx,
		cancel:  cancel,
		now:     time.Now,
		cache:   map[string]cacheEntry{},
	}
}

// Address returns the D-Bus address in use.
func (d *DBus) Address() string { return d.address }

// Close closes the connections. Later calls return ErrNoDBus.
func (d *DBus) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.dropLocked()
	d.cancel()
	return nil
}

// dropLocked forgets the connections and everything cached through them.
func (d *DBus) dropLocked() {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	if d.sig != nil {
		_ = d.sig.Close()
		d.sig = nil
	}
	d.gen++
	clear(d.cache)
	d.env = nil
}

// Invalidate drops the cached properties of unit ("" for all units).
func (d *DBus) Invalidate(unit string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if unit == "" {
		d.gen++
		clear(d.cache)
		d.env = nil
		return
	}
	// A fetch of unit already in flight may have read the old
	// configuration: bumping the generation keeps it (and any other
	// in-flight fetch, which merely costs one more call) out of the cache.
	d.gen++
	delete(d.cache, unit)
}

// Check reports whether systemd answers on the bus (nil when connected),
// and reconnects when the connection was lost and the reconnect backoff
// has passed: a caller that checks now and then makes the provider come
// back on its own after the bus returns, before any property is asked for.
func (d *DBus) Check(ctx context.Context) error {
	_, _, _, err := d.client(ctx)
	return err
}

// client returns a connected client, dialling when needed.
func (d *DBus) client(ctx context.Context) (*sdbus.Conn, *dbus.Conn, uint64, error) {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, nil, 0, fmt.Errorf("%w: provider closed", ErrNoDBus)
		}
		if d.conn != nil {
			if d.conn.Connected() && d.sig.Connected() {
				c, s, g := d.conn, d.sig, d.gen
				d.mu.Unlock()
				return c, s, g, nil
			}
			d.log.Warn("D-Bus connection lost; will reconnect")
			d.dropLocked()
			d.nextDial = time.Time{}
		}
		if w := d.dialing; w != nil {
			d.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, nil, 0, fmt.Errorf("unitprops: wait for D-Bus: %w", ctx.Err())
			}
		}
		if now := d.now(); now.Before(d.nextDial) {
			err := d.lastErr
			d.mu.Unlock()
			return nil, nil, 0, fmt.Errorf("%w: %s (retry in %s): %w", ErrNoDBus, d.address,
				d.nextDial.Sub(now).Round(time.Millisecond), err)
		}
		w := make(chan struct{})
		d.dialing = w
		d.mu.Unlock()

		conn, sig, err := d.dialBounded(ctx)

		d.mu.Lock()
		d.dialing = nil
		close(w)
		if err != nil {
			d.backoff = min(max(2*d.backoff, d.opts.MinBackoff), d.opts.MaxBackoff)
			d.nextDial = d.now().Add(d.backoff)
			d.lastErr = err
			d.mu.Unlock()
			d.log.Debug("D-Bus unavailable", zap.Error(err), zap.Duration("backoff", d.backoff))
			return nil, nil, 0, err
		}
		if d.closed {
			d.mu.Unlock()
			conn.Close()
			_ = sig.Close()
			return nil, nil, 0, fmt.Errorf("%w: provider closed", ErrNoDBus)
		}
		d.backoff, d.lastErr = 0, nil
		d.dropLocked()
		d.conn, d.sig = conn, sig
		d.mu.Unlock()
		d.log.Info("connected to systemd over D-Bus")
	}
}

// dialBounded dials within CallTimeout; a late connection is closed.
func (d *DBus) dialBounded(ctx context.Context) (*sdbus.Conn, *dbus.Conn, error) {
	type result struct {
		conn *sdbus.Conn
		sig  *dbus.Conn
		err  error
	}
	rc := make(chan result, 1)
	guard.Go(func() {
		c, s, err := d.dial()
		rc <- result{c, s, err}
	})
	t := time.NewTimer(d.opts.CallTimeout)
	defer t.Stop()
	var err error
	select {
	case r := <-rc:
		return r.conn, r.sig, r.err
	case <-t.C:
		err = fmt.Errorf("%w: connect %s: %w", ErrNoDBus, d.address, ErrTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("unitprops: connect %s: %w", d.address, ctx.Err())
	}
	guard.Go(func() {
		if r := <-rc; r.err == nil {
			r.conn.Close()
			_ = r.sig.Close()
		}
	})
	return nil, nil, err
}

// dial connects the go-systemd client and a signal connection, subscribes
// to the manager's signals and starts watching them.
func (d *DBus) dial() (*sdbus.Conn, *dbus.Conn, error) {
	if p, ok := strings.CutPrefix(d.address, "unix:path="); ok {
		if i := strings.IndexByte(p, ','); i >= 0 {
			p = p[:i]
		}
		if _, err := os.Stat(p); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoDBus, err)
		}
	}
	conn, err := sdbus.NewConnection(d.dialOne)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: connect %s: %w", ErrNoDBus, d.address, err)
	}
	sig, err := d.dialOne()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("%w: connect %s: %w", ErrNoDBus, d.address, err)
	}
	ch := make(chan *dbus.Signal, 256)
	sig.Signal(ch)
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.CallTimeout)
	defer cancel()
	for _, member := range []string{"Reloading", "UnitNew", "UnitRemoved"} {
		if d.opts.Peer {
			break
		}
		err = sig.AddMatchSignalContext(ctx, dbus.WithMatchSender(systemdBusName),
			dbus.WithMatchInterface(managerIface), dbus.WithMatchMember(member))
		if err != nil {
			break
		}
	}
	if err == nil {
		// Subscribe doubles as the probe that systemd is on this bus.
		err = sig.Object(systemdBusName, systemdPath).CallWithContext(ctx, managerIface+".Subscribe", 0).Err
	}
	if err != nil {
		conn.Close()
		_ = sig.Close()
		return nil, nil, classify(fmt.Sprintf("subscribe on %s", d.address), err)
	}
	guard.Go(func() { d.watch(sig, ch) })
	return conn, sig, nil
}

// HelloError is a failed Hello call (see ErrHelloRefused); Err is what the
// connection reported.
type HelloError struct{ Err error }

func (e *HelloError) Error() string { return "hello: " + e.Err.Error() }

// Unwrap returns the connection's error.
func (e *HelloError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrHelloRefused) true.
func (e *HelloError) Is(target error) bool { return target == ErrHelloRefused }

// dialOne opens one authenticated connection (EXTERNAL as our uid, then
// Hello), tied to the provider's lifetime.
func (d *DBus) dialOne() (*dbus.Conn, error) {
	return dialAuth(d.ctx, d.address, d.opts.Peer)
}

// Dial connects to the systemd at a D-Bus address ("" for the system bus:
// $DBUS_SYSTEM_BUS_ADDRESS, else DefaultSystemBusAddress) with the same
// authentication the provider uses, for callers that change systemd's
// state (reload, restart): the provider itself only reads.
func Dial(ctx context.Context, address string) (*sdbus.Conn, error) {
	if address == "" {
		address = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if address == "" {
		address = DefaultSystemBusAddress
	}
	conn, err := sdbus.NewConnection(func() (*dbus.Conn, error) { return dialAuth(ctx, address, false) })
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %w", ErrNoDBus, address, err)
	}
	return conn, nil
}

// DialBus opens one plain authenticated connection to a bus address (""
// for the system bus, as Dial), for clients of other services than
// systemd's manager (systemd-machined).
func DialBus(ctx context.Context, address string) (*dbus.Conn, error) {
	if address == "" {
		address = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if address == "" {
		address = DefaultSystemBusAddress
	}
	return dialAuth(ctx, address, false)
}

// dialAuth opens one authenticated connection (EXTERNAL as our uid, then
// Hello unless peer: a manager's private socket has no bus daemon).
func dialAuth(ctx context.Context, address string, peer bool) (*dbus.Conn, error) {
	c, err := dbus.Dial(address, dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	if peer {
		if err := kick(ctx, c); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	}
	if err := c.Hello(); err != nil {
		_ = c.Close()
		return nil, &HelloError{Err: err}
	}
	return c, nil
}

// kickEvery is how long kick waits for an answer before it sends
// another Ping.
const kickEvery = 250 * time.Millisecond

// kick makes sure a manager's private socket serves a new peer
// connection: one Ping answered. systemd 252's server side of that socket
// was seen in the VM (state RUNNING, "Accepted new private connection")
// leaving a call unanswered when it arrived in the same read as the
// client's BEGIN, until more data came (godbus sends BEGIN and the first
// call back to back; sd-bus clients wait for the server's answers first):
// the first call of about every other connection hung. Each Ping not
// answered within kickEvery is followed by another, whose arrival makes
// the manager read (and answer) what it holds. Bounded by ctx and 30 s.
func kick(ctx context.Context, c *dbus.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	done := make(chan *dbus.Call, 128)
	obj := c.Object(systemdBusName, systemdPath)
	t := time.NewTicker(kickEvery)
	defer t.Stop()
	for sent := 0; ; {
		if sent < cap(done) {
			obj.GoWithContext(ctx, "org.freedesktop.DBus.Peer.Ping", 0, done)
			sent++
		}
		select {
		case call := <-done:
			return call.Err
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("no answer from the manager: %w", ctx.Err())
		}
	}
}

// watch applies the manager's signals to the cache until sig closes.
func (d *DBus) watch(sig *dbus.Conn, ch <-chan *dbus.Signal) {
	for s := range ch {
		switch s.Name {
		case managerIface + ".Reloading":
			guard.Failpoint("panic-in-dbus-watcher")
			d.mu.Lock()
			if d.sig == sig || d.sig == nil {
				d.gen++
				clear(d.cache)
				d.env = nil
			}
			d.mu.Unlock()
		case managerIface + ".UnitNew", managerIface + ".UnitRemoved":
			if len(s.Body) > 0 {
				if id, ok := s.Body[0].(string); ok {
					d.Invalidate(id)
				}
			}
		}
	}
	// The channel closes when the connection does.
	d.mu.Lock()
	if d.sig == sig && !d.closed {
		d.log.Warn("D-Bus signal connection closed; will reconnect")
		d.dropLocked()
	}
	d.mu.Unlock()
}

// classify wraps a D-Bus error: no systemd or no connection -> ErrNoDBus;
// a deadline -> ErrTimeout.
func classify(what string, err error) error {
	var de dbus.Error
	var dep *dbus.Error
	name := ""
	if errors.As(err, &de) {
		name = de.Name
	} else if errors.As(err, &dep) && dep != nil {
		name = dep.Name
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s: %v", ErrTimeout, what, err)
	case name == "org.freedesktop.DBus.Error.ServiceUnknown",
		name == "org.freedesktop.DBus.Error.NameHasNoOwner",
		name == "org.freedesktop.DBus.Error.Disconnected",
		errors.Is(err, dbus.ErrClosed), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s: %v", ErrNoDBus, what, err)
	}
	return fmt.Errorf("unitprops: %s: %w", what, err)
}

// Props implements Provider: it returns cached properties while they are
// fresh, else asks systemd (at most one request per unit in flight).
func (d *DBus) Props(ctx context.Context, unit string) (Props, error) {
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		return Props{Unit: unit, Source: SourceDBus, UserUnit: d.opts.User}, err
	}
	d.mu.Lock()
	e, ok := d.cache[unit]
	d.mu.Unlock()
	if ok && d.now().Sub(e.fetched) < d.opts.TTL {
		return clone(e.props), nil
	}
	v, err, _ := d.sf.Do(unit, func() (any, error) { return d.fetch(ctx, unit) })
	p, _ := v.(Props)
	if p.Unit == "" {
		p = Props{Unit: unit, Source: SourceDBus, UserUnit: d.opts.User}
	}
	return clone(p), err
}

func (d *DBus) fetch(ctx context.Context, unit string) (Props, error) {
	empty := Props{Unit: unit, Source: SourceDBus, UserUnit: d.opts.User}
	conn, _, gen, err := d.client(ctx)
	if err != nil {
		return empty, err
	}
	call := func(what string, f func(context.Context) (map[string]any, error)) (map[string]any, error) {
		cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
		defer cancel()
		start := d.now()
		m, err := f(cctx)
		if err != nil && cctx.Err() != nil && ctx.Err() == nil {
			// The call's own bound, not the caller's: say how long
			// systemd was given.
			return nil, fmt.Errorf("%w: systemd did not answer within %s (%s)", ErrTimeout, d.opts.CallTimeout, what)
		}
		if err != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: systemd did not answer within the caller's %s (%s)", ErrTimeout,
				d.now().Sub(start).Round(100*time.Millisecond), what)
		}
		if err != nil {
			return nil, d.failed(conn, what, err)
		}
		return m, nil
	}
	unitProps, err := call(fmt.Sprintf("properties of %s", unit), func(c context.Context) (map[string]any, error) {
		return conn.GetUnitPropertiesContext(c, unit)
	})
	if err != nil {
		return empty, err
	}
	var typeProps map[string]any
	if typ := unitType(unit); execSection(typ) || typ == "Scope" {
		typeProps, err = call(fmt.Sprintf("%s properties of %s", typ, unit), func(c context.Context) (map[string]any, error) {
			return conn.GetUnitTypePropertiesContext(c, unit, typ)
		})
		if err != nil {
			return empty, err
		}
	}
	p := DecodeProps(unit, unitProps, typeProps)
	p.UserUnit = d.opts.User
	if p.Found {
		p.ManagerLogSeccomp = d.managerLogSeccomp()
		p.DropIns = readDropIns(d.opts.Root, p.DropInPaths, d.opts.User)
		annotateFromFiles(&p, d.opts.Root, d.opts.Table, d.opts.User)
		if !d.opts.User {
			p.Sandbox.ManagerArchitectures = ManagerArchitectures(d.opts.Root)
		}
		p.Sandbox.Version = d.managerVersion(conn)
	}
	d.mu.Lock()
	if d.gen == gen && !d.closed {
		d.cache[unit] = cacheEntry{props: p, fetched: d.now()}
	}
	d.mu.Unlock()
	return p, nil
}

// failed classifies a call error and drops a dead connection.
func (d *DBus) failed(conn *sdbus.Conn, what string, err error) error {
	if !conn.Connected() {
		d.mu.Lock()
		if d.conn == conn {
			d.log.Warn("D-Bus connection lost; will reconnect", zap.Error(err))
			d.dropLocked()
		}
		d.mu.Unlock()
		return fmt.Errorf("%w: %s: %v", ErrNoDBus, what, err)
	}
	return classify(what, err)
}

// managerLogSeccomp reports SYSTEMD_LOG_SECCOMP in the manager's process
// environment (cached like unit properties). The manager's D-Bus
// Environment property is not it: that is the environment passed to units
// (seen with a container booted with --setenv=SYSTEMD_LOG_SECCOMP=1: the
// property lacks it, /proc/<pid1>/environ has it), while systemd reads the
// variable with getenv() in the forked child that installs the filter.
// Unreadable (no pid, no permission) counts as not set.
func (d *DBus) managerLogSeccomp() bool {
	d.mu.Lock()
	e := d.env
	d.mu.Unlock()
	if e != nil && d.now().Sub(e.fetched) < d.opts.TTL {
		return e.logSeccomp
	}
	on := false
	if d.opts.ManagerPID > 0 {
		if data, err := os.ReadFile("/proc/" + strconv.Itoa(d.opts.ManagerPID) + "/environ"); err == nil {
			on = EnvLogSeccomp(strings.Split(string(data), "\x00"))
		}
	}
	d.mu.Lock()
	d.env = &envEntry{logSeccomp: on, fetched: d.now()}
	d.mu.Unlock()
	return on
}

// managerPID derives the manager's pid from a bus address (see
// DBusOptions.ManagerPID).
func managerPID(addr string, user bool) int {
	if p, ok := strings.CutPrefix(addr, "unix:path=/proc/"); ok {
		if i := strings.IndexByte(p, '/'); i > 0 {
			if n, err := strconv.Atoi(p[:i]); err == nil && n > 0 {
				return n
			}
		}
	}
	if user {
		return -1
	}
	return 1
}

// EnvLogSeccomp reports whether an environment block ("K=V" entries) sets
// SYSTEMD_LOG_SECCOMP to a true boolean, as systemd's getenv_bool reads it.
func EnvLogSeccomp(env []string) bool {
	on := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SYSTEMD_LOG_SECCOMP="); ok {
			switch strings.ToLower(v) {
			case "1", "yes", "y", "true", "t", "on":
				on = true
			default:
				on = false
			}
		}
	}
	return on
}

// execCommand is one entry of an Exec*= property, a(sasbttttuii).
type execCommand struct {
	Path          string
	Args          []string
	IgnoreErrors  bool
	StartRealtime uint64
	StartMono     uint64
	ExitRealtime  uint64
	ExitMono      uint64
	PID           uint32
	Code          int32
	Status        int32
}

// boolStrings is the (bas) shape of SystemCallFilter and SystemCallLog.
type boolStrings struct {
	Flag  bool
	Names []string
}

// DecodeProps builds Props from the property maps go-systemd returns for
// the org.freedesktop.systemd1.Unit interface and for the unit's type
// interface (Service, Socket, ...; nil when there is none). Missing or
// mistyped properties are left at their zero values; it never panics.
func DecodeProps(unit string, unitProps, typeProps map[string]any) Props {
	p := Props{Unit: unit, Source: SourceDBus}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	p.Found = str(unitProps, "LoadState") == "loaded"
	p.FragmentPath = str(unitProps, "FragmentPath")
	p.SourcePath = str(unitProps, "SourcePath")
	if v, ok := unitProps["DropInPaths"].([]string); ok && len(v) > 0 {
		p.DropInPaths = slices.Clone(v)
	}
	if typeProps == nil {
		return p
	}
	var bs boolStrings
	if v, ok := typeProps["SystemCallFilter"]; ok && dbus.Store([]any{v}, &bs) == nil {
		p.AllowList = bs.Flag
		p.Filter = sortedUnique(bs.Names)
	}
	bs = boolStrings{}
	if v, ok := typeProps["SystemCallLog"]; ok && dbus.Store([]any{v}, &bs) == nil {
		p.LogAllowList = bs.Flag
		p.Log = sortedUnique(bs.Names)
	}
	if v, ok := typeProps["SystemCallErrorNumber"].(int32); ok {
		p.ErrorNumber = v
		p.HasErrorNumber = v > 0 && v != ErrorNumberKill
	}
	if v, ok := typeProps["SystemCallArchitectures"].([]string); ok {
		p.Architectures = sortedUnique(v)
	}
	p.Sandbox = decodeSandbox(typeProps, p.AllowList, p.Filter, p.ErrorNumber, p.Architectures)
	if !execSection(unitType(unit)) {
		p.Sandbox = sandbox.Sandbox{Unknown: "a " + strings.ToLower(unitType(unit)) + " unit has no seccomp settings"}
	}
	var paths []string
	for k := range execKeys {
		v, ok := typeProps[k]
		if !ok {
			continue
		}
		var cmds []execCommand
		if dbus.Store([]any{v}, &cmds) != nil {
			continue
		}
		for _, c := range cmds {
			if c.Path != "" {
				paths = append(paths, c.Path)
			}
		}
	}
	p.ExecPaths = sortedUnique(paths)
	return p
}

// readDropIns reads the drop-ins below root, skipping unreadable ones
// (with noFollow, those with a symbolic link in their path).
func readDropIns(root string, paths []string, noFollow bool) map[string]string {
	if len(paths) == 0 {
		return nil
	}
	f := &Files{root: strings.TrimRight(root, "/"), noFollow: noFollow}
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		if data, err := f.readLimited(p); err == nil && len(data) <= maxUnitFileSize {
			out[p] = string(data)
		}
	}
	return out
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// clone deep-copies the slices and map of p.
func clone(p Props) Props {
	p.Filter = slices.Clone(p.Filter)
	p.Architectures = slices.Clone(p.Architectures)
	p.Log = slices.Clone(p.Log)
	p.ExecPaths = slices.Clone(p.ExecPaths)
	p.DropInPaths = slices.Clone(p.DropInPaths)
	if p.DropIns != nil {
		m := make(map[string]string, len(p.DropIns))
		for k, v := range p.DropIns {
			m[k] = v
		}
		p.DropIns = m
	}
	return p
}

// Reload asks the systemd at address ("" for the system bus) to reload its
// units (systemctl daemon-reload) and waits for it.
func Reload(ctx context.Context, address string) error {
	conn, err := Dial(ctx, address)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("reload systemd: %w", err)
	}
	return nil
}

// ControlGroup asks the systemd at address ("" for the system bus) for a
// running unit's cgroup (ControlGroup, relative to the cgroup2 root).
func ControlGroup(ctx context.Context, address, unit string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := Dial(ctx, address)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ext := unit[strings.LastIndexByte(unit, '.')+1:] // "service": the D-Bus interface is "Service"
	if ext == "" || ext == unit {
		return "", fmt.Errorf("%s: no unit type", unit)
	}
	typ := strings.ToUpper(ext[:1]) + ext[1:]
	prop, err := conn.GetUnitTypePropertyContext(ctx, unit, typ, "ControlGroup")
	if err != nil {
		return "", err
	}
	cg, _ := prop.Value.Value().(string)
	if cg == "" {
		return "", errors.New("the unit has no cgroup (not running?)")
	}
	return cg, nil
}
