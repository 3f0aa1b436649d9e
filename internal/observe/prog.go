package observe

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/seccompwatch/seccompwatch/internal/kbtf"
)

// Layout of a value of the roots map (per CPU, little-endian):
//
//	0   calls      uint64  system calls seen
//	8   lastTgid   uint64  the tgid of the last call on this CPU (so that
//	                       the processes map is touched only on a change)
//	16  bits[abi]  3 × 128 bytes: one bit per call number < 1024, per ABI
const (
	maxNr      = 1024
	bitmapSize = maxNr / 8
	numABIs    = 3
	stateSize  = 16 + numABIs*bitmapSize
	// maxLevels bounds the cgroup depth the program checks (levels 0–30:
	// the mask is a 31-bit immediate).
	maxLevels = 31
)

// ABI indexes of the bitmaps.
const (
	abiNative = 0
	abiI386   = 1
	abiX32    = 2
)

// cfgValue is the value of the cfg map (per CPU): the levels that hold an
// added cgroup (bit l: level l), set by Add on every CPU, and the calls of
// the whole host the program ran for on that CPU.
type cfgValue struct {
	Levels    uint64
	HostCalls uint64
}

const cfgSize = 16

// Indexes of the stats per-CPU array.
const (
	statEventsLost = iota
	statProcsLost
	statOutOfRange
	statCount
)

// Kind is what an event records. An event is (cgroup, kind, call number,
// value) with a count.
type Kind uint16

// Event kinds; Value's meaning is per kind.
const (
	// KindCall counts a call named in Options.Count; Value is 0.
	KindCall Kind = 1
	// KindFamily is a socket() call; Value is the address family.
	KindFamily Kind = 2
	// KindWriteExec is an mmap with PROT_WRITE and PROT_EXEC; Value is the
	// prot argument.
	KindWriteExec Kind = 3
	// KindExec is an mprotect or pkey_mprotect with PROT_EXEC (Value: the
	// prot) or a shmat with SHM_EXEC (Value: the shmflg).
	KindExec Kind = 4
	// KindNamespace is an unshare, clone or clone3 with CLONE_NEW* flags
	// (Value: the flags masked to CLONE_NEW*; ValueUnreadable when clone3's
	// struct could not be read), or a setns (Value: nstype, 0 for any).
	KindNamespace Kind = 5
	// KindPersonality is a personality() call; Value is the persona.
	KindPersonality Kind = 6
	// KindScheduler is a sched_setscheduler call; Value is the policy.
	KindScheduler Kind = 7
	// KindSUIDSGID is a chmod-family, mkdir, mknod or creating open call
	// whose mode has S_ISUID or S_ISGID; Value is mode & 06000.
	KindSUIDSGID Kind = 8
)

// ValueUnreadable is the value of a clone3 event whose struct clone_args
// could not be read from the caller's memory.
const ValueUnreadable = 0xffffffff

// nsMask is every CLONE_NEW* flag (CLONE_NEWTIME, NS, CGROUP, UTS, IPC,
// USER, PID, NET).
const nsMask = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

// Native x86_64 call numbers the program decodes (arch/x86/entry/syscalls/
// syscall_64.tbl).
const (
	nrOpen          = 2
	nrMmap          = 9
	nrMprotect      = 10
	nrShmat         = 30
	nrSocket        = 41
	nrClone         = 56
	nrMkdir         = 83
	nrCreat         = 85
	nrChmod         = 90
	nrFchmod        = 91
	nrMknod         = 133
	nrPersonality   = 135
	nrSchedSetsched = 144
	nrOpenat        = 257
	nrMkdirat       = 258
	nrMknodat       = 259
	nrFchmodat      = 268
	nrUnshare       = 272
	nrSetns         = 308
	nrPkeyMprotect  = 329
	nrClone3        = 435
	nrFchmodat2     = 452
)

// Decoded lists the calls whose arguments the program reads, by name:
// what a consumer may rely on to tell an allowed use from a denied one.
var Decoded = []string{
	"chmod", "clone", "clone3", "creat", "fchmod", "fchmodat", "fchmodat2", "mkdir", "mkdirat",
	"mknod", "mknodat", "mmap", "mprotect", "open", "openat", "personality", "pkey_mprotect",
	"sched_setscheduler", "setns", "shmat", "socket", "unshare",
}

// kernelOffsets are the byte offsets of kernel struct fields the program
// reads, from the running kernel's BTF.
type kernelOffsets struct {
	// regs: the x86_64 syscall argument registers di, si, dx, r10.
	di, si, dx, r10 int16
	// taskStatus is task_struct.thread_info.status (TS_COMPAT).
	taskStatus int16
}

