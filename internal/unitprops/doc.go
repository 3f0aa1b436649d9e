// Package unitprops answers "what is this systemd unit's seccomp
// configuration?" for the suggestion engine and for attribution.
//
// Two sources implement [Provider]:
//
//   - [Files] reads unit files and drop-ins from disk along systemd's unit
//     search path (optionally below a root prefix), merging assignments the
//     way systemd does. It works without a running systemd (replay, tests,
//     containers) and also builds an [ExecIndex] that maps binaries to the
//     units that run them.
//   - [DBus] asks a running systemd over D-Bus (the system bus by default,
//     or any bus address, e.g. a container's). It caches per unit, drops the
//     cache when systemd reloads or (un)loads a unit, bounds every call with
//     a timeout, and reports [ErrNoDBus] when there is no systemd to ask, so
//     callers can log once and carry on. It reconnects with backoff.
//
// [Chain] combines providers: D-Bus first, unit files second.
//
// Both sources produce the same [Props] value. Filter and Log hold expanded
// syscall names (never @groups when a [syscalls.Table] knows the group),
// sorted, deduplicated; deny-list entries may carry an ":ERRNO" suffix, the
// same shape systemd's D-Bus API reports.
//
// Invariants: nothing in this package panics on hostile unit files or
// hostile unit names; a binary is attributed to a unit by [ExecIndex.LookupExe]
// only when exactly one unit on the host runs it (a wrong unit is worse than
// none). Nothing here writes to disk or changes systemd's state.
package unitprops
