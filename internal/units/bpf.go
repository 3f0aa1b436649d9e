package units

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/seccompwatch/seccompwatch/internal/kbtf"
)

// Layout of a value of the tasks map (all little-endian uint64): the
// current process generation of the tgid and the one before it.
//
//	0  cur.start   task start_boottime, ns
//	8  cur.cgid    cgroup2 id (kernfs node id = inode of the directory)
//	16 cur.since   boot ns when cur.cgid became current
//	24 cur.prev    cgroup2 id before cur.since (0: no move seen;
//	               prevMovedMore: moved more than once, unknown)
//	32 old.start ... 56 old.prev: the generation the tgid had before
const (
	taskValueSize = 64
	pathValueSize = 512
	// sameGenWindow: two start times closer than this are one process
	// (the /proc scan knows start times to 10 ms only). A pid cannot be
	// reused within it: that takes pid_max forks.
	sameGenWindow = 20_000_000
	// prevMovedMore in a prev field: the process moved more than once,
	// so which cgroup it was in before the latest move is not known for
	// every earlier time.
	prevMovedMore = ^uint64(0)
)

// Indexes of the stats per-CPU array.
const (
	statTaskUpdateErrors = iota
	statPathUpdateErrors
	statCount
)

// kernelOffsets are the byte offsets of the kernel struct fields the
// programs read, taken from the running kernel's BTF (no CO-RE needed).
type kernelOffsets struct {
	taskTgid, taskPid, taskStart, taskCgroups int16
	cssetDfl                                  int16
	cgroupKn, cgroupRoot                      int16
	knID                                      int16
}

func loadOffsets() (kernelOffsets, error) {
	var o kernelOffsets
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return o, fmt.Errorf("units: kernel BTF: %w", err)
	}
	for _, f := range []struct {
		dst   *int16
		typ   string
		names []string
	}{
		{&o.taskTgid, "task_struct", []string{"tgid"}},
		{&o.taskPid, "task_struct", []string{"pid"}},
		{&o.taskStart, "task_struct", []string{"start_boottime", "real_start_time"}},
		{&o.taskCgroups, "task_struct", []string{"cgroups"}},
		{&o.cssetDfl, "css_set", []string{"dfl_cgrp"}},
		{&o.cgroupKn, "cgroup", []string{"kn"}},
		{&o.cgroupRoot, "cgroup", []string{"root"}},
		{&o.knID, "kernfs_node", []string{"id"}},
	} {
		if *f.dst, err = kbtf.MemberOffset(spec, f.typ, f.names...); err != nil {
			return o, fmt.Errorf("units: %w", err)
		}
	}
	return o, nil
}

// progBuilder emits one program. In raw mode (raw tracepoints, whose
// arguments are plain numbers to the verifier) kernel memory is read with
// bpf_probe_read_kernel; in BTF mode (tp_btf) with direct loads, which the
// verifier checks against the kernel's types.
type progBuilder struct {
	raw   bool
	insns asm.Instructions
}

func (b *progBuilder) add(ins ...asm.Instruction) { b.insns = append(b.insns, ins...) }

// deref loads *(src+off) (size bytes) into dst; src and dst must be
// callee-saved registers (R6–R9). A raw-mode read that faults yields 0.
func (b *progBuilder) deref(dst, src asm.Register, off int16, size asm.Size) {
	if !b.raw {
		b.add(asm.LoadMem(dst, src, off, size))
		return
	}
	b.add(
		asm.StoreImm(asm.RFP, -88, 0, asm.Word),
		asm.StoreImm(asm.RFP, -84, 0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -88),
		asm.Mov.Imm(asm.R2, int32(size.Sizeof())),
		asm.Mov.Reg(asm.R3, src),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.FnProbeReadKernel.Call(),
		asm.LoadMem(dst, asm.RFP, -88, size),
	)
}

