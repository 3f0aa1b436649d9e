// Package observe watches the system calls of chosen cgroups with an eBPF
// program on the sys_enter tracepoint, for learning a unit's sandbox
// without touching the unit: no restart, no drop-in, nothing the unit's
// processes can notice beyond the cost of the program.
//
// The program (cilium/ebpf, written with its asm package, no clang; a
// tp_btf program, the kind this kernel allows, with struct offsets read
// from the running kernel's BTF) runs for every system call on the host
// and returns at once unless the calling task's cgroup2 cgroup, or one of
// its ancestors, is one of the cgroups added with [Observer.Add]. For
// those it keeps, per added cgroup:
//
//   - the calls seen per ABI (x86_64, i386 through int 0x80 or a 32-bit
//     process, x32) as a bitmap, and how many calls in all;
//   - which processes (tgids) made them;
//   - the arguments the seccomp-backed directives of systemd 252 look at
//     (see [Kind]): socket() families; mmap with PROT_WRITE|PROT_EXEC,
//     mprotect and pkey_mprotect with PROT_EXEC, shmat with SHM_EXEC; the
//     CLONE_NEW* flags of unshare, clone and clone3 (read from the
//     caller's struct clone_args) and setns' nstype; personality()
//     values; sched_setscheduler policies; set-uid/gid modes of the chmod
//     family, mkdir, mknod and open/openat/creat with O_CREAT; and a count
//     of each call the caller names in [Options.Count] (sethostname,
//     @clock, syslog, @module, @raw-io, ...).
//
// Arguments are read for native (x86_64) and x32 calls only: an i386
// call's arguments live in other registers and its numbers differ, so an
// i386 call is only in the bitmap, and a consumer must treat its
// arguments as unknown.
//
// Lifecycle: [New] loads and attaches; [Observer.Close] detaches the
// program and frees every map. Nothing is pinned, so a process that dies
// without Close (SIGKILL) loses its file descriptors and the kernel frees
// the program, its link and its maps with them. Lost data is counted,
// never hidden: a full events or processes map ([Stats]). The program
// also counts every call of the host it runs for (Stats.HostCalls), so
// that an observation of no call can be told from a program the kernel
// did not run.
//
// Only linux/amd64 is supported (the argument registers and the ABI test
// are x86's); elsewhere New returns [ErrNotSupported].
package observe
