package units

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/event"
)

// RegisteredMachine is a container that systemd-machined registered with
// its cgroup outside /machine.slice: systemd-nspawn --keep-unit in a
// service, or RegisterMachine over D-Bus with an existing leader. Only root
// can register one (the bus policy of systemd 252's machined lets others
// only list and inspect), so its cgroup is a container boundary like a
// scope in machine.slice: the container's own tree is Cgroup+"/payload",
// where nspawn puts it (its supervisor stays in Cgroup+"/supervisor").
type RegisteredMachine struct {
	// Name is machined's name of the machine (event.ValidMachineName).
	Name string
	// Cgroup is the cgroup the container's "payload" sits in, e.g.
	// "/system.slice/ct.service" (MachineCgroup).
	Cgroup string
	// Leader is the host pid of the container's PID 1.
	Leader int
	// Since is when machined registered it; Until when it was seen
	// unregistered (zero while registered).
	Since, Until time.Time
}

// MachineCgroup derives a registered machine's cgroup from its leader's
// cgroup path and the unit machined names for it (its Unit property, the
// leader's host unit): the leader's path up to the first "payload" below
// that unit, or the whole path while the leader has not moved into one yet
// (nspawn registers before it creates payload/). It refuses a leader in
// /machine.slice (that boundary needs no registration), in a user manager's
// tree (the user owns it), or in a unit other than the one machined names.
func MachineCgroup(leaderPath, unit string) (string, error) {
	u, err := ParseCgroupPath(leaderPath)
	switch {
	case err != nil && u.Machine == "":
		return "", fmt.Errorf("units: machine leader's cgroup %q: %w", truncate(leaderPath), err)
	case u.Machine != "" || strings.HasPrefix(leaderPath, "/machine.slice/"):
		return "", fmt.Errorf("units: machine leader's cgroup %q is in machine.slice or a container: no registration needed", truncate(leaderPath))
	case u.UID >= 0 || isUserManager(u.Name):
		return "", fmt.Errorf("units: machine leader's cgroup %q is in a user manager's tree, which that user owns", truncate(leaderPath))
	case u.Name != unit:
		return "", fmt.Errorf("units: machine leader's cgroup %q is not in its unit %q", truncate(leaderPath), truncate(unit))
	}
	comps := strings.Split(strings.Trim(leaderPath, "/"), "/")
	end := 0
	for i, c := range comps {
		if strings.TrimPrefix(c, "_") == unit {
			end = i + 1
			break
		}
	}
	for i := end; i < len(comps); i++ {
		if comps[i] == "payload" {
			return "/" + strings.Join(comps[:i], "/"), nil
		}
	}
	return "/" + strings.Join(comps, "/"), nil
}

func isUserManager(unit string) bool {
	_, ok := userManagerUID(unit)
	return ok
}

// ParseMachinePath names the unit of a cgroup path inside a registered
// machine's tree (cgroup+"/payload/..."), as ParseCgroupPath does for a
// container in machine.slice. ok is false when path is not in that tree.
func ParseMachinePath(path, cgroup, name string) (u Unit, ok bool, err error) {
	tree := cgroup + "/payload"
	if !strings.HasPrefix(path, tree) || len(path) > len(tree) && path[len(tree)] != '/' {
		return Unit{UID: -1}, false, nil
	}
	if !event.ValidMachineName(name) {
		return Unit{UID: -1}, true, fmt.Errorf("%w: machine name %q", ErrBadPath, truncate(name))
	}
	if len(path) == 0 || path[0] != '/' || len(path) > maxPathLen || strings.IndexByte(path, 0) >= 0 {
		return Unit{UID: -1}, true, fmt.Errorf("%w: %q", ErrBadPath, truncate(path))
	}
	comps := splitPath(path[len(tree):])
	u, err = parseTree(Unit{UID: -1, Path: path, Machine: name}, comps)
	return u, true, err
}

// MachineSet is a snapshot of the machines systemd-machined registered
// outside machine.slice (removed ones kept for a while, so that late
// records of a machine that is gone are still its own).
type MachineSet struct {
	// AsOf is a moment at which every registered machine is in the set:
	// the start of the machine list that built it. A record of time t
	// needs a set as of t+1ms (audit stamps carry milliseconds).
	AsOf     time.Time
	byCgroup map[string][]RegisteredMachine
	// incomplete is set when a registered machine's cgroup could not be
	// learnt: records below any payload are then unknown, not guessed.
	incomplete bool
}

// NewMachineSet builds a set from the machines known as of asOf;
// incomplete says that some registered machine's cgroup is unknown.
func NewMachineSet(ms []RegisteredMachine, asOf time.Time, incomplete bool) *MachineSet {
	s := &MachineSet{AsOf: asOf, byCgroup: make(map[string][]RegisteredMachine, len(ms)), incomplete: incomplete}
	for _, m := range ms {
		s.byCgroup[m.Cgroup] = append(s.byCgroup[m.Cgroup], m)
	}
	return s
}

// Len returns the number of machines in the set, removed ones included.
func (s *MachineSet) Len() int {
	n := 0
	for _, ms := range s.byCgroup {
		n += len(ms)
	}
	return n
}

// machineVerdict is what a MachineSet says of a host unit's cgroup path.
type machineVerdict int

const (
	notInMachine  machineVerdict = iota // the host unit stands
	inMachine                           // the unit is the machine's
	machineUnsure                       // registered around the record's time, or the set is incomplete
	machineStale                        // the set predates the record: ask machined again
	machineNoUnit                       // in the machine's tree, but in none of its units
)

