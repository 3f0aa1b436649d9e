package suggest

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Denial is one attributed SECCOMP record, as the aggregator sees it. The
// caller fills it from an auditstream.Record, the syscalls tables and the
// attribution.
type Denial struct {
	// Unit is the unit ("nginx.service"), or a pseudo-unit ("unknown",
	// "unattributed:<exe>") when attribution failed.
	Unit string
	// Machine names the container the unit runs in; "" for the host.
	Machine string
	// UserUnit marks a unit of the user manager user@UID.service: a unit
	// of the same name as a system unit, but not that unit.
	UserUnit bool
	UID      int
	// Arch is the ABI of the call; AuditArch the record's raw arch= value.
	Arch      syscalls.Arch
	AuditArch uint32
	// Nr is the syscall number as logged (x32 numbers keep X32Bit).
	Nr int
	// Syscall is the name in Arch's table, or "unknown".
	Syscall string
	// Action is the record schema's action name: kill_process,
	// kill_thread, kill, trap, errno, user_notif, trace, log, allow.
	Action string
	// Exe and Comm are as the record carries them (unsanitized).
	Exe, Comm string
	// Time is the record's time.
	Time time.Time
	// Native reports whether Arch is the host's native ABI.
	Native bool
}

// Limits bound an Aggregator's memory. Zero fields take the defaults.
type Limits struct {
	// MaxUnits is the number of distinct (machine, unit) pairs kept
	// (default 1024); denials of further units are counted as overflow.
	MaxUnits int
	// MaxSyscallsPerUnit is the number of distinct (arch, syscall) pairs
	// kept per unit (default 512).
	MaxSyscallsPerUnit int
	// MaxExes and MaxComms bound the distinct exes and comms kept per
	// syscall (default 8 each); further ones are counted.
	MaxExes, MaxComms int
}

func (l Limits) withDefaults() Limits {
	if l.MaxUnits <= 0 {
		l.MaxUnits = 1024
	}
	if l.MaxSyscallsPerUnit <= 0 {
		l.MaxSyscallsPerUnit = 512
	}
	if l.MaxExes <= 0 {
		l.MaxExes = 8
	}
	if l.MaxComms <= 0 {
		l.MaxComms = 8
	}
	return l
}

// SyscallAggregate is what is known about one syscall (on one ABI) of one
// unit. Its JSON form (field names below) is stable; the daemon persists it.
type SyscallAggregate struct {
	Syscall   string            // json "syscall"
	Arch      syscalls.Arch     // json "arch": audit spelling, e.g. "x86_64"
	AuditArch uint32            // json "audit_arch"
	Nr        int               // json "nr"
	Native    bool              // json "native"
	Actions   map[string]uint64 // json "actions": action name → count
	Count     uint64            // json "count"
	FirstSeen time.Time         // json "first_seen"
	LastSeen  time.Time         // json "last_seen"
	// Exes and Comms are the distinct values seen, in order of first
	// sight, at most Limits.MaxExes / MaxComms; the Dropped counters count
	// the denials whose value did not fit.
	Exes         []string // json "exes"
	Comms        []string // json "comms"
	ExesDropped  uint64   // json "exes_dropped"
	CommsDropped uint64   // json "comms_dropped"
}

