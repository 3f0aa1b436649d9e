// Package machined follows the machines systemd-machined registered
// (org.freedesktop.machine1 on the system bus) so that a container whose
// cgroup is outside /machine.slice — systemd-nspawn --keep-unit in a
// service, RegisterMachine with an existing leader — is a container
// boundary too: its units are the machine's, never the host unit's that
// holds it.
//
// A Registry lists the machines (ListMachines, then each machine's Unit,
// Leader and Timestamp), follows MachineNew and MachineRemoved, and derives
// each machine's cgroup from its leader's (units.MachineCgroup). It is a
// units.MachineRegistry: a record below a host unit's "payload" directory
// that matches no known machine makes it list again unless the last list
// began after the record, so a machine registered just before its first
// denial is never missed; when machined does not answer, such records are
// unknown. Only root can register machines (systemd 252's bus policy,
// /usr/share/dbus-1/system.d/org.freedesktop.machine1.conf, lets others
// call only the list and inspect methods and, behind polkit, terminate,
// kill or unregister), so a registered machine's name is root's word.
package machined

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/guard"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/internal/units"
)

// D-Bus names of systemd-machined.
const (
	busName      = "org.freedesktop.machine1"
	managerPath  = "/org/freedesktop/machine1"
	managerIface = "org.freedesktop.machine1.Manager"
	machineIface = "org.freedesktop.machine1.Machine"
	// hostMachine is the name machined lists the host under (class
	// "host"; not a valid machine name on purpose).
	hostMachine = ".host"
)

// Bounds and timings.
const (
	// callTimeout bounds one D-Bus call: a record waits at most this long
	// (twice, listing and asking a new machine) before it is unknown.
	callTimeout = 2 * time.Second
	// failHold is how long a failed list answers "unknown" before the
	// next attempt, so that a dead bus does not cost every record a
	// timeout.
	failHold = time.Second
	// relistEvery bounds how often records ask for a new list: whoever
	// can write a delegated cgroup can name a directory "payload" and
	// make denials below it, and each record newer than the last list
	// would otherwise cost the read loop a round trip to machined. A
	// record that finds a list begun less than this ago is judged by the
	// set MachineNew and MachineRemoved keep current, or is unknown while
	// no connection receives them.
	relistEvery = time.Second
	// removedTTL keeps a removed machine for its late records (the audit
	// path's worst lag, as units.Options.HistoryTTL).
	removedTTL = 10 * time.Minute
	// maxMachines bounds the machines kept; past it the set is incomplete
	// (records below a payload are unknown, not guessed).
	maxMachines = 4096
)

// machine is what the registry knows of one machine.
type machine struct {
	m     units.RegisteredMachine
	path  dbus.ObjectPath
	skip  bool  // not a boundary (machine.slice, a user's tree, a VM): units needs nothing
	err   error // its cgroup could not be learnt: asked again at the next list
	class string
}

// Registry follows systemd-machined's machines. Its methods are safe for
// concurrent use.
type Registry struct {
	address string
	log     *zap.Logger
	now     func() time.Time
	// cgroupOf derives a machine's cgroup from its leader and unit
	// (units.LeaderMachineCgroup; a test's leaders are not processes).
	cgroupOf func(leader int, unit string) (string, error)
	// ctx is the connections' lifetime (a godbus connection closes with
	// the context it was dialled with); Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	listMu sync.Mutex // one list at a time; callers of MachinesAt wait for it

	mu       sync.Mutex
	conn     *dbus.Conn
	byName   map[string]*machine
	removed  []*machine // by removal time
	set      *units.MachineSet
	failedAt time.Time
	listedAt time.Time // when the last list asked for by a record began
	noBus    bool      // the last list found no bus daemon listening
	// relistEvery is relistEvery (a test of the order of events sets 0).
	relistEvery time.Duration
	closed      bool
}

var _ units.MachineRegistry = (*Registry)(nil)

