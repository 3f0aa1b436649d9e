package observe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// ErrNotSupported means the observer cannot run on this machine (another
// architecture than amd64, no BTF, or a kernel that refuses the program);
// callers fall back to another method and say why.
var ErrNotSupported = errors.New("observe: eBPF observation not supported here")

// Options configure an Observer.
type Options struct {
	// Count names the calls (x86_64 names) to count besides the decoded
	// ones, e.g. sethostname, syslog, the @clock calls. Names this ABI
	// does not have are ignored.
	Count []string
	// MaxEvents bounds the distinct (cgroup, kind, call, value) events
	// (default 16384); more are counted in Stats.EventsLost.
	MaxEvents uint32
	// MaxProcs bounds the distinct (cgroup, process) pairs (default
	// 65536); more are counted in Stats.ProcsLost.
	MaxProcs uint32
	// MaxCgroups bounds the cgroups Add accepts (default 64).
	MaxCgroups uint32
}

// Observer owns the program, its link and its maps.
type Observer struct {
	mu       sync.Mutex
	m        maps
	prog     *ebpf.Program
	link     link.Link
	levels   uint64
	maxCgrps uint32
	added    map[uint64]string
}

// progName is the kernel-visible name of the program (and the prefix of the
// maps'), for listings such as bpftool's.
const progName = "sw_learn"

// New loads the program and attaches it to sys_enter. The program records
// nothing until a cgroup is added.
func New(opts Options) (_ *Observer, err error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("%w: %s (the program reads x86_64 registers)", ErrNotSupported, runtime.GOARCH)
	}
	if opts.MaxEvents == 0 {
		opts.MaxEvents = 16384
	}
	if opts.MaxProcs == 0 {
		opts.MaxProcs = 65536
	}
	if opts.MaxCgroups == 0 {
		opts.MaxCgroups = 64
	}
	o, err := loadOffsets()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	ob := &Observer{maxCgrps: opts.MaxCgroups, added: map[uint64]string{}}
	defer func() {
		if err != nil {
			ob.Close()
		}
	}()
	specs := []struct {
		dst  **ebpf.Map
		spec ebpf.MapSpec
	}{
		{&ob.m.cfg, ebpf.MapSpec{Name: progName + "_cfg", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: cfgSize, MaxEntries: 1}},
		{&ob.m.roots, ebpf.MapSpec{Name: progName + "_cg", Type: ebpf.PerCPUHash, KeySize: 8, ValueSize: stateSize, MaxEntries: opts.MaxCgroups}},
		{&ob.m.events, ebpf.MapSpec{Name: progName + "_ev", Type: ebpf.PerCPUHash, KeySize: 16, ValueSize: 8, MaxEntries: opts.MaxEvents}},
		{&ob.m.procs, ebpf.MapSpec{Name: progName + "_pr", Type: ebpf.Hash, KeySize: 16, ValueSize: 8, MaxEntries: opts.MaxProcs}},
		{&ob.m.stats, ebpf.MapSpec{Name: progName + "_st", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: statCount}},
	}
	for _, s := range specs {
		if *s.dst, err = ebpf.NewMap(&s.spec); err != nil {
			return nil, fmt.Errorf("observe: map %s: %w", s.spec.Name, err)
		}
	}
	var counted []int
	for _, n := range opts.Count {
		if nr, ok := syscalls.Number(syscalls.ArchX86_64, n); ok {
			counted = append(counted, nr)
		}
	}
	sort.Ints(counted)
	ob.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: progName, Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
		AttachTo: "sys_enter", Instructions: program(o, &ob.m, counted), License: "Dual MIT/GPL",
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) && os.Getenv("OBSERVE_VERIFIER_LOG") != "" {
			fmt.Fprintf(os.Stderr, "%+v\n", ve)
		}
		return nil, fmt.Errorf("%w: load sys_enter program: %w", ErrNotSupported, err)
	}
	if ob.link, err = link.AttachTracing(link.TracingOptions{Program: ob.prog}); err != nil {
		return nil, fmt.Errorf("%w: attach sys_enter (tp_btf): %w", ErrNotSupported, err)
	}
	return ob, nil
}

// Cgroup2Mount returns where the cgroup2 hierarchy is mounted
// (/sys/fs/cgroup on a pure cgroup2 host, /sys/fs/cgroup/unified on a
// hybrid one), read from /proc/self/mountinfo.
func Cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("observe: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		for i, w := range fields {
			if w == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	return "", errors.New("observe: no cgroup2 hierarchy mounted")
}