type syscallAggregateJSON struct {
	Syscall      string            `json:"syscall"`
	Arch         string            `json:"arch"`
	AuditArch    uint32            `json:"audit_arch"`
	Nr           int               `json:"nr"`
	Native       bool              `json:"native"`
	Actions      map[string]uint64 `json:"actions"`
	Count        uint64            `json:"count"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	Exes         []string          `json:"exes"`
	Comms        []string          `json:"comms"`
	ExesDropped  uint64            `json:"exes_dropped,omitempty"`
	CommsDropped uint64            `json:"comms_dropped,omitempty"`
}

// MarshalJSON writes the stable JSON form, with Arch in its audit spelling.
func (s SyscallAggregate) MarshalJSON() ([]byte, error) {
	return json.Marshal(syscallAggregateJSON{
		Syscall: s.Syscall, Arch: s.Arch.String(), AuditArch: s.AuditArch, Nr: s.Nr,
		Native: s.Native, Actions: s.Actions, Count: s.Count,
		FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Exes: s.Exes, Comms: s.Comms,
		ExesDropped: s.ExesDropped, CommsDropped: s.CommsDropped,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes. An arch spelling it does
// not know is an error.
func (s *SyscallAggregate) UnmarshalJSON(b []byte) error {
	var j syscallAggregateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("suggest: syscall aggregate: %w", err)
	}
	arch := syscalls.ArchUnknown
	if j.Arch != "" && j.Arch != "unknown" {
		a, ok := syscalls.ParseArch(j.Arch)
		if !ok {
			return fmt.Errorf("suggest: syscall aggregate: unknown arch %q", j.Arch)
		}
		arch = a
	}
	*s = SyscallAggregate{
		Syscall: j.Syscall, Arch: arch, AuditArch: j.AuditArch, Nr: j.Nr,
		Native: j.Native, Actions: j.Actions, Count: j.Count,
		FirstSeen: j.FirstSeen, LastSeen: j.LastSeen, Exes: j.Exes, Comms: j.Comms,
		ExesDropped: j.ExesDropped, CommsDropped: j.CommsDropped,
	}
	return nil
}

// UnitAggregate is what is known about one unit. Syscalls are sorted by
// name, then arch, then number.
type UnitAggregate struct {
	Unit    string `json:"unit"`
	Machine string `json:"machine,omitempty"`
	// UserUnit and UID: a unit of the user manager user@UID.service.
	UserUnit  bool               `json:"user_unit,omitempty"`
	UID       int                `json:"uid,omitempty"`
	Syscalls  []SyscallAggregate `json:"syscalls"`
	Total     uint64             `json:"total"`
	FirstSeen time.Time          `json:"first_seen"`
	LastSeen  time.Time          `json:"last_seen"`
	// Dropped counts the denials of syscalls beyond
	// Limits.MaxSyscallsPerUnit (they are in Total, not in Syscalls).
	Dropped uint64 `json:"dropped,omitempty"`
}

// Overflow counts what an Aggregator could not keep.
type Overflow struct {
	// Units counts denials of units beyond Limits.MaxUnits.
	Units uint64 `json:"units"`
	// Syscalls counts denials of syscalls beyond Limits.MaxSyscallsPerUnit.
	Syscalls uint64 `json:"syscalls"`
}

// actionNames are the record schema's action names; counts are kept in an
// array indexed like this (the last slot takes any other name).
var actionNames = [...]string{
	"kill_process", "kill_thread", "kill", "trap", "errno",
	"user_notif", "trace", "log", "allow", "unknown",
}

func actionIndex(a string) int {
	for i, n := range actionNames {
		if n == a {
			return i
		}
	}
	return len(actionNames) - 1
}

type unitKey struct {
	machine, unit string
	user          int // the user manager's UID, -1 for a system unit
}

func keyOf(machine, unit string, userUnit bool, uid int) unitKey {
	if !userUnit {
		uid = -1
	}
	return unitKey{machine, unit, uid}
}

type syscallKey struct {
	name      string
	arch      syscalls.Arch
	auditArch uint32
	nr        int
}

type syscallAgg struct {
	native       bool
	actions      [len(actionNames)]uint64
	count        uint64
	first, last  time.Time
	exes, comms  []string
	exesDropped  uint64
	commsDropped uint64
}

type unitAgg struct {
	syscalls    map[syscallKey]*syscallAgg
	total       uint64
	dropped     uint64
	first, last time.Time
}

// Aggregator aggregates denials per unit and syscall, within Limits. It is
// safe for concurrent use. The zero value is not usable: use NewAggregator.
type Aggregator struct {
	limits   Limits
	mu       sync.Mutex
	units    map[unitKey]*unitAgg
	overflow Overflow
	strs     map[string]string // interned exe and comm strings
}

// maxInterned bounds the intern table; past it strings are kept as given.
const maxInterned = 1 << 14

// NewAggregator returns an empty Aggregator with the given limits.
func NewAggregator(limits Limits) *Aggregator {
	return &Aggregator{
		limits: limits.withDefaults(),
		units:  make(map[unitKey]*unitAgg),
		strs:   make(map[string]string),
	}
}

// Units returns how many (machine, unit) pairs have denials.
func (a *Aggregator) Units() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.units)
}

// Add counts one denial. It reports whether the denial is the first of its
// syscall for its unit that the aggregator keeps (a new unit × syscall
// pair; never for one dropped at the Limits).
func (a *Aggregator) Add(d Denial) (isNew bool) {
	_, isNew = a.AddSlot(&d)
	return isNew
}

// Slot is where one unit × syscall pair is counted. Units and syscalls are
// never removed from an Aggregator, so a Slot stays valid for its life.
type Slot struct {
	u *unitAgg
	s *syscallAgg
}

// AddSlot counts one denial as Add does, and returns the slot it was
// counted in, for AddAt to count the next denials of the same unit ×
// syscall pair without looking it up; nil when the denial did not fit the
// Limits (then every such denial must go through AddSlot, which counts the
// overflow).
func (a *Aggregator) AddSlot(d *Denial) (slot *Slot, isNew bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	uk := keyOf(d.Machine, d.Unit, d.UserUnit, d.UID)
	u := a.units[uk]
	if u == nil {
		if len(a.units) >= a.limits.MaxUnits {
			a.overflow.Units++
			return nil, false
		}
		u = &unitAgg{syscalls: make(map[syscallKey]*syscallAgg, 4)}
		a.units[uk] = u
	}
	sk := syscallKey{name: d.Syscall, arch: d.Arch, auditArch: d.AuditArch, nr: d.Nr}
	s := u.syscalls[sk]
	if s == nil {
		if len(u.syscalls) >= a.limits.MaxSyscallsPerUnit {
			u.total++
			u.first, u.last = widen(u.first, u.last, d.Time)
			u.dropped++
			a.overflow.Syscalls++
			return nil, false
		}
		s = &syscallAgg{}
		u.syscalls[sk] = s
		isNew = true
	}
	slot = &Slot{u, s}
	a.count(slot, d)
	return slot, isNew
}

// AddAt counts one more denial d in slot, which AddSlot returned for a
// denial of the same unit and syscall (d's unit, machine and syscall
// fields are not looked at again).
func (a *Aggregator) AddAt(slot *Slot, d *Denial) {
	a.mu.Lock()
	a.count(slot, d)
	a.mu.Unlock()
}

// count adds d to its unit and syscall; a.mu is held.
func (a *Aggregator) count(slot *Slot, d *Denial) {
	u, s := slot.u, slot.s
	u.total++
	u.first, u.last = widen(u.first, u.last, d.Time)
	s.native = d.Native
	s.actions[actionIndex(d.Action)]++
	s.count++
	s.first, s.last = widen(s.first, s.last, d.Time)
	s.exes, s.exesDropped = a.addDistinct(s.exes, s.exesDropped, d.Exe, a.limits.MaxExes)
	s.comms, s.commsDropped = a.addDistinct(s.comms, s.commsDropped, d.Comm, a.limits.MaxComms)
}

func (a *Aggregator) addDistinct(list []string, dropped uint64, v string, max int) ([]string, uint64) {
	for _, x := range list {
		if x == v {
			return list, dropped
		}
	}
	if len(list) >= max {
		return list, dropped + 1
	}
	return append(list, a.intern(v)), dropped
}

func (a *Aggregator) intern(s string) string {
	if v, ok := a.strs[s]; ok {
		return v
	}
	if len(a.strs) < maxInterned {
		s = string([]byte(s)) // detach from any larger buffer
		a.strs[s] = s
	}
	return s
}

func widen(first, last, t time.Time) (time.Time, time.Time) {
	if t.IsZero() {
		return first, last
	}
	if first.IsZero() || t.Before(first) {
		first = t
	}
	if last.IsZero() || t.After(last) {
		last = t
	}
	return first, last
}

// Overflow returns the counts of denials that did not fit the limits.
func (a *Aggregator) Overflow() Overflow {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.overflow
}

// Snapshot returns a deep copy of the aggregation, sorted by unit, then
// machine, the system unit before user units of that name, these by UID;
// each unit's syscalls sorted by name, arch and number.
func (a *Aggregator) Snapshot() []UnitAggregate {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]UnitAggregate, 0, len(a.units))
	for k, u := range a.units {
		ua := UnitAggregate{
			Unit: k.unit, Machine: k.machine, UserUnit: k.user >= 0, UID: max(k.user, 0),
			Total: u.total, Dropped: u.dropped,
			FirstSeen: u.first, LastSeen: u.last,
			Syscalls: make([]SyscallAggregate, 0, len(u.syscalls)),
		}
		for sk, s := range u.syscalls {
			sa := SyscallAggregate{
				Syscall: sk.name, Arch: sk.arch, AuditArch: sk.auditArch, Nr: sk.nr,
				Native: s.native, Count: s.count, FirstSeen: s.first, LastSeen: s.last,
				Exes:        append([]string(nil), s.exes...),
				Comms:       append([]string(nil), s.comms...),
				ExesDropped: s.exesDropped, CommsDropped: s.commsDropped,
				Actions: make(map[string]uint64, 2),
			}
			for i, n := range s.actions {
				if n > 0 {
					sa.Actions[actionNames[i]] = n
				}
			}
			ua.Syscalls = append(ua.Syscalls, sa)
		}
		sortSyscalls(ua.Syscalls)
		out = append(out, ua)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Unit != b.Unit {
			return a.Unit < b.Unit
		}
		if a.Machine != b.Machine {
			return a.Machine < b.Machine
		}
		if a.UserUnit != b.UserUnit {
			return !a.UserUnit
		}
		return a.UID < b.UID
	})
	return out
}

func sortSyscalls(s []SyscallAggregate) {
	sort.Slice(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Syscall != b.Syscall {
			return a.Syscall < b.Syscall
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		if a.AuditArch != b.AuditArch {
			return a.AuditArch < b.AuditArch
		}
		return a.Nr < b.Nr
	})
}

// Restore merges persisted aggregates (as returned by Snapshot, possibly
// through JSON) into a. Counts add up, time ranges widen, exes and comms
// merge within the limits; units and syscalls beyond the limits are
// counted as overflow, as in Add.
func (a *Aggregator) Restore(units []UnitAggregate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ua := range units {
		uk := keyOf(ua.Machine, ua.Unit, ua.UserUnit, ua.UID)
		u := a.units[uk]
		if u == nil {
			if len(a.units) >= a.limits.MaxUnits {
				a.overflow.Units += ua.Total
				continue
			}
			u = &unitAgg{syscalls: make(map[syscallKey]*syscallAgg, len(ua.Syscalls))}
			a.units[uk] = u
		}
		u.total += ua.Total
		u.dropped += ua.Dropped
		u.first, u.last = widen(u.first, u.last, ua.FirstSeen)
		u.first, u.last = widen(u.first, u.last, ua.LastSeen)
		for _, sa := range ua.Syscalls {
			sk := syscallKey{name: sa.Syscall, arch: sa.Arch, auditArch: sa.AuditArch, nr: sa.Nr}
			s := u.syscalls[sk]
			if s == nil {
				if len(u.syscalls) >= a.limits.MaxSyscallsPerUnit {
					u.dropped += sa.Count
					a.overflow.Syscalls += sa.Count
					continue
				}
				s = &syscallAgg{}
				u.syscalls[sk] = s
			}
			s.native = sa.Native
			for name, n := range sa.Actions {
				s.actions[actionIndex(name)] += n
			}
			s.count += sa.Count
			s.first, s.last = widen(s.first, s.last, sa.FirstSeen)
			s.first, s.last = widen(s.first, s.last, sa.LastSeen)
			for _, e := range sa.Exes {
				s.exes, s.exesDropped = a.addDistinct(s.exes, s.exesDropped, e, a.limits.MaxExes)
			}
			s.exesDropped += sa.ExesDropped
			for _, c := range sa.Comms {
				s.comms, s.commsDropped = a.addDistinct(s.comms, s.commsDropped, c, a.limits.MaxComms)
			}
			s.commsDropped += sa.CommsDropped
		}
	}
}