// payloadBelowUnit reports whether a host unit's cgroup path has a
// "payload" directory below its unit: only such a path can be in a
// registered machine's tree.
func payloadBelowUnit(path string) bool {
	return strings.Contains(path, "/payload/") || strings.HasSuffix(path, "/payload")
}

// resolve decides whether the host unit u (parsed from its path, not in a
// container) is in fact a unit of a registered machine at time t.
func (s *MachineSet) resolve(u Unit, t time.Time, slack time.Duration) (Unit, machineVerdict) {
	p := u.Path
	for off := 0; ; {
		i := strings.Index(p[off:], "/payload")
		if i < 0 {
			break
		}
		i += off
		off = i + len("/payload")
		if off < len(p) && p[off] != '/' {
			continue
		}
		var found *RegisteredMachine
		for j := range s.byCgroup[p[:i]] {
			m := &s.byCgroup[p[:i]][j]
			if t.Before(m.Since.Add(-slack)) || !m.Until.IsZero() && t.After(m.Until.Add(slack)) {
				continue // another machine's time, or before this one
			}
			if t.Before(m.Since.Add(slack)) || !m.Until.IsZero() && t.After(m.Until.Add(-slack)) {
				return Unit{UID: -1, Path: p}, machineUnsure
			}
			if found != nil && found.Name != m.Name {
				return Unit{UID: -1, Path: p}, machineUnsure // two machines in one cgroup at once
			}
			found = m
		}
		if found == nil {
			continue
		}
		mu, ok, err := ParseMachinePath(p, found.Cgroup, found.Name)
		switch {
		case !ok:
			continue
		case errors.Is(err, ErrNotInUnit):
			return mu, machineNoUnit
		case err != nil:
			return mu, machineUnsure
		}
		return mu, inMachine
	}
	if s.incomplete {
		return Unit{UID: -1, Path: p}, machineUnsure
	}
	if s.AsOf.Before(t.Add(time.Millisecond)) {
		// Audit stamps carry milliseconds: the call was made before
		// t+1ms, and only a list begun after that holds every machine
		// registered before it.
		return u, machineStale
	}
	return u, notInMachine
}

// ErrMachineUnknown means a path below a host unit's payload directory
// cannot be named: whether a machine was registered there at the time is
// not known.
var ErrMachineUnknown = errors.New("units: machine registration unknown")

// Resolve names the unit of a host unit u (as ParseCgroupPath found it)
// at time t with the set's registered machines: the unit inside the
// machine whose tree holds u.Path, else u itself. It returns
// ErrMachineUnknown when the set cannot tell (a machine registered or
// removed within slack of t, a machine's cgroup not learnt, or a set
// older than t), and ErrNotInUnit for a machine's path in none of its
// units.
func (s *MachineSet) Resolve(u Unit, t time.Time, slack time.Duration) (Unit, error) {
	if u.Machine != "" || !payloadBelowUnit(u.Path) {
		return u, nil
	}
	mu, v := s.resolve(u, t, slack)
	switch v {
	case machineStale, machineUnsure:
		return mu, ErrMachineUnknown
	case machineNoUnit:
		return mu, ErrNotInUnit
	}
	return mu, nil
}

// MachineRegistry tells an Attributor which machines systemd-machined
// registered (the daemon's D-Bus client of org.freedesktop.machine1).
type MachineRegistry interface {
	// MachinesAt returns a set that holds every machine registered at
	// time t: the current one when its AsOf is later, else one listed
	// anew. ok is false when that cannot be known (machined does not
	// answer).
	MachinesAt(t time.Time) (set *MachineSet, ok bool)
}

// SetMachines makes the Attributor consult reg for paths below a
// "payload" directory of a host unit (nil: never, the default).
func (a *Attributor) SetMachines(reg MachineRegistry) {
	if reg == nil {
		a.machines.Store(nil)
		return
	}
	a.machines.Store(&reg)
}

// inMachine applies the registered machines to a found host unit u at
// boot time tb: the unit inside the machine, or a failure reason when
// machined cannot say.
func (a *Attributor) inMachine(u Unit, tb uint64) (Unit, string) {
	rp := a.machines.Load()
	// A user manager's tree is never a registered machine's (MachineCgroup
	// refuses leaders there): its owner's "payload" directories cost no
	// look-up.
	if rp == nil || u.Machine != "" || u.UID >= 0 || isUserManager(u.Name) || !payloadBelowUnit(u.Path) {
		return u, ""
	}
	t := time.Unix(0, int64(tb)+a.bootOff.Load())
	reg := *rp
	set, ok := reg.MachinesAt(t)
	if !ok || set == nil {
		return Unit{UID: -1, Path: u.Path}, ReasonMachineUnknown
	}
	mu, v := set.resolve(u, t, a.opts.Slack)
	switch v {
	case machineStale:
		// MachinesAt promised a set as of t: a stale one means it
		// could not list, so nothing is known.
		return Unit{UID: -1, Path: u.Path}, ReasonMachineUnknown
	case machineUnsure:
		return mu, ReasonMachineUnknown
	case machineNoUnit:
		return mu, ReasonNotInUnit
	}
	return mu, ""
}

// LeaderMachineCgroup is MachineCgroup for the live process leader (a
// host pid), reading its /proc/<pid>/cgroup.
func LeaderMachineCgroup(leader int, unit string) (string, error) {
	path, _, err := procCgroup("/proc", leader)
	if err != nil {
		return "", err
	}
	return MachineCgroup(path, unit)
}
