// Package suggest is seccompwatch's policy engine: it aggregates attributed
// seccomp denials per unit and turns them into the smallest correct
// SystemCallFilter= change, rendered as a systemd drop-in, a unified diff or
// JSON.
//
// # Purity
//
// Everything here is deterministic and pure: no D-Bus, no clock, no file
// I/O except through the io.Writer a renderer is given. The caller supplies
// the unit's current configuration as a Policy (read over D-Bus by the
// daemon, nil when unknown), the group table in use (Options.Table, from
// package syscalls; every output names its Source) and, for diffs, the
// current drop-in contents.
//
// # Lifecycle
//
// An Aggregator (safe for concurrent use, bounded by Limits, overflow
// counted) collects Denials; Snapshot returns JSON-serialisable
// UnitAggregates that the daemon may persist and Restore after a restart.
// Compute turns one UnitAggregate and its Policy into a Suggestion; the
// renderers write it.
//
// # Policy
//
//   - The minimal addition is the denied syscalls themselves, one
//     SystemCallFilter= line each, with its justification (groups, count,
//     first and last seen, exes, comms, actions). GranularityGroup proposes a
//     group instead when at least two denied syscalls share one, the group
//     has no risky member and adds at most 64 other syscalls; the line says
//     "adds K syscalls: ...". @system-service, @known and @default are never
//     proposed.
//   - Every denial is first judged against the unit's whole sandbox
//     (sandbox.Judge): a SystemCallFilter= line is proposed only where that
//     filter denies the call; another directive's denial gets that
//     directive's change (Line.Lifts, Line.Set), and a call several settings
//     deny gets a line each, none active until all are lifted. A change that
//     undoes a deliberate setting (a "~" removal, a Protect*=/Restrict*=
//     directive, SystemCallArchitectures=) is commented out unless
//     Options.Allow names it (Line.Needs). With the unit's configuration
//     unknown nothing is active.
//   - A syscall the unit's filter already allows is not suggested again
//     (NoChange, with the verdict's reason: none, stale, benign). In a
//     deny-list ("~") filter, a denied name is on the deny-list and
//     SystemCallFilter=name in a later drop-in removes it: the first
//     assignment decides the mode, so the same line is right in both modes.
//     A unit without any filter gets no line (another filter denied it):
//     there a SystemCallFilter= line would start an allow-list.
//   - A denial on a non-native ABI that SystemCallArchitectures= excludes
//     (or, with an unknown policy, any non-native denial) becomes an
//     ArchNote proposing SystemCallArchitectures=<abi> (with an unknown
//     policy "native <abi>", so that a unit without the setting is not
//     restricted to that ABI alone), not a syscall line.
//   - Risky syscalls (see Risk and RiskyGroups) and denials from binaries
//     that are not the unit's own (Policy.ExecPaths) are rendered commented
//     out with their reason unless Options.AllowRisky; so are ArchNotes.
//   - clone3 denied from systemd's own binaries is noise (systemd answers it
//     with ENOSYS on purpose, glibc falls back to clone): NoChange.
//   - Records with action log or allow are calls the unit used, not
//     denials (learning mode, see RenderLearning): they are suggested as
//     "observed via log" unless already allowed.
//   - Units named "unknown" or "unattributed:<exe>", invalid unit names and
//     unit types without an exec context (scopes, slices, ...) are never
//     Applicable: their drop-in is a commented advisory without a path.
//
// # Paths
//
// System units: /etc/systemd/system/<unit>.d/50-seccompwatch.conf. User
// units (Policy.UserUnit): /etc/systemd/user/<unit>.d/50-seccompwatch.conf,
// which applies to that unit of every user; the suggestion notes how to
// restrict it to one user (~/.config/systemd/user/<unit>.d/ of Policy.UID).
// Units of a container (Machine set) get the same path inside the
// container; quadlet-generated units (Policy.SourcePath *.container) get a
// note that the container's own seccomp profile is separate. A unit name
// becomes a path component only after unitname.Validate.
//
// # Hostile values
//
// comm, exe, unit and machine names are controlled by processes. Every
// renderer passes them through Sanitize (and quotes them in comments), so
// no output can contain a newline, a control or escape sequence, invalid
// UTF-8, a systemd specifier or a line continuation; long values are cut
// with a marker. The only directives a drop-in contains are built from
// validated syscall, group and architecture names.
//
// # JSON schema (RenderJSON, version 1)
//
// One document; keys are only ever added, an incompatible change bumps
// "version". Times are RFC 3339 UTC with milliseconds, or null.
//
//	{
//	  "version": 1,
//	  "suggestions": [{
//	    "unit": string,               // as systemd spells it; sanitized if not a valid unit name
//	    "machine": string,            // "" for the host; sanitized
//	    "user_uid": int|null,         // a unit of user@UID.service; null for a system unit
//	    "applicable": bool,
//	    "path": string|null,          // drop-in path; null if not applicable
//	    "table": string,              // group table source, e.g. "bundled systemd 252"
//	    "generator": string,
//	    "granularity": "syscall"|"group",
//	    "mode": "allow-list"|"deny-list"|"none"|"unknown",  // the unit's filter now
//	    "total": int, "first_seen": time, "last_seen": time,
//	    "lines": [line],              // proposed directives
//	    "arch_notes": [{
//	      "arch": string, "systemd_name": string, "directive": string,
//	      "syscalls": [string], "count": int, "first_seen": time, "last_seen": time,
//	      "exes": [string], "included": bool, "reason": string,
//	      "verdict": verdict|null
//	    }],
//	    "no_change": [line],          // already allowed, noise, not the unit's filter
//	    "kept": [string],             // directives carried over from the drop-in at path
//	    "kept_evidence": {string: [string]},  // per kept directive, the comment lines above it there
//	    "warnings": [string],
//	    "notes": [string],
//	    "dropin": string,             // RenderDropin's text of this suggestion
//	    "unknown": {                  // only with mode "unknown"
//	      "reason": string,           // why ("" when none was given)
//	      "retry": bool               // not read now (a D-Bus timeout, a bus reconnecting): ask again
//	    }
//	  }]
//	}
//
// where line is
//
//	{
//	  "directive": string,            // e.g. "SystemCallFilter=socket"
//	  "syscalls": [string],           // the denied syscalls it covers
//	  "group": string,                // only for group lines, e.g. "@network-io"
//	  "groups": [string],             // groups containing the syscalls
//	  "adds": [string],               // only for group lines: what else it grants
//	  "arches": [string],             // ABIs (audit spelling)
//	  "count": int, "first_seen": time, "last_seen": time,
//	  "exes": [string], "exes_dropped": int, "comms": [string],   // sanitized
//	  "actions": {string: int},       // e.g. {"errno": 3}
//	  "risky": bool, "foreign": bool, "observed": bool,
//	  "included": bool,               // false: rendered commented out
//	  "reason": string,               // "; "-separated reasons
//	  "verdict": verdict|null,        // null: the unit's configuration is unknown
//	  "lifts": string,                // a directive line: the directive it changes
//	  "needs": [string]               // the --allow names it needs to be included
//	}
//
// and verdict (sandbox.Verdict) is
//
//	{
//	  "kind": "filter"|"filter-removed"|"architecture"|"directive"|"none"|"stale"|"benign"|"unknown"|"logged",
//	  "directive": string,            // the (first) denying setting, e.g. "MemoryDenyWriteExecute"
//	  "source": string,               // where it was set: "FILE:LINE", or "D-Bus property NAME"
//	  "reason": string,
//	  "deniers": [denier],            // every setting whose action matches the records
//	  "also": [denier]                // settings that deny it too once those are lifted, or may (argument)
//	}
//
// with denier {"directive", "setting", "sources": [{"file", "line",
// "property"}], "action", "errno", "argument" (non-empty: denies only for
// that argument, which the record does not carry), "benign", "deliberate",
// "lift" (the assignment that lifts it), "no_lift" (why none is proposed)}.
//
// The persisted aggregate (Snapshot, Restore) is a JSON array of
// UnitAggregate; see the field tags of UnitAggregate and SyscallAggregate.
package suggest