// CgroupID returns the cgroup2 id of a directory of the cgroup2 hierarchy
// (the inode number of the directory, what bpf_get_current_cgroup_id
// returns) and its level below the mount (the root is level 0).
func CgroupID(mount, dir string) (id uint64, level int, err error) {
	rel, err := filepath.Rel(mount, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return 0, 0, fmt.Errorf("observe: %s is not below the cgroup2 mount %s", dir, mount)
	}
	if rel != "." {
		level = len(strings.Split(rel, "/"))
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("observe: cgroup %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return 0, 0, fmt.Errorf("observe: %s is not a cgroup: %w", dir, err)
	}
	return st.Ino, level, nil
}

// initCgroupNS is the inode of the initial cgroup namespace
// (PROC_CGROUP_INIT_INO, include/linux/proc_ns.h).
const initCgroupNS = 0xEFFFFFFB

// hostCgroupNS refuses a process in another cgroup namespace than the
// host's: its cgroup2 mount's root is the namespace's, so the levels below
// it are not the kernel's, which the program checks (the unit's calls
// would all be missed; seen: 0 calls of a busy cgroup).
func hostCgroupNS() error {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/cgroup", &st); err != nil {
		return fmt.Errorf("observe: cannot tell this process's cgroup namespace: %w", err)
	}
	if st.Ino != initCgroupNS {
		return fmt.Errorf("observe: this process runs in a cgroup namespace of its own (/proc/self/ns/cgroup is not the host's): the cgroup levels it sees are not the kernel's and the program would miss the unit's calls; learn from the host's cgroup namespace")
	}
	return nil
}

