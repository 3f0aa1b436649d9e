package unitprops

import (
	"context"
	"errors"
	"strings"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/sandbox"
)

// Source names reported in Props.Source.
const (
	SourceDBus      = "dbus"
	SourceUnitFiles = "unit-files"
)

// ErrorNumberKill is the SystemCallErrorNumber value systemd reports when a
// denied call kills the process (SECCOMP_ERROR_NUMBER_KILL, INT_MAX-1).
const ErrorNumberKill int32 = 2147483646

// Sentinel errors; test with errors.Is.
var (
	// ErrNoDBus means there is no systemd reachable over D-Bus (no bus
	// socket, no systemd on the bus, or the connection went away). Callers
	// log it once and fall back to unit files.
	ErrNoDBus = errors.New("unitprops: no systemd on D-Bus")
	// ErrHelloRefused means the bus accepted the authentication but then
	// failed the Hello call, typically by closing the connection ("write:
	// broken pipe"): dbus-daemon does that when it cannot resolve the
	// peer's uid to a user, e.g. a DynamicUser= uid on a host without
	// libnss-systemd.
	ErrHelloRefused = errors.New("unitprops: the bus refused the connection at Hello")
)

// Props is a unit's seccomp-relevant configuration, as one source sees it.
type Props struct {
	// Unit is the unit name asked for, e.g. "nginx.service".
	Unit string
	// Found reports whether the source knows a loaded, unmasked unit.
	Found bool
	// AllowList is true when SystemCallFilter= is an allow-list (first
	// assignment without "~"); false for a deny-list or no filter.
	AllowList bool
	// Filter holds the effective SystemCallFilter= entries: expanded
	// syscall names, sorted; deny-list entries may carry ":ERRNO". Empty
	// means no filter.
	Filter []string
	// ErrorNumber is SystemCallErrorNumber= (ErrorNumberKill for kill).
	ErrorNumber int32
	// HasErrorNumber reports that denials return an errno (ErrorNumber)
	// instead of killing the process.
	HasErrorNumber bool
	// Architectures is SystemCallArchitectures= in systemd's spelling
	// ("native", "x86-64", ...), sorted; empty means no restriction.
	Architectures []string
	// Log holds the effective SystemCallLog= names, sorted.
	Log []string
	// LogAllowList is true when SystemCallLog= lists the calls to log; false
	// when it lists the calls not to log ("~") or is unset.
	LogAllowList bool
	// ExecPaths are the binaries the unit runs (ExecStart= and siblings),
	// absolute where systemd would resolve them, sorted, deduplicated.
	ExecPaths []string
	// FragmentPath is the unit file.
	FragmentPath string
	// SourcePath is the file a generator built the unit from, if any.
	SourcePath string
	// DropInPaths are the drop-ins in the order systemd applies them.
	DropInPaths []string
	// DropIns maps drop-in path to content, for those that were readable.
	DropIns map[string]string
	// ManagerLogSeccomp reports SYSTEMD_LOG_SECCOMP=1 in the manager's
	// process environment (known only from the DBus provider, which reads
	// /proc/<manager pid>/environ).
	ManagerLogSeccomp bool
	// UserUnit reports a unit of a user manager.
	UserUnit bool
	// Source is SourceDBus or SourceUnitFiles.
	Source string
	// Sandbox is the unit's whole seccomp-backed configuration, each
	// setting with where it was made. It is shared, never modified after
	// the provider returned it.
	Sandbox sandbox.Sandbox
}

// Provider returns a unit's properties. Implementations are safe for
// concurrent use. A unit the source does not know yields Found=false and a
// nil error.
type Provider interface {
	Props(ctx context.Context, unit string) (Props, error)
}

// Chain asks each provider in turn and returns the first answer that found
// the unit. Errors of earlier providers (such as ErrNoDBus) are not returned
// when a later one answers; when none finds the unit, the last answer is
// returned together with the joined errors.
type Chain []Provider

// Props implements Provider.
func (c Chain) Props(ctx context.Context, unit string) (Props, error) {
	var errs []error
	last := Props{Unit: unit}
	for _, p := range c {
		if p == nil {
			continue
		}
		pr, err := p.Props(ctx, unit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if pr.Found {
			return pr, nil
		}
		last = pr
	}
	return last, errors.Join(errs...)
}

// unitTypes maps unit suffix to the D-Bus interface / unit-file section.
var unitTypes = map[string]string{
	"service":   "Service",
	"socket":    "Socket",
	"mount":     "Mount",
	"swap":      "Swap",
	"scope":     "Scope",
	"slice":     "Slice",
	"target":    "Target",
	"timer":     "Timer",
	"path":      "Path",
	"device":    "Device",
	"automount": "Automount",
}

// execSection reports whether units of this section ("Service") have an
// exec context (and so seccomp settings and Exec*= lines).
func execSection(section string) bool {
	return unitname.ExecType(strings.ToLower(section))
}

// unitType returns the type name ("Service") of a valid unit name.
func unitType(unit string) string {
	i := strings.LastIndexByte(unit, '.')
	if i < 0 {
		return ""
	}
	return unitTypes[unit[i+1:]]
}

// templateOf returns "foo@.service" for "foo@bar.service", and "" when unit
// is not an instance.
func templateOf(unit string) string {
	at := strings.IndexByte(unit, '@')
	dot := strings.LastIndexByte(unit, '.')
	if at < 0 || dot < at || dot == at+1 {
		return ""
	}
	return unit[:at+1] + unit[dot:]
}

// isTemplate reports "foo@.service".
func isTemplate(unit string) bool {
	at := strings.IndexByte(unit, '@')
	return at >= 0 && at+1 < len(unit) && unit[at+1] == '.'
}
