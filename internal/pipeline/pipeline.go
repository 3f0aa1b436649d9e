// Package pipeline holds the steps that replay and the daemon share between
// a decoded record and the sinks: naming the syscall and its groups,
// turning an attributed event into the suggestion engine's input, reading a
// unit's configuration into a policy, and computing suggestions.
package pipeline

import (
	"context"
	"runtime"
	"strconv"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Enrich names the record's syscall in its ABI's table and lists the
// systemd groups containing it in t. The unit is left for the caller.
func Enrich(rec auditstream.Record, t *syscalls.Table) event.Event {
	var e event.Event
	EnrichInto(&e, &rec, t)
	return e
}

// EnrichInto is Enrich writing the event into e (replay's loop: one copy
// of the record, not three).
func EnrichInto(e *event.Event, rec *auditstream.Record, t *syscalls.Table) {
	*e = event.Event{Record: *rec, Unit: event.UnknownUnit}
	var name string
	if rec.SyscallNm != "" {
		// ausearch -i gives a name and no number: keep it only when the
		// ABI's table has it (SPEC: the name in that arch's table, or
		// "unknown"), never anything a forged log made up.
		if _, ok := syscalls.Number(rec.Arch, rec.SyscallNm); ok {
			name = rec.SyscallNm
		}
	} else if n, ok := syscalls.Name(rec.Arch, rec.Syscall); ok {
		name = n
	}
	if name == "" {
		name = "unknown"
	} else {
		e.Groups = t.Groups(name)
	}
	e.SyscallName = name
}

// NativeArch returns the ABI this program runs as (the host's native one).
func NativeArch() syscalls.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return syscalls.ArchX86_64
	case "386":
		return syscalls.ArchI386
	case "arm64":
		return syscalls.ArchAArch64
	case "arm":
		return syscalls.ArchARM
	case "riscv64":
		return syscalls.ArchRISCV64
	case "ppc64le":
		return syscalls.ArchPPC64LE
	case "s390x":
		return syscalls.ArchS390X
	}
	return syscalls.ArchUnknown
}

// UnattributedPrefix starts the pseudo-unit of denials without a unit.
const UnattributedPrefix = "unattributed:"

// SuggestionUnit is the key an event is aggregated under: its unit, or, when
// it has none, a pseudo-unit per binary that can never be applied.
func SuggestionUnit(e *event.Event) string {
	if e.Unit != "" && e.Unit != event.UnknownUnit {
		return e.Unit
	}
	switch {
	case !e.ExeUnknown && e.Exe != "":
		return UnattributedPrefix + e.Exe
	case e.Comm != "":
		return UnattributedPrefix + "comm=" + e.Comm
	}
	return event.UnknownUnit
}

// Denial converts an attributed event into the suggestion engine's input.
func Denial(e *event.Event, native syscalls.Arch) suggest.Denial {
	return suggest.Denial{
		Unit:      SuggestionUnit(e),
		Machine:   e.Machine,
		UserUnit:  e.UserUnit,
		UID:       e.UserUID,
		Arch:      e.Arch,
		AuditArch: e.AuditArch,
		Nr:        e.Syscall,
		Syscall:   e.SyscallName,
		Action:    e.Action.String(),
		Exe:       e.Exe,
		Comm:      e.Comm,
		Time:      e.Time,
		Native:    e.Arch == native,
	}
}

// Policy converts what is known of a unit's configuration into the
// suggestion engine's view of it.
func Policy(p unitprops.Props) *suggest.Policy {
	if !p.Found {
		// systemd would not load it: nothing is known, nothing can be
		// installed for it.
		return &suggest.Policy{Sandbox: &sandbox.Sandbox{Unknown: "no unit file of this name was found (" + p.Source + ")"}}
	}
	var sb *sandbox.Sandbox
	if p.Sandbox.Known || p.Sandbox.Unknown != "" {
		sb = &p.Sandbox // else a provider without the model: built from the fields below
	}
	return &suggest.Policy{
		Sandbox:        sb,
		Known:          true,
		AllowList:      p.AllowList,
		Names:          p.Filter,
		ErrorNumber:    p.ErrorNumber,
		HasErrorNumber: p.HasErrorNumber,
		Architectures:  p.Architectures,
		// SystemCallLog= does not make denials visible (FACTS.md): only the
		// manager's SYSTEMD_LOG_SECCOMP=1 does.
		LogSeccomp:   p.ManagerLogSeccomp,
		ExecPaths:    p.ExecPaths,
		FragmentPath: p.FragmentPath,
		SourcePath:   p.SourcePath,
		DropInPaths:  p.DropInPaths,
		UserUnit:     p.UserUnit,
		UID:          -1,
	}
}

