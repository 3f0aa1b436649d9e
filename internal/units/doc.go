// Package units attributes seccomp audit records to systemd units: it maps
// a record's host pid (and time) to the unit the process ran in, even when
// the process was killed and reaped before the record was read, and never
// to a wrong unit (a wrong unit is worse than none: a suggestion for it
// would widen the wrong sandbox).
//
// # Parsing
//
// ParseProcCgroup reads /proc/<pid>/cgroup content (the cgroup v2 "0::"
// line, else the v1 name=systemd line, which also wins over a "0::/" on
// legacy hosts); ParseCgroupPath turns a cgroup path into a Unit the way
// systemd does (one leading "_" of cg_escape dropped, slices skipped, the
// first unit is the unit, deeper directories are its delegated
// sub-cgroups, whatever they are named), descending into user managers
// (user@UID.service) and containers (libpod-<id> cgroups set Machine and
// ContainerID). A container's own systemd tree starts only at
// /machine.slice/<scope or service>/payload (systemd-nspawn, machined):
// only root creates cgroups in machine.slice, while anyone can make a
// "payload" directory in a subtree delegated to them (user@UID.service, a
// Delegate=yes service), and what they build below it stays the owner's
// unit, never a container unit named like a system unit. A machine
// systemd-machined registered elsewhere (nspawn --keep-unit in a service,
// RegisterMachine with a leader) is a boundary too, at
// "<its cgroup>/payload" (MachineCgroup, ParseMachinePath): with a
// MachineRegistry (SetMachines) a host unit's path below a "payload" is
// checked against the machines registered at the record's time, and is
// unknown ("machine_unknown") when that cannot be told. Names are
// checked against systemd's unit-name rules, so hostile directory names
// never become units.
//
// # Methods
//
// The primary method is eBPF (programs built with cilium/ebpf's asm
// package at run time, no C toolchain): tp_btf programs (raw tracepoints
// as fallback) on sched_process_fork, sched_process_exec and
// cgroup_attach_task keep, per tgid, the process's start time and its
// cgroup2 id with the time it became current and the id before (only
// after its first move: once a process moved twice, a record from before
// its latest move is unknown, "cgroup_changed"); a new
// process on the same tgid keeps the previous generation too, so a
// reused pid never answers for an older record. A cgroup_mkdir hook
// records new cgroups' paths, and an index of the cgroup2 tree (rescanned
// on a miss and every sweep) maps ids to paths and keeps removed cgroups
// for HistoryTTL. The hooks are attached before /proc is scanned for
// processes that already run. Exited processes stay in the (plain hash,
// not LRU) map for HistoryTTL; when it is 90% full the longest-dead are
// evicted (counted); failed updates are counted and never leave a stale
// entry behind.
//
// Without eBPF the Attributor reads /proc/<pid>/cgroup at record time,
// checking the process start time so that a reused pid is not taken for
// the record's process, and remembers successful reads (pid + start time
// → cgroup) to answer later records of the same process. A process that
// is already gone and was never read is unknown ("pid_gone"). Measured on
// the project's machine: eBPF attributed 100% of processes killed ~100 µs
// after exec; /proc at record time gets roughly half of them.
//
// Record times are compared with a Slack (20 ms by default) because audit
// time stamps come from a coarse clock: a pid reused, or a cgroup change,
// within the slack of the record is treated as ambiguous and answered with
// a reason, not a guess; only a move of a live process within the slack
// after its record can be mis-timed (the later cgroup is reported).
//
// # Evidence for other methods
//
// UnitProcesses lists a host system unit's live processes with the uid and
// login uid an audit record carries, read from the unit's own cgroups (the
// cgroup2 index, or the name=systemd tree on legacy hosts): evidence that a
// record's sender cannot forge, which the daemon requires before the
// record's exe may name a unit.
//
// # Capabilities
//
// The eBPF path needs CAP_BPF and CAP_PERFMON (or root), a kernel with BTF
// (/sys/kernel/btf/vmlinux) and a mounted cgroup2 hierarchy
// (/sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on pure v2).
// Reading /proc/<pid>/cgroup of other users' processes needs no
// capability. Without them New still succeeds in /proc mode, and Mode
// says so with the reason; the daemon reports it in its logs, /healthz and
// metrics.
//
// # Lifecycle
//
// New loads the hooks and starts a sweeper goroutine; Attribute and Stats
// are safe for concurrent use; Close detaches everything.
package units