const tsCompat = 0x0002 // arch/x86/include/asm/thread_info.h

func loadOffsets() (kernelOffsets, error) {
	var o kernelOffsets
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return o, fmt.Errorf("observe: kernel BTF: %w", err)
	}
	for _, f := range []struct {
		dst       *int16
		typ, name string
	}{
		{&o.di, "pt_regs", "di"}, {&o.si, "pt_regs", "si"}, {&o.dx, "pt_regs", "dx"}, {&o.r10, "pt_regs", "r10"},
	} {
		if *f.dst, err = kbtf.MemberOffset(spec, f.typ, f.name); err != nil {
			return o, fmt.Errorf("observe: %w", err)
		}
	}
	ti, err := kbtf.MemberOffset(spec, "task_struct", "thread_info")
	if err != nil {
		return o, fmt.Errorf("observe: %w", err)
	}
	st, err := kbtf.MemberOffset(spec, "thread_info", "status")
	if err != nil {
		return o, fmt.Errorf("observe: %w", err)
	}
	o.taskStatus = ti + st
	return o, nil
}

// maps are the program's maps.
type maps struct {
	cfg, roots, events, procs, stats *ebpf.Map
}

// Stack layout (offsets from R10):
//
//	-8   the matched root's cgroup id
//	-16  scratch key (u32 0 for cfg and stats)
//	-48  event key: cgid u64, kind|nr<<16 u32, value u32
//	-56  event value (1)
//	-72  procs key: cgid u64, tgid u32, pad u32
//	-80  procs value (0)
//	-88  clone_args.flags read from user memory
//
// Registers after the match: R6 ctx, R8 the root's state, R9 the call
// number, R7 a decoded value.
type builder struct {
	insns asm.Instructions
	n     int
}

func (b *builder) add(ins ...asm.Instruction) { b.insns = append(b.insns, ins...) }

func (b *builder) label() string {
	b.n++
	return fmt.Sprintf("l%d", b.n)
}

// count increments stats[idx] (per CPU) and falls through.
func (b *builder) count(m *maps, idx int32) {
	done := b.label()
	b.add(
		asm.StoreImm(asm.RFP, -16, int64(idx), asm.Word),
		asm.LoadMapPtr(asm.R1, m.stats.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	)
}

// event records (root, kind, nr, R7) and exits.
func (b *builder) event(m *maps, kind Kind, nr int) {
	inc, retry := b.label(), b.label()
	b.add(
		asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord),
		asm.StoreMem(asm.RFP, -48, asm.R1, asm.DWord),
		asm.StoreImm(asm.RFP, -40, int64(uint32(kind)|uint32(nr)<<16), asm.Word),
		asm.StoreMem(asm.RFP, -36, asm.R7, asm.Word),
		asm.LoadMapPtr(asm.R1, m.events.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -48),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, inc),
		asm.StoreImm(asm.RFP, -56, 1, asm.Word),
		asm.StoreImm(asm.RFP, -52, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.events.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -48),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -56),
		asm.Mov.Imm(asm.R4, 1), // BPF_NOEXIST
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		// Another CPU may have made the element since the lookup.
		asm.LoadMapPtr(asm.R1, m.events.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -48),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, inc),
		asm.Ja.Label(retry),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord).WithSymbol(inc),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Ja.Label("exit"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(retry),
	)
	b.count(m, statEventsLost)
	b.add(asm.Ja.Label("exit"))
}

// arg loads the syscall argument at pt_regs offset off into R7.
func (b *builder) arg(off int16) {
	b.add(
		asm.LoadMem(asm.R1, asm.R6, 0, asm.DWord), // struct pt_regs *
		asm.LoadMem(asm.R7, asm.R1, off, asm.DWord),
	)
}