// Result is one unit's suggestion, with the grants of its current
// 50-seccompwatch.conf carried over (suggest.CarryOver), and the unit's
// current drop-ins (path → content), against which a diff is rendered.
type Result struct {
	Suggestion suggest.Suggestion
	Current    map[string]string
}

// PropsTimeout bounds each D-Bus call of a unit look-up (the daemon's
// unitprops.DBusOptions.CallTimeout): a hung systemd must not stall a
// caller. Each provider bounds its own waits, so that a bus that used its
// time up does not leave the unit files after it none (PolicyFor sets no
// deadline of its own: a shared one did, and a template instance's
// configuration was "unknown" under load, moments after it was read).
const PropsTimeout = 2 * time.Second

// Machines is implemented by a Provider that can also read the units of a
// container from its own systemd: a container's unit never gets the
// configuration of the host's unit of the same name.
type Machines interface {
	ForMachine(name string) (unitprops.Provider, error)
}

// Users is implemented by a Provider that can also read the units of a
// user's service manager (user@UID.service) from that manager: a user's
// unit never gets the configuration of the system's unit of the same
// name. The error says why it cannot (the verdict is then unknown).
type Users interface {
	ForUser(uid int) (unitprops.Provider, error)
}

// unknownPolicy is a policy that says why nothing is known.
func unknownPolicy(why string) *suggest.Policy {
	return &suggest.Policy{Sandbox: &sandbox.Sandbox{Unknown: why}}
}

// PolicyFor reads a unit's configuration into a policy, with the unit's
// current drop-ins (path → content): a container's unit from its own
// systemd when props implements Machines (else unknown), a unit of user
// uid's manager (uid ≥ 0; -1: not a user's unit) from that manager when
// props implements Users (else unknown), never from the system manager.
// props may be nil; a nil policy means nothing is known and no reason is
// given. It is the one place where a unit's configuration is read.
func PolicyFor(ctx context.Context, props unitprops.Provider, unit, machine string, uid int) (*suggest.Policy, map[string]string) {
	src := props
	var pol *suggest.Policy
	switch {
	case props == nil || suggest.IsPseudoUnit(unit):
		return nil, nil
	case uid >= 0 && machine != "":
		return unknownPolicy("a user manager's units in machine " + machine + " are not read"), nil
	case uid >= 0:
		u, ok := props.(Users)
		if !ok {
			return unknownPolicy("user " + strconv.Itoa(uid) + "'s units are read from its own service manager, which this reader does not ask"), nil
		}
		up, err := u.ForUser(uid)
		if err != nil {
			return unknownPolicy(err.Error()), nil
		}
		src = up
	case machine != "":
		m, ok := props.(Machines)
		if !ok {
			return unknownPolicy("the units of machine " + machine + " are read from its own systemd, which this reader cannot reach"), nil
		}
		mp, err := m.ForMachine(machine)
		if err != nil {
			return unknownPolicy(err.Error()), nil
		}
		src = mp
	}
	p, err := src.Props(ctx, unit)
	if err != nil {
		why := err.Error()
		switch {
		case uid >= 0:
			why = "user " + strconv.Itoa(uid) + "'s service manager: " + why
		case machine != "":
			why = "machine " + machine + ": " + why
		}
		if !p.Found && p.Source == unitprops.SourceUnitFiles {
			why += "; the unit files do not define it"
		}
		pol = unknownPolicy(why)
		// A timeout or a reconnecting bus: asking again may succeed.
		pol.Retry = unitprops.Transient(err)
		return pol, nil
	}
	pol = Policy(p)
	if uid >= 0 {
		pol.UserUnit, pol.UID = true, uid
	}
	return pol, p.DropIns
}

// Suggest computes the suggestion for each aggregated unit (PolicyFor
// reads each unit's configuration).
func Suggest(ctx context.Context, units []suggest.UnitAggregate, props unitprops.Provider, opts suggest.Options) []Result {
	out := make([]Result, 0, len(units))
	for _, u := range units {
		uid := -1
		if u.UserUnit {
			uid = u.UID
		}
		pol, current := PolicyFor(ctx, props, u.Unit, u.Machine, uid)
		// What may replace the drop-in at the suggestion's path keeps
		// the grants already there, in every rendering.
		s := suggest.CarryOver(suggest.Compute(u, pol, opts), current)
		out = append(out, Result{Suggestion: s, Current: current})
	}
	return out
}