// exit emits "return 0" labelled exit.
func (b *progBuilder) exit() {
	b.add(asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"), asm.Return())
}

// store emits the common tail: R6 = tgid, R7 = cgroup id, R8 = process
// start (boot ns), R9 = time the cgroup became current (boot ns).
func (b *progBuilder) store(tasks, stats *ebpf.Map) {
	b.add(
		asm.JEq.Imm(asm.R7, 0, "exit"),
		asm.StoreMem(asm.RFP, -4, asm.R6, asm.Word),
		asm.LoadMapPtr(asm.R1, tasks.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "fresh"),
		// Same process generation (start times within the window)?
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Sub.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, sameGenWindow),
		asm.JGE.Imm(asm.R2, 2*sameGenWindow, "newgen"),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.JEq.Reg(asm.R1, asm.R7, "exit"),
		// prev is only good for records after the cgroup before it
		// became current, a time the value does not keep: after a
		// second move it becomes prevMovedMore (unknown) for good.
		asm.LoadMem(asm.R2, asm.R0, 24, asm.DWord),
		asm.JEq.Imm(asm.R2, 0, "firstmove"),
		asm.Mov.Imm(asm.R1, -1),
		asm.StoreMem(asm.R0, 24, asm.R1, asm.DWord).WithSymbol("firstmove"),
		asm.StoreMem(asm.R0, 8, asm.R7, asm.DWord),
		asm.StoreMem(asm.R0, 16, asm.R9, asm.DWord),
		asm.Ja.Label("exit"),
		// A new process took the tgid: keep the previous one as old.
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord).WithSymbol("newgen"),
		asm.StoreMem(asm.RFP, -40, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.StoreMem(asm.RFP, -32, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 16, asm.DWord),
		asm.StoreMem(asm.RFP, -24, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 24, asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
		asm.Ja.Label("fill"),
		asm.StoreImm(asm.RFP, -40, 0, asm.Word).WithSymbol("fresh"),
		asm.StoreImm(asm.RFP, -36, 0, asm.Word),
		asm.StoreImm(asm.RFP, -32, 0, asm.Word),
		asm.StoreImm(asm.RFP, -28, 0, asm.Word),
		asm.StoreImm(asm.RFP, -24, 0, asm.Word),
		asm.StoreImm(asm.RFP, -20, 0, asm.Word),
		asm.StoreImm(asm.RFP, -16, 0, asm.Word),
		asm.StoreImm(asm.RFP, -12, 0, asm.Word),
		asm.StoreMem(asm.RFP, -72, asm.R8, asm.DWord).WithSymbol("fill"),
		asm.StoreMem(asm.RFP, -64, asm.R7, asm.DWord),
		asm.StoreMem(asm.RFP, -56, asm.R9, asm.DWord),
		asm.StoreImm(asm.RFP, -48, 0, asm.Word),
		asm.StoreImm(asm.RFP, -44, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, tasks.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -72),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		// The map is full: drop whatever the tgid had (a stale entry of
		// an earlier process must never answer for this one) and count.
		asm.LoadMapPtr(asm.R1, tasks.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapDeleteElem.Call(),
	)
	b.count(stats, statTaskUpdateErrors)
	b.exit()
}

// count increments stats[idx] (per CPU).
func (b *progBuilder) count(stats *ebpf.Map, idx int32) {
	b.add(
		asm.StoreImm(asm.RFP, -8, int64(idx), asm.Word),
		asm.LoadMapPtr(asm.R1, stats.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	)
}

// execProg: sched_process_exec(struct task_struct *p, pid_t old_pid,
// struct linux_binprm *bprm). The exec'ing task is current.
func execProg(o kernelOffsets, raw bool, tasks, stats *ebpf.Map) asm.Instructions {
	b := &progBuilder{raw: raw}
	b.add(asm.LoadMem(asm.R9, asm.R1, 0, asm.DWord))
	b.deref(asm.R8, asm.R9, o.taskStart, asm.DWord)
	b.add(
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(asm.R6, asm.R0),
		asm.RSh.Imm(asm.R6, 32),
		asm.FnGetCurrentCgroupId.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.FnKtimeGetBootNs.Call(),
		asm.Mov.Reg(asm.R9, asm.R0),
	)
	b.store(tasks, stats)
	return b.insns
}

// forkProg: sched_process_fork(struct task_struct *parent, struct
// task_struct *child). The child's cgroup is read from the child itself
// (CLONE_INTO_CGROUP puts it elsewhere than the parent).
func forkProg(o kernelOffsets, raw bool, tasks, stats *ebpf.Map) asm.Instructions {
	b := &progBuilder{raw: raw}
	b.add(asm.LoadMem(asm.R9, asm.R1, 8, asm.DWord))
	b.deref(asm.R6, asm.R9, o.taskTgid, asm.Word)
	b.deref(asm.R7, asm.R9, o.taskPid, asm.Word)
	b.add(asm.JNE.Reg(asm.R6, asm.R7, "exit")) // a new thread, not a process
	b.deref(asm.R8, asm.R9, o.taskStart, asm.DWord)
	b.deref(asm.R7, asm.R9, o.taskCgroups, asm.DWord)
	b.deref(asm.R7, asm.R7, o.cssetDfl, asm.DWord)
	b.deref(asm.R7, asm.R7, o.cgroupKn, asm.DWord)
	b.deref(asm.R7, asm.R7, o.knID, asm.DWord)
	b.add(asm.Mov.Reg(asm.R9, asm.R8))
	b.store(tasks, stats)
	return b.insns
}

// attachProg: cgroup_attach_task(struct cgroup *dst_cgrp, const char
// *path, struct task_struct *task, bool threadgroup). It fires for every
// hierarchy; only moves within cgroup2 (same root as the task's default
// cgroup) are recorded.
func attachProg(o kernelOffsets, raw bool, tasks, stats *ebpf.Map) asm.Instructions {
	b := &progBuilder{raw: raw}
	b.add(
		asm.LoadMem(asm.R9, asm.R1, 16, asm.DWord),
		asm.LoadMem(asm.R8, asm.R1, 0, asm.DWord),
	)
	b.deref(asm.R7, asm.R9, o.taskCgroups, asm.DWord)
	b.deref(asm.R7, asm.R7, o.cssetDfl, asm.DWord)
	b.deref(asm.R7, asm.R7, o.cgroupRoot, asm.DWord)
	b.deref(asm.R6, asm.R8, o.cgroupRoot, asm.DWord)
	b.add(asm.JNE.Reg(asm.R6, asm.R7, "exit"))
	b.deref(asm.R7, asm.R8, o.cgroupKn, asm.DWord)
	b.deref(asm.R7, asm.R7, o.knID, asm.DWord)
	b.deref(asm.R6, asm.R9, o.taskTgid, asm.Word)
	b.deref(asm.R8, asm.R9, o.taskStart, asm.DWord)
	b.add(
		asm.FnKtimeGetBootNs.Call(),
		asm.Mov.Reg(asm.R9, asm.R0),
	)
	b.store(tasks, stats)
	return b.insns
}

// mkdirProg: cgroup_mkdir(struct cgroup *cgrp, const char *path). Records
// cgroup2 id → path so that cgroups removed before anyone scanned the
// tree can still be named. BTF mode only.
func mkdirProg(o kernelOffsets, paths, scratch, stats *ebpf.Map) asm.Instructions {
	b := &progBuilder{}
	b.add(
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord),
		asm.LoadMem(asm.R9, asm.R1, 8, asm.DWord),
		asm.FnGetCurrentTaskBtf.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
	)
	b.deref(asm.R7, asm.R7, o.taskCgroups, asm.DWord)
	b.deref(asm.R7, asm.R7, o.cssetDfl, asm.DWord)
	b.deref(asm.R7, asm.R7, o.cgroupRoot, asm.DWord)
	b.deref(asm.R8, asm.R6, o.cgroupRoot, asm.DWord)
	b.add(asm.JNE.Reg(asm.R7, asm.R8, "exit"))
	b.deref(asm.R7, asm.R6, o.cgroupKn, asm.DWord)
	b.deref(asm.R7, asm.R7, o.knID, asm.DWord)
	b.add(
		asm.StoreMem(asm.RFP, -16, asm.R7, asm.DWord),
		asm.StoreImm(asm.RFP, -20, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, scratch.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -20),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Mov.Imm(asm.R2, pathValueSize),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.FnProbeReadKernelStr.Call(),
		asm.JSLE.Imm(asm.R0, 0, "exit"),
		asm.LoadMapPtr(asm.R1, paths.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
	)
	b.count(stats, statPathUpdateErrors)
	b.exit()
	return b.insns
}

// tracker owns the maps, programs and links of the BPF path.
type tracker struct {
	tasks, paths, scratch, stats *ebpf.Map
	progs                        []*ebpf.Program
	links                        []link.Link
	hooks                        []string // "sched_process_exec:tp_btf", ...
	missing                      []string // hooks that could not attach, with why
}

// errNoExecHook is returned when not even the exec hook could attach.
var errNoExecHook = errors.New("units: bpf: sched_process_exec hook did not attach")

// newTracker loads and attaches the programs. Only the exec hook is
// required; the others are best effort and listed in missing.
func newTracker(taskEntries, pathEntries uint32) (_ *tracker, err error) {
	o, err := loadOffsets()
	if err != nil {
		return nil, err
	}
	t := &tracker{}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.tasks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "sw_tasks", Type: ebpf.Hash, KeySize: 4, ValueSize: taskValueSize, MaxEntries: taskEntries}); err != nil {
		return nil, fmt.Errorf("units: bpf: tasks map: %w", err)
	}
	if t.stats, err = ebpf.NewMap(&ebpf.MapSpec{Name: "sw_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: statCount}); err != nil {
		return nil, fmt.Errorf("units: bpf: stats map: %w", err)
	}
	if t.paths, err = ebpf.NewMap(&ebpf.MapSpec{Name: "sw_cgpaths", Type: ebpf.Hash, KeySize: 8, ValueSize: pathValueSize, MaxEntries: pathEntries}); err != nil {
		return nil, fmt.Errorf("units: bpf: paths map: %w", err)
	}
	if t.scratch, err = ebpf.NewMap(&ebpf.MapSpec{Name: "sw_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: pathValueSize, MaxEntries: 1}); err != nil {
		return nil, fmt.Errorf("units: bpf: scratch map: %w", err)
	}
	hooks := []struct {
		name string
		gen  func(raw bool) asm.Instructions
		req  bool
	}{
		{"sched_process_exec", func(raw bool) asm.Instructions { return execProg(o, raw, t.tasks, t.stats) }, true},
		{"sched_process_fork", func(raw bool) asm.Instructions { return forkProg(o, raw, t.tasks, t.stats) }, false},
		{"cgroup_attach_task", func(raw bool) asm.Instructions { return attachProg(o, raw, t.tasks, t.stats) }, false},
		{"cgroup_mkdir", func(raw bool) asm.Instructions {
			if raw {
				return nil
			}
			return mkdirProg(o, t.paths, t.scratch, t.stats)
		}, false},
	}
	for _, h := range hooks {
		how, herr := t.attach(h.name, h.gen)
		if herr != nil {
			if h.req {
				return nil, fmt.Errorf("%w: %w", errNoExecHook, herr)
			}
			t.missing = append(t.missing, h.name+": "+herr.Error())
			continue
		}
		t.hooks = append(t.hooks, h.name+":"+how)
	}
	return t, nil
}

// attach tries tp_btf first, then a raw tracepoint.
func (t *tracker) attach(name string, gen func(raw bool) asm.Instructions) (string, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "sw_" + shortName(name), Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
		AttachTo: name, Instructions: gen(false), License: "Dual MIT/GPL",
	})
	if err == nil {
		l, lerr := link.AttachTracing(link.TracingOptions{Program: prog})
		if lerr == nil {
			t.progs, t.links = append(t.progs, prog), append(t.links, l)
			return "tp_btf", nil
		}
		prog.Close()
		err = lerr
	}
	btfErr := err
	insns := gen(true)
	if insns == nil {
		return "", fmt.Errorf("tp_btf: %w", btfErr)
	}
	prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "sw_" + shortName(name), Type: ebpf.RawTracepoint, Instructions: insns, License: "Dual MIT/GPL",
	})
	if err != nil {
		return "", fmt.Errorf("tp_btf: %v; raw_tp: %w", btfErr, err)
	}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: name, Program: prog})
	if err != nil {
		prog.Close()
		return "", fmt.Errorf("tp_btf: %v; raw_tp: %w", btfErr, err)
	}
	t.progs, t.links = append(t.progs, prog), append(t.links, l)
	return "raw_tp", nil
}

func shortName(s string) string {
	if len(s) > 12 {
		return s[len(s)-12:]
	}
	return s
}

// stat sums a per-CPU counter.
func (t *tracker) stat(idx uint32) uint64 {
	var vals []uint64
	if err := t.stats.Lookup(idx, &vals); err != nil {
		return 0
	}
	var n uint64
	for _, v := range vals {
		n += v
	}
	return n
}

func (t *tracker) close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	for _, p := range t.progs {
		errs = append(errs, p.Close())
	}
	for _, m := range []*ebpf.Map{t.tasks, t.paths, t.scratch, t.stats} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}