// New returns a registry of the machines on the bus at address ("" for
// the system bus). It connects when first asked.
func New(address string, log *zap.Logger) *Registry {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{address: address, log: log, now: time.Now, cgroupOf: units.LeaderMachineCgroup,
		ctx: ctx, cancel: cancel, byName: map[string]*machine{}, relistEvery: relistEvery}
}

// MachinesAt implements units.MachineRegistry.
func (r *Registry) MachinesAt(t time.Time) (*units.MachineSet, bool) {
	need := t.Add(time.Millisecond)
	if s := r.current(); s != nil && !s.AsOf.Before(need) {
		return s, true
	}
	r.listMu.Lock()
	defer r.listMu.Unlock()
	if s := r.current(); s != nil && !s.AsOf.Before(need) {
		return s, true // listed while this caller waited
	}
	r.mu.Lock()
	now := r.now()
	failed := !r.failedAt.IsZero() && now.Sub(r.failedAt) < failHold
	recent := !r.listedAt.IsZero() && now.Sub(r.listedAt) < r.relistEvery
	// Between lists the set stays current by MachineNew/MachineRemoved
	// while the connection that receives them lives (or while no bus
	// runs, so that nothing can register): it stands for now.
	signals := r.set != nil && (r.conn != nil || r.noBus)
	cur := r.set
	r.mu.Unlock()
	switch {
	case failed:
		return nil, false
	case recent && signals:
		// Trusting the signals already accepts their delivery's lag: no
		// wait for the millisecond after the record (a wait per record
		// would be the stall relistEvery prevents).
		s := *cur
		s.AsOf = now
		if s.AsOf.Before(need) {
			s.AsOf = need
		}
		return &s, true
	case recent:
		return nil, false
	}
	if d := need.Sub(r.now()); d > 0 {
		time.Sleep(d) // a list must begin after the record
	}
	r.mu.Lock()
	r.listedAt = r.now()
	r.mu.Unlock()
	if err := r.list(); err != nil {
		r.mu.Lock()
		r.failedAt = r.now()
		r.mu.Unlock()
		r.log.Warn("systemd-machined: machines not known; records below a unit's payload directory are unknown until it answers", zap.Error(err))
		return nil, false
	}
	return r.current(), true
}

func (r *Registry) current() *units.MachineSet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set
}

// Refresh lists the machines now (at start-up, so that the first records
// need not wait), and says how many machines are boundaries.
func (r *Registry) Refresh() (int, error) {
	r.listMu.Lock()
	defer r.listMu.Unlock()
	if err := r.list(); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.byName {
		if !m.skip && m.err == nil {
			n++
		}
	}
	return n, nil
}

// Leader returns the host pid of a registered machine's PID 1.
func (r *Registry) Leader(name string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.byName[name]; m != nil && m.m.Leader > 0 {
		return m.m.Leader, true
	}
	return 0, false
}

// Close drops the connection.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.cancel()
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn = nil
	}
}

// connection returns the bus connection, dialling (and subscribing to
// machined's signals) when there is none. errNoBus means no bus daemon
// listens: then nothing can have registered a machine.
func (r *Registry) connection() (*dbus.Conn, error) {
	r.mu.Lock()
	if r.conn != nil || r.closed {
		c := r.conn
		r.mu.Unlock()
		if c == nil {
			return nil, errors.New("machined: registry closed")
		}
		return c, nil
	}
	r.mu.Unlock()
	c, err := unitprops.DialBus(r.ctx, r.address)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %v", errNoBus, err)
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.ctx, callTimeout)
	defer cancel()
	for _, member := range []string{"MachineNew", "MachineRemoved"} {
		if err := c.AddMatchSignalContext(ctx, dbus.WithMatchSender(busName), dbus.WithMatchObjectPath(managerPath),
			dbus.WithMatchInterface(managerIface), dbus.WithMatchMember(member)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("machined: subscribe to %s: %w", member, err)
		}
	}
	ch := make(chan *dbus.Signal, 64)
	c.Signal(ch)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = c.Close()
		return nil, errors.New("machined: registry closed")
	}
	r.conn = c
	r.noBus = false
	r.mu.Unlock()
	guard.Go(func() { r.watch(c, ch) })
	return c, nil
}