// Add starts recording the calls of a cgroup2 cgroup (a directory below
// mount) and its descendants. It returns the cgroup's id, the key of its
// Observation.
func (o *Observer) Add(mount, dir string) (uint64, error) {
	id, level, err := CgroupID(mount, dir)
	if err != nil {
		return 0, err
	}
	if level >= maxLevels {
		return 0, fmt.Errorf("observe: %s is %d levels deep; at most %d are checked", dir, level, maxLevels-1)
	}
	if err := hostCgroupNS(); err != nil {
		return 0, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.added[id]; ok {
		return id, nil
	}
	if uint32(len(o.added)) >= o.maxCgrps {
		return 0, fmt.Errorf("observe: at most %d cgroups", o.maxCgrps)
	}
	zero := make([][stateSize]byte, ebpf.MustPossibleCPU())
	if err := o.m.roots.Update(id, zero, ebpf.UpdateNoExist); err != nil {
		return 0, fmt.Errorf("observe: add cgroup %s: %w", dir, err)
	}
	o.levels |= 1 << level
	// Every CPU's copy gets the levels; the host's calls counted so far
	// are written back (those counted meanwhile are lost: a lower bound).
	var cfg []cfgValue
	if err := o.m.cfg.Lookup(uint32(0), &cfg); err != nil {
		return 0, fmt.Errorf("observe: add cgroup %s: %w", dir, err)
	}
	for i := range cfg {
		cfg[i].Levels = o.levels
	}
	if err := o.m.cfg.Update(uint32(0), cfg, ebpf.UpdateAny); err != nil {
		return 0, fmt.Errorf("observe: add cgroup %s: %w", dir, err)
	}
	o.added[id] = dir
	return id, nil
}

// Event is one kind of recorded argument, with how often it was seen.
type Event struct {
	Kind Kind `json:"kind"`
	// Syscall is the x86_64 (or x32) call's name.
	Syscall string `json:"syscall"`
	// Value is the decoded argument (see Kind).
	Value uint32 `json:"value"`
	Count uint64 `json:"count"`
}

// Observation is what one added cgroup and its descendants did.
type Observation struct {
	// Cgroup is the directory given to Add.
	Cgroup string `json:"cgroup"`
	// Calls is the number of system calls seen.
	Calls uint64 `json:"calls"`
	// Processes is the number of distinct processes (tgids) seen.
	Processes int `json:"processes"`
	// Syscalls holds the names seen per ABI ("x86_64", "i386", "x32"),
	// sorted; a number the table has no name for is "nr:N".
	Syscalls map[string][]string `json:"syscalls"`
	// Events are the decoded arguments and counted calls, sorted.
	Events []Event `json:"events"`
}

// Stats are the observer's loss counters, and how many calls of the
// whole host it ran for.
type Stats struct {
	// EventsLost counts events not recorded because the events map was
	// full.
	EventsLost uint64 `json:"events_lost"`
	// ProcsLost counts processes not recorded because the processes map
	// was full (Processes is then a lower bound).
	ProcsLost uint64 `json:"processes_lost"`
	// OutOfRange counts calls whose number was beyond the bitmap (1024)
	// or invalid; they are in Calls but in no ABI's list.
	OutOfRange uint64 `json:"out_of_range"`
	// HostCalls counts the system calls of the whole host, in the added
	// cgroups or not, that the kernel ran the program for (a lower
	// bound): not zero shows the program was attached and run, whatever
	// the added cgroups did.
	HostCalls uint64 `json:"host_calls"`
}

var abiArch = [numABIs]syscalls.Arch{syscalls.ArchX86_64, syscalls.ArchI386, syscalls.ArchX32}

// Snapshot reads what was recorded so far, per cgroup id.
func (o *Observer) Snapshot() (map[uint64]*Observation, Stats, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[uint64]*Observation{}
	for id, dir := range o.added {
		var per [][stateSize]byte
		if err := o.m.roots.Lookup(id, &per); err != nil {
			return nil, Stats{}, fmt.Errorf("observe: read cgroup %s: %w", dir, err)
		}
		ob := &Observation{Cgroup: dir, Syscalls: map[string][]string{}}
		var bits [numABIs * bitmapSize]byte
		for _, v := range per {
			ob.Calls += le64(v[0:8])
			for i := range bits {
				bits[i] |= v[16+i]
			}
		}
		for abi := 0; abi < numABIs; abi++ {
			var names []string
			for nr := 0; nr < maxNr; nr++ {
				if bits[abi*bitmapSize+nr/8]&(1<<(nr%8)) == 0 {
					continue
				}
				name, ok := syscalls.Name(abiArch[abi], nr)
				if !ok {
					name = fmt.Sprintf("nr:%d", nr)
				}
				names = append(names, name)
			}
			if len(names) > 0 {
				sort.Strings(names)
				ob.Syscalls[abiArch[abi].String()] = names
			}
		}
		out[id] = ob
	}
	var key [16]byte
	var counts []uint64
	it := o.m.events.Iterate()
	for it.Next(&key, &counts) {
		ob := out[le64(key[0:8])]
		if ob == nil {
			continue
		}
		var n uint64
		for _, c := range counts {
			n += c
		}
		kind := Kind(uint16(key[8]) | uint16(key[9])<<8)
		nr := int(uint16(key[10]) | uint16(key[11])<<8)
		name, ok := syscalls.Name(syscalls.ArchX86_64, nr)
		if !ok {
			name = fmt.Sprintf("nr:%d", nr)
		}
		ob.Events = append(ob.Events, Event{Kind: kind, Syscall: name, Value: binary.LittleEndian.Uint32(key[12:16]), Count: n})
	}
	if err := it.Err(); err != nil {
		return nil, Stats{}, fmt.Errorf("observe: read events: %w", err)
	}
	var pkey [16]byte
	var pval uint64
	pit := o.m.procs.Iterate()
	for pit.Next(&pkey, &pval) {
		if ob := out[le64(pkey[0:8])]; ob != nil {
			ob.Processes++
		}
	}
	if err := pit.Err(); err != nil {
		return nil, Stats{}, fmt.Errorf("observe: read processes: %w", err)
	}
	for _, ob := range out {
		sort.Slice(ob.Events, func(i, j int) bool {
			a, b := ob.Events[i], ob.Events[j]
			if a.Kind != b.Kind {
				return a.Kind < b.Kind
			}
			if a.Syscall != b.Syscall {
				return a.Syscall < b.Syscall
			}
			return a.Value < b.Value
		})
	}
	st := Stats{EventsLost: o.stat(statEventsLost), ProcsLost: o.stat(statProcsLost), OutOfRange: o.stat(statOutOfRange)}
	var cfg []cfgValue
	if err := o.m.cfg.Lookup(uint32(0), &cfg); err != nil {
		return nil, Stats{}, fmt.Errorf("observe: read the host's calls: %w", err)
	}
	for _, c := range cfg {
		st.HostCalls += c.HostCalls
	}
	return out, st, nil
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

func (o *Observer) stat(idx uint32) uint64 {
	var vals []uint64
	if err := o.m.stats.Lookup(idx, &vals); err != nil {
		return 0
	}
	var n uint64
	for _, v := range vals {
		n += v
	}
	return n
}

// IDs returns the kernel ids of the program, its link and its maps, for
// checking that Close (or the process's death) freed them.
func (o *Observer) IDs() (prog uint32, lnk uint32, mapIDs []uint32, err error) {
	info, err := o.prog.Info()
	if err != nil {
		return 0, 0, nil, err
	}
	pid, _ := info.ID()
	li, err := o.link.Info()
	if err != nil {
		return 0, 0, nil, err
	}
	for _, m := range []*ebpf.Map{o.m.cfg, o.m.roots, o.m.events, o.m.procs, o.m.stats} {
		mi, err := m.Info()
		if err != nil {
			return 0, 0, nil, err
		}
		id, _ := mi.ID()
		mapIDs = append(mapIDs, uint32(id))
	}
	return uint32(pid), uint32(li.ID), mapIDs, nil
}

// Close detaches the program and frees its maps. It is safe to call more
// than once.
func (o *Observer) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	if o.link != nil {
		errs = append(errs, o.link.Close())
		o.link = nil
	}
	if o.prog != nil {
		errs = append(errs, o.prog.Close())
		o.prog = nil
	}
	for _, m := range []**ebpf.Map{&o.m.cfg, &o.m.roots, &o.m.events, &o.m.procs, &o.m.stats} {
		if *m != nil {
			errs = append(errs, (*m).Close())
			*m = nil
		}
	}
	return errors.Join(errs...)
}
