package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/internal/machined"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// maxMachines bounds the containers whose systemd connections are kept.
const maxMachines = 64

// withMachines is the daemon's unit provider: the host's, each
// container's own systemd for its units (pipeline.Machines), and each
// user's own service manager for that user's units (pipeline.Users).
type withMachines struct {
	unitprops.Provider
	m     *machineProps
	users *unitprops.UserManagers
}

var (
	_ pipeline.Machines = withMachines{}
	_ pipeline.Users    = withMachines{}
)

// ForUser implements pipeline.Users: the shipped unit's daemon (User=,
// ProtectHome=) cannot reach /run/user/UID, and a user manager answers
// only root and that user, so there the verdicts stay unknown with that
// reason; a daemon run as root asks.
func (w withMachines) ForUser(uid int) (unitprops.Provider, error) { return w.users.ForUser(uid) }

// ForMachine implements pipeline.Machines.
func (w withMachines) ForMachine(name string) (unitprops.Provider, error) { return w.m.get(name) }

// machineProps finds a container's system bus through its leader
// (machined.Leader: systemd-machined's, else the PID 1 below
// /machine.slice; then /proc/<leader>/root/run/dbus/system_bus_socket) and keeps one D-Bus
// provider per machine, replaced when the leader changes (a restarted
// container). Reaching another pid's /proc/<pid>/root needs ptrace access
// to it: CAP_SYS_PTRACE for a root-owned PID 1.
type machineProps struct {
	table    *syscalls.Table
	log      *zap.Logger
	machined *machined.Registry // nil without D-Bus

	mu     sync.Mutex
	byName map[string]*machineEntry
}

type machineEntry struct {
	leader int
	bus    *unitprops.DBus
	prov   unitprops.Provider
}

func newMachineProps(table *syscalls.Table, log *zap.Logger, reg *machined.Registry) *machineProps {
	return &machineProps{table: table, log: log, machined: reg, byName: map[string]*machineEntry{}}
}

func (m *machineProps) get(name string) (unitprops.Provider, error) {
	leader, err := machined.Leader(m.machined, name)
	if err != nil {
		return nil, fmt.Errorf("machine %s is not running here (not registered with systemd-machined, no leader below /machine.slice): its units' configuration is unknown", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byName[name]; e != nil && e.leader == leader {
		return e.prov, nil
	} else if e != nil {
		_ = e.bus.Close()
		delete(m.byName, name)
	}
	root := "/proc/" + strconv.Itoa(leader) + "/root"
	sock := root + "/run/dbus/system_bus_socket"
	if _, err := os.Stat(sock); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("machine %s: its systemd cannot be asked: reaching /proc/%d/root needs CAP_SYS_PTRACE, which the daemon lacks; its units' configuration is unknown", name, leader)
		}
		return nil, fmt.Errorf("machine %s has no system bus at %s: its units' configuration is unknown", name, "/run/dbus/system_bus_socket")
	}
	if len(m.byName) >= maxMachines {
		for n, e := range m.byName { // any one: a bound, not a cache policy
			_ = e.bus.Close()
			delete(m.byName, n)
			break
		}
	}
	bus := unitprops.NewDBus(unitprops.DBusOptions{Address: "unix:path=" + sock, Root: root, Table: m.table, ManagerPID: leader, Logger: m.log})
	e := &machineEntry{leader: leader, bus: bus, prov: unitprops.Chain{bus, unitprops.NewFiles(m.table, unitprops.FilesOptions{Root: root})}}
	m.byName[name] = e
	return e.prov, nil
}

// close releases every machine's connections.
func (m *machineProps) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, e := range m.byName {
		_ = e.bus.Close()
		delete(m.byName, n)
	}
}