var errNoBus = errors.New("machined: no system bus")

// watch applies MachineNew and MachineRemoved until the connection
// closes.
func (r *Registry) watch(c *dbus.Conn, ch <-chan *dbus.Signal) {
	for s := range ch {
		if len(s.Body) < 2 {
			continue
		}
		name, _ := s.Body[0].(string)
		path, _ := s.Body[1].(dbus.ObjectPath)
		switch s.Name {
		case managerIface + ".MachineNew":
			guard.Failpoint("panic-in-machined-watcher")
			m := r.inspect(c, name, path)
			r.mu.Lock()
			if r.byName[name] == nil || r.byName[name].path != path || r.byName[name].err != nil {
				r.add(m)
				r.rebuild(r.asOf())
			}
			r.mu.Unlock()
		case managerIface + ".MachineRemoved":
			r.mu.Lock()
			if m := r.byName[name]; m != nil {
				r.remove(m, r.now())
				r.rebuild(r.asOf())
			}
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	if r.conn == c {
		r.conn = nil
		if !r.closed {
			r.log.Warn("systemd-machined: bus connection closed; will reconnect at the next list")
		}
	}
	r.mu.Unlock()
}

func (r *Registry) asOf() time.Time {
	if r.set != nil {
		return r.set.AsOf
	}
	return time.Time{}
}

// list asks machined for its machines and rebuilds the set as of the
// moment the list began. Callers hold listMu.
func (r *Registry) list() error {
	start := r.now()
	c, err := r.connection()
	if errors.Is(err, errNoBus) {
		// No bus daemon listens: nothing can register a machine now
		// (machined registers over the bus), and the machines known
		// stay registered in machined (it restores them).
		r.mu.Lock()
		r.noBus = true
		r.rebuild(start)
		r.mu.Unlock()
		return nil
	} else if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var owned bool
	if err := c.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, busName).Store(&owned); err != nil {
		r.dropConn(c)
		return fmt.Errorf("machined: NameHasOwner: %w", err)
	}
	type listed struct {
		Name, Class, Service string
		Path                 dbus.ObjectPath
	}
	var ls []listed
	if owned {
		// Not activated when absent: with no machined running, no
		// machine is registered.
		err := c.Object(busName, managerPath).CallWithContext(ctx, managerIface+".ListMachines", dbus.FlagNoAutoStart).Store(&ls)
		if err != nil {
			var de dbus.Error
			if !errors.As(err, &de) || de.Name != "org.freedesktop.DBus.Error.ServiceUnknown" && de.Name != "org.freedesktop.DBus.Error.NameHasNoOwner" {
				return fmt.Errorf("machined: ListMachines: %w", err)
			}
			ls = nil // exited in between
		}
	}
	seen := make(map[string]bool, len(ls))
	var fresh []*machine
	for _, l := range ls {
		seen[l.Name] = true
		r.mu.Lock()
		old := r.byName[l.Name]
		r.mu.Unlock()
		if old != nil && old.path == l.Path && old.err == nil {
			continue
		}
		fresh = append(fresh, r.inspect(c, l.Name, l.Path))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range fresh {
		r.add(m)
	}
	for name, m := range r.byName {
		if !seen[name] {
			r.remove(m, start)
		}
	}
	r.rebuild(start)
	return nil
}

// inspect reads one machine's properties and derives its cgroup.
func (r *Registry) inspect(c *dbus.Conn, name string, path dbus.ObjectPath) *machine {
	m := &machine{path: path, m: units.RegisteredMachine{Name: name}}
	if name == hostMachine {
		m.skip, m.class = true, "host" // the host itself, listed first: no boundary
		return m
	}
	if !event.ValidMachineName(name) {
		// machined validates names itself; one it should not have let
		// through names nothing here.
		m.err = fmt.Errorf("machined: invalid machine name %q", name)
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var props map[string]dbus.Variant
	if err := c.Object(busName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", dbus.FlagNoAutoStart, machineIface).Store(&props); err != nil {
		m.err = fmt.Errorf("machined: machine %s: %w", name, err)
		return m
	}
	unit, _ := props["Unit"].Value().(string)
	leader, _ := props["Leader"].Value().(uint32)
	ts, _ := props["Timestamp"].Value().(uint64)
	m.class, _ = props["Class"].Value().(string)
	if m.class == "host" {
		m.skip = true
		return m
	}
	m.m.Leader = int(leader)
	m.m.Since = time.UnixMicro(int64(ts))
	if ts == 0 {
		m.m.Since = r.now()
	}
	if leader == 0 || unit == "" {
		m.err = fmt.Errorf("machined: machine %s has no leader or unit", name)
		return m
	}
	cg, err := r.cgroupOf(int(leader), unit)
	switch {
	case err == nil:
		m.m.Cgroup = cg
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH):
		m.err = fmt.Errorf("machined: machine %s: leader %d gone: %w", name, leader, err)
	default:
		// In machine.slice (no registration needed) or in a tree that is
		// not root's to give away: not a boundary.
		m.skip = true
		if !errors.Is(err, units.ErrNotInUnit) {
			r.log.Debug("systemd-machined: machine is no container boundary here", zap.String("machine", name), zap.Error(err))
		}
	}
	return m
}

// add records m (r.mu held), replacing a machine of the same name.
func (r *Registry) add(m *machine) {
	if old := r.byName[m.m.Name]; old != nil {
		if old.path == m.path && old.err == nil {
			return
		}
		r.remove(old, r.now())
	}
	r.byName[m.m.Name] = m
	if m.err != nil {
		r.log.Warn("systemd-machined: a machine's cgroup is not known; records below a unit's payload directory are unknown until it is", zap.String("machine", m.m.Name), zap.Error(m.err))
	} else if !m.skip {
		r.log.Info("systemd-machined: container boundary", zap.String("machine", m.m.Name), zap.String("cgroup", m.m.Cgroup), zap.Int("leader", m.m.Leader), zap.String("class", m.class))
	}
}

// remove marks m unregistered at t (r.mu held), keeping it for late
// records.
func (r *Registry) remove(m *machine, t time.Time) {
	if r.byName[m.m.Name] == m {
		delete(r.byName, m.m.Name)
	}
	if m.skip || m.err != nil {
		return
	}
	m.m.Until = t
	r.removed = append(r.removed, m)
}

// rebuild makes a new set as of asOf from what is known (r.mu held).
func (r *Registry) rebuild(asOf time.Time) {
	now := r.now()
	keep := r.removed[:0]
	for _, m := range r.removed {
		if now.Sub(m.m.Until) < removedTTL {
			keep = append(keep, m)
		}
	}
	clear(r.removed[len(keep):])
	r.removed = keep
	if over := len(r.removed) + len(r.byName) - maxMachines; over > 0 {
		r.removed = r.removed[min(over, len(r.removed)):]
	}
	ms := make([]units.RegisteredMachine, 0, len(r.byName)+len(r.removed))
	incomplete := len(r.byName) > maxMachines
	for _, m := range r.byName {
		switch {
		case m.err != nil:
			incomplete = true
		case !m.skip:
			ms = append(ms, m.m)
		}
	}
	for _, m := range r.removed {
		ms = append(ms, m.m)
	}
	r.set = units.NewMachineSet(ms, asOf, incomplete)
}

// dropConn forgets a connection that failed a call.
func (r *Registry) dropConn(c *dbus.Conn) {
	r.mu.Lock()
	if r.conn == c {
		r.conn = nil
	}
	r.mu.Unlock()
	_ = c.Close()
}

// Leader returns the host pid of machine name's PID 1: the leader
// systemd-machined registered (reg may be nil: no D-Bus), else the one
// units.MachineLeader finds below /machine.slice. This is the one way the
// daemon and the CLI find a container's root and bus.
func Leader(reg *Registry, name string) (int, error) {
	if reg != nil {
		if pid, ok := reg.Leader(name); ok {
			return pid, nil
		}
	}
	return units.MachineLeader(name)
}
