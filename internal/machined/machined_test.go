package machined

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"go.uber.org/zap/zaptest"

	"github.com/seccompwatch/seccompwatch/internal/testutil/privbus"
	"github.com/seccompwatch/seccompwatch/internal/units"
)

// machinedStandIn answers org.freedesktop.machine1's list and inspect
// calls on a real (private) bus, with the machines a test registers.
type machinedStandIn struct {
	conn  *dbus.Conn
	mu    sync.Mutex
	ms    map[string]standInMachine
	lists int // ListMachines calls answered
}

type standInMachine struct {
	unit   string
	leader uint32
	ts     uint64
}

type listed struct {
	Name, Class, Service string
	Path                 dbus.ObjectPath
}

func (s *machinedStandIn) ListMachines() ([]listed, *dbus.Error) {
	s.mu.Lock()
	s.lists++
	s.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []listed
	for n := range s.ms {
		out = append(out, listed{n, "container", "test", machinePath(n)})
	}
	return out, nil
}

type machineProps struct {
	s    *machinedStandIn
	name string
}

func (p machineProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	m, ok := p.s.ms[p.name]
	if !ok || iface != machineIface {
		return nil, dbus.NewError("org.freedesktop.machine1.NoSuchMachine", nil)
	}
	return map[string]dbus.Variant{"Name": dbus.MakeVariant(p.name), "Unit": dbus.MakeVariant(m.unit),
		"Leader": dbus.MakeVariant(m.leader), "Timestamp": dbus.MakeVariant(m.ts), "Class": dbus.MakeVariant("container")}, nil
}

// machinePath is machined's object path of a machine (sd-bus's
// bus_path_encode: bytes other than [A-Za-z0-9] as _xx).
func machinePath(name string) dbus.ObjectPath {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return dbus.ObjectPath("/org/freedesktop/machine1/machine/" + b.String())
}