// program builds the sys_enter program: sys_enter(struct pt_regs *regs,
// long id). counted are the native numbers of the calls to count.
func program(o kernelOffsets, m *maps, counted []int) asm.Instructions {
	b := &builder{}
	b.add(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -16, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.cfg.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		// Every call of the host: counted (this CPU's copy), then the
		// levels.
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord),
		asm.JEq.Imm(asm.R7, 0, "exit"),
	)
	// One check per level that holds an added cgroup: the task's ancestor
	// at that level (itself at its own level) is looked up in roots.
	for l := 0; l < maxLevels; l++ {
		next := fmt.Sprintf("lvl%d", l+1)
		do := b.label()
		first := asm.JSet.Imm(asm.R7, int32(1)<<l, do)
		if l == 0 {
			b.add(first)
		} else {
			b.add(first.WithSymbol(fmt.Sprintf("lvl%d", l)))
		}
		b.add(
			asm.Ja.Label(next),
			asm.Mov.Imm(asm.R1, int32(l)).WithSymbol(do),
			asm.FnGetCurrentAncestorCgroupId.Call(),
			asm.JEq.Imm(asm.R0, 0, next),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.LoadMapPtr(asm.R1, m.roots.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, "found"),
		)
	}
	b.add(
		asm.Ja.Label("exit").WithSymbol(fmt.Sprintf("lvl%d", maxLevels)),
		asm.Mov.Reg(asm.R8, asm.R0).WithSymbol("found"),
		asm.LoadMem(asm.R1, asm.R8, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R8, 0, asm.R1, asm.DWord),
		// A process not seen last on this CPU: note it in procs.
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.LoadMem(asm.R1, asm.R8, 8, asm.DWord),
		asm.JEq.Reg(asm.R1, asm.R0, "abi"),
		asm.StoreMem(asm.R8, 8, asm.R0, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord),
		asm.StoreMem(asm.RFP, -72, asm.R1, asm.DWord),
		asm.StoreMem(asm.RFP, -64, asm.R0, asm.Word),
		asm.StoreImm(asm.RFP, -60, 0, asm.Word),
		asm.StoreImm(asm.RFP, -80, 0, asm.Word),
		asm.StoreImm(asm.RFP, -76, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.procs.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -72),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -80),
		asm.Mov.Imm(asm.R4, 1), // BPF_NOEXIST
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "abi"),
		asm.JEq.Imm(asm.R0, -17, "abi"), // EEXIST: known process
	)
	b.count(m, statProcsLost)
	b.add(
		// ABI: TS_COMPAT in the task's thread_info.status is an i386
		// call; the x32 bit in the number an x32 one.
		asm.FnGetCurrentTaskBtf.Call().WithSymbol("abi"),
		asm.LoadMem(asm.R1, asm.R0, o.taskStatus, asm.Word),
		asm.LoadMem(asm.R9, asm.R6, 8, asm.DWord), // id
		asm.Mov.Imm(asm.R2, abiI386*bitmapSize),
		asm.JSet.Imm(asm.R1, tsCompat, "bits"),
		asm.Mov.Imm(asm.R2, abiNative*bitmapSize),
		asm.JSet.Imm(asm.R9, 0x40000000, "x32"),
		asm.Ja.Label("bits"),
		asm.Mov.Imm(asm.R2, abiX32*bitmapSize).WithSymbol("x32"),
		asm.And.Imm(asm.R9, 0x3fffffff),
		asm.JGE.Imm(asm.R9, maxNr, "range").WithSymbol("bits"),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.RSh.Imm(asm.R1, 3),
		asm.And.Imm(asm.R1, bitmapSize-1),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.Add.Reg(asm.R1, asm.R8),
		asm.LoadMem(asm.R3, asm.R1, 16, asm.Byte),
		asm.Mov.Reg(asm.R4, asm.R9),
		asm.And.Imm(asm.R4, 7),
		asm.Mov.Imm(asm.R5, 1),
		asm.LSh.Reg(asm.R5, asm.R4),
		asm.Or.Reg(asm.R3, asm.R5),
		asm.StoreMem(asm.R1, 16, asm.R3, asm.Byte),
		// Arguments: native and x32 calls only.
		asm.JEq.Imm(asm.R2, abiI386*bitmapSize, "exit"),
		asm.Mov.Imm(asm.R7, 0),
	)
	type dec struct {
		nr   int
		emit func()
	}
	// masked records the argument at off masked with mask when the result
	// is all (all != 0) or not zero (all == 0).
	// With full, the value recorded is the whole argument (a prot), else
	// the masked one.
	test := func(nr int, kind Kind, off int16, mask int32, all int32, full bool) func() {
		return func() {
			b.arg(off)
			b.add(asm.Mov.Reg(asm.R1, asm.R7), asm.And.Imm(asm.R1, mask))
			if all != 0 {
				b.add(asm.JNE.Imm(asm.R1, all, "exit"))
			} else {
				b.add(asm.JEq.Imm(asm.R1, 0, "exit"))
			}
			if !full {
				b.add(asm.Mov.Reg(asm.R7, asm.R1))
			}
			b.event(m, kind, nr)
		}
	}
	masked := func(nr int, kind Kind, off int16, mask int32, all int32) func() {
		return test(nr, kind, off, mask, all, false)
	}
	prot := func(nr int, kind Kind, off int16, mask int32, all int32) func() {
		return test(nr, kind, off, mask, all, true)
	}
	plain := func(nr int, kind Kind, off int16) func() {
		return func() {
			b.arg(off)
			b.event(m, kind, nr)
		}
	}
	suid := func(nr int, off int16) func() { return masked(nr, KindSUIDSGID, off, 0o6000, 0) }
	creating := func(nr int, flagsOff, modeOff int16) func() {
		return func() {
			lbl := b.label()
			b.arg(flagsOff)
			b.add(
				asm.JSet.Imm(asm.R7, 0o100, lbl), // O_CREAT
				asm.Ja.Label("exit"),
				asm.Mov.Imm(asm.R7, 0).WithSymbol(lbl),
			)
			masked(nr, KindSUIDSGID, modeOff, 0o6000, 0)()
		}
	}
	decs := []dec{
		{nrSocket, plain(nrSocket, KindFamily, o.di)},
		{nrMmap, prot(nrMmap, KindWriteExec, o.dx, 0x6, 0x6)},
		{nrMprotect, prot(nrMprotect, KindExec, o.dx, 0x4, 0)},
		{nrPkeyMprotect, prot(nrPkeyMprotect, KindExec, o.dx, 0x4, 0)},
		{nrShmat, prot(nrShmat, KindExec, o.dx, 0o100000, 0)},
		{nrUnshare, masked(nrUnshare, KindNamespace, o.di, nsMask, 0)},
		{nrClone, masked(nrClone, KindNamespace, o.di, nsMask, 0)},
		{nrSetns, plain(nrSetns, KindNamespace, o.si)},
		{nrClone3, func() {
			b.arg(o.di)
			b.add(
				asm.StoreImm(asm.RFP, -88, 0, asm.Word),
				asm.StoreImm(asm.RFP, -84, 0, asm.Word),
				asm.Mov.Reg(asm.R1, asm.RFP),
				asm.Add.Imm(asm.R1, -88),
				asm.Mov.Imm(asm.R2, 8),
				asm.Mov.Reg(asm.R3, asm.R7),
				asm.FnProbeReadUser.Call(),
				asm.Mov.Imm32(asm.R7, -1), // ValueUnreadable
				asm.JNE.Imm(asm.R0, 0, "c3rec"),
				asm.LoadMem(asm.R7, asm.RFP, -88, asm.DWord),
				asm.And.Imm(asm.R7, nsMask),
				asm.JEq.Imm(asm.R7, 0, "exit"),
				asm.Mov.Reg(asm.R7, asm.R7).WithSymbol("c3rec"),
			)
			b.event(m, KindNamespace, nrClone3)
		}},
		{nrPersonality, plain(nrPersonality, KindPersonality, o.di)},
		{nrSchedSetsched, plain(nrSchedSetsched, KindScheduler, o.si)},
		{nrChmod, suid(nrChmod, o.si)},
		{nrFchmod, suid(nrFchmod, o.si)},
		{nrFchmodat, suid(nrFchmodat, o.dx)},
		{nrFchmodat2, suid(nrFchmodat2, o.dx)},
		{nrMkdir, suid(nrMkdir, o.si)},
		{nrMkdirat, suid(nrMkdirat, o.dx)},
		{nrMknod, suid(nrMknod, o.si)},
		{nrMknodat, suid(nrMknodat, o.dx)},
		{nrCreat, suid(nrCreat, o.si)},
		{nrOpen, creating(nrOpen, o.si, o.dx)},
		{nrOpenat, creating(nrOpenat, o.dx, o.r10)},
	}
	decoded := map[int]bool{}
	for _, d := range decs {
		decoded[d.nr] = true
	}
	var counts []int
	for _, nr := range counted {
		if !decoded[nr] {
			counts = append(counts, nr)
			decoded[nr] = true
		}
	}
	// Dispatch on the number.
	for i, d := range decs {
		b.add(asm.JEq.Imm(asm.R9, int32(d.nr), fmt.Sprintf("dec%d", i)))
	}
	for _, nr := range counts {
		b.add(asm.JEq.Imm(asm.R9, int32(nr), fmt.Sprintf("cnt%d", nr)))
	}
	b.add(asm.Ja.Label("exit"))
	for i, d := range decs {
		start := len(b.insns)
		d.emit()
		b.insns[start] = b.insns[start].WithSymbol(fmt.Sprintf("dec%d", i))
	}
	for _, nr := range counts {
		start := len(b.insns)
		b.event(m, KindCall, nr)
		b.insns[start] = b.insns[start].WithSymbol(fmt.Sprintf("cnt%d", nr))
	}
	b.add(asm.Mov.Imm(asm.R0, 0).WithSymbol("range"))
	b.count(m, statOutOfRange)
	b.add(asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"), asm.Return())
	return b.insns
}