func standIn(t *testing.T, addr string) *machinedStandIn {
	t.Helper()
	c, err := dbus.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(); err != nil {
		t.Fatal(err)
	}
	s := &machinedStandIn{conn: c, ms: map[string]standInMachine{}}
	if err := c.Export(s, managerPath, managerIface); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *machinedStandIn) own(t *testing.T) {
	t.Helper()
	if r, err := s.conn.RequestName(busName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
}

// register adds a machine; with signal, MachineNew is sent too.
func (s *machinedStandIn) register(t *testing.T, name, unit string, leader int, since time.Time, signal bool) {
	t.Helper()
	s.mu.Lock()
	s.ms[name] = standInMachine{unit: unit, leader: uint32(leader), ts: uint64(since.UnixMicro())}
	s.mu.Unlock()
	if err := s.conn.Export(machineProps{s, name}, machinePath(name), "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	if signal {
		if err := s.conn.Emit(managerPath, managerIface+".MachineNew", name, machinePath(name)); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *machinedStandIn) unregister(t *testing.T, name string) {
	t.Helper()
	s.mu.Lock()
	delete(s.ms, name)
	s.mu.Unlock()
	if err := s.conn.Emit(managerPath, managerIface+".MachineRemoved", name, machinePath(name)); err != nil {
		t.Fatal(err)
	}
}

// TestRegistry runs the registry against a real dbus-daemon with a
// stand-in for machined (the host has none): the first list, MachineNew,
// a machine registered without a signal being seen (found by listing
// again for a record after the last list), MachineRemoved (late records
// still the machine's), machined absent, and the bus gone.
func TestRegistry(t *testing.T) {
	bus := privbus.Start(t)
	s := standIn(t, bus.Addr)
	const cg = "/system.slice/ct.service"
	leaderCgroup := map[int]string{101: cg + "/payload/init.scope", 102: "/system.slice/b.service", 104: "/system.slice/sig.service/payload/init.scope", 103: "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service/payload/init.scope"}
	units := map[string]string{"web": "ct.service", "b": "b.service", "u": "user@1000.service"}
	r := New(bus.Addr, zaptest.NewLogger(t))
	r.cgroupOf = func(pid int, unit string) (string, error) { return machineCgroupOf(leaderCgroup[pid], unit) }
	r.relistEvery = 0 // this test orders events within milliseconds: TestRelistBounded has the bound
	t.Cleanup(r.Close)

	// machined not running: nothing is registered, authoritatively.
	before := time.Now()
	set, ok := r.MachinesAt(before)
	if !ok || set.Len() != 0 || set.AsOf.Before(before) {
		t.Fatalf("without machined: %v %+v", ok, set)
	}

	s.own(t)
	t0 := time.Now().Add(-time.Minute)
	// machined lists the host itself first, as ".host" (class host): no
	// boundary, and not a name whose cgroup is missing (which would make
	// every record below a payload unknown).
	s.register(t, ".host", "-.slice", 1, t0, false)
	s.register(t, "web", units["web"], 101, t0, false)
	s.register(t, "u", units["u"], 103, t0, false)
	if n, err := r.Refresh(); err != nil || n != 1 {
		t.Fatalf("Refresh = %d, %v; want 1 boundary (the user's tree is none)", n, err)
	}
	inner := unitAt(t, cg+"/payload/system.slice/foo.service")
	other := unitAt(t, "/system.slice/other.service/payload/system.slice/sshd.service")
	if got := resolveAt(t, r, other, time.Now()); got.Machine != "" || got.Name != "other.service" {
		t.Fatalf("no machine there: %+v", got)
	}
	if got := resolveAt(t, r, inner, time.Now()); got.Machine != "web" || got.Name != "foo.service" {
		t.Fatalf("listed machine: %+v", got)
	}
	if pid, ok := r.Leader("web"); !ok || pid != 101 {
		t.Fatalf("Leader(web) = %d, %v", pid, ok)
	}

	// Registered without a signal seen: a record after the last list
	// makes the registry list again.
	s.register(t, "b", units["b"], 102, time.Now().Add(-time.Second), false)
	binner := unitAt(t, "/system.slice/b.service/payload/system.slice/bar.service")
	if got := resolveAt(t, r, binner, time.Now()); got.Machine != "b" || got.Name != "bar.service" {
		t.Fatalf("machine without a signal: %+v", got)
	}

	// MachineNew: known without a list.
	s.register(t, "sig", "sig.service", 104, time.Now(), true)
	waitFor(t, func() bool { _, ok := r.Leader("sig"); return ok })

	// MachineRemoved: a late record from before is still the machine's.
	recAt := time.Now()
	time.Sleep(50 * time.Millisecond)
	s.unregister(t, "b")
	waitFor(t, func() bool { _, ok := r.Leader("b"); return !ok })
	if got := resolveAt(t, r, binner, recAt); got.Machine != "b" {
		t.Fatalf("late record of a removed machine: %+v", got)
	}
	time.Sleep(50 * time.Millisecond)
	if got := resolveAt(t, r, binner, time.Now()); got.Machine != "" || got.Name != "b.service" {
		t.Fatalf("record after the machine is gone: %+v", got)
	}

	// The bus gone: no registration is possible, and machined keeps the
	// machines it has: they stay.
	bus.Stop()
	time.Sleep(100 * time.Millisecond)
	if got := resolveAt(t, r, inner, time.Now()); got.Machine != "web" {
		t.Fatalf("bus gone: %+v", got)
	}
}

func machineCgroupOf(leaderPath, unit string) (string, error) {
	return units.MachineCgroup(leaderPath, unit)
}

func unitAt(t *testing.T, path string) units.Unit {
	t.Helper()
	u, err := units.ParseCgroupPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// resolveAt asks the registry as the Attributor does.
func resolveAt(t *testing.T, r *Registry, u units.Unit, at time.Time) units.Unit {
	t.Helper()
	set, ok := r.MachinesAt(at)
	if !ok {
		t.Fatalf("MachinesAt(%v): not known", at)
	}
	got, err := set.Resolve(u, at, 20*time.Millisecond)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", u, err)
	}
	return got
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatal("timed out")
}

// TestRelistBounded: records below a "payload" directory that is no
// machine's (anyone with a delegated cgroup can make one) ask machined
// for a new list at most once per relistEvery, however many arrive; the
// ones in between are judged by the set the signals keep current (the
// host unit here), and are unknown once no connection receives the
// signals. A known machine's records never wait for a list.
func TestRelistBounded(t *testing.T) {
	bus := privbus.Start(t)
	s := standIn(t, bus.Addr)
	const cg = "/system.slice/ct.service"
	r := New(bus.Addr, zaptest.NewLogger(t))
	leaders := map[int]string{101: cg + "/payload/init.scope", 105: "/system.slice/late.service/payload/init.scope"}
	r.cgroupOf = func(pid int, unit string) (string, error) { return machineCgroupOf(leaders[pid], unit) }
	t.Cleanup(r.Close)
	s.own(t)
	s.register(t, "web", "ct.service", 101, time.Now().Add(-time.Minute), false)
	if n, err := r.Refresh(); err != nil || n != 1 {
		t.Fatalf("Refresh = %d, %v", n, err)
	}
	lists := func() int { s.mu.Lock(); defer s.mu.Unlock(); return s.lists }
	base := lists()
	fake := unitAt(t, "/system.slice/delegated.service/payload/system.slice/sshd.service")
	inner := unitAt(t, cg+"/payload/system.slice/foo.service")
	start := time.Now()
	known, unknown := 0, 0
	for i := 0; i < 2000; i++ {
		at := time.Now()
		if set, ok := r.MachinesAt(at); ok {
			got, err := set.Resolve(fake, at, 20*time.Millisecond)
			if err != nil || got.Machine != "" || got.Name != "delegated.service" {
				t.Fatalf("a payload that is no machine's: %+v, %v", got, err)
			}
			known++
		} else {
			unknown++
		}
		// The machine's own records resolve from the set at hand.
		if i%100 == 0 {
			set := r.current()
			got, err := set.Resolve(inner, at, 20*time.Millisecond)
			if err != nil || got.Machine != "web" || got.Name != "foo.service" {
				t.Fatalf("the machine's record: %+v, %v", got, err)
			}
		}
	}
	elapsed := time.Since(start)
	n := lists() - base
	if max := 1 + int(elapsed/relistEvery) + 1; n > max {
		t.Fatalf("%d records below a fake payload in %s made %d lists; want at most %d", known+unknown, elapsed, n, max)
	}
	if unknown != 0 {
		t.Fatalf("known %d, unknown %d: want every record judged while the signals arrive", known, unknown)
	}
	t.Logf("2000 records in %s: %d lists, %d judged, %d unknown", elapsed.Round(time.Millisecond), n, known, unknown)

	// A machine registered after the last list, its MachineNew seen:
	// its records are its own without a list.
	s.register(t, "late", "late.service", 105, time.Now().Add(-time.Second), true)
	waitFor(t, func() bool { _, ok := r.Leader("late"); return ok })
	before := lists()
	lateInner := unitAt(t, "/system.slice/late.service/payload/system.slice/bar.service")
	if got := resolveAt(t, r, lateInner, time.Now()); got.Machine != "late" || got.Name != "bar.service" {
		t.Fatalf("a machine known by its signal: %+v", got)
	}
	if got := resolveAt(t, r, fake, time.Now()); got.Machine != "" || got.Name != "delegated.service" {
		t.Fatalf("a payload that is no machine's, after MachineNew: %+v", got)
	}
	if n := lists() - before; n > 1 {
		t.Fatalf("%d lists for two records", n)
	}
	// Without the connection that receives the signals, records between
	// lists are unknown.
	bus.Stop()
	waitFor(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.conn == nil })
	r.mu.Lock()
	r.listedAt = r.now() // a list just began
	r.mu.Unlock()
	if _, ok := r.MachinesAt(time.Now()); ok {
		t.Fatal("between lists without the signals' connection: want unknown")
	}
}
