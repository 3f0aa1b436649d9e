package observe

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// countedForTest are the calls the ground-truth program makes whose
// arguments no directive looks at (every call is denied).
var countedForTest = []string{"sethostname", "setdomainname", "syslog", "adjtimex", "clock_settime", "init_module", "iopl", "ioperm"}

const minus1 = ^uint64(0)
const atFdcwd = ^uint64(99) // -100

// groundTruth is what the learned program does, and what it must give
// back.
var groundTruth = []rawCall{
	{nr: 41, args: []uint64{16, 0xfff, 0}},              // socket(AF_NETLINK, bad type)
	{nr: 41, args: []uint64{2, 0xfff, 0}},               // socket(AF_INET, bad type)
	{nr: 41, args: []uint64{2, 0xfff, 0}},               // again
	{nr: 9, args: []uint64{0, 4096, 7, 0}},              // mmap(RWX, flags 0: EINVAL)
	{nr: 9, args: []uint64{0, 4096, 3, 0}},              // mmap(RW): not an event
	{nr: 10, args: []uint64{0, 0, 5}},                   // mprotect(R|X)
	{nr: 10, args: []uint64{0, 0, 3}},                   // mprotect(RW): not an event
	{nr: 329, args: []uint64{0, 0, 4, minus1}},          // pkey_mprotect(X)
	{nr: 30, args: []uint64{minus1, 0, 0o100000}},       // shmat(SHM_EXEC)
	{nr: 272, args: []uint64{0x04000000}},               // unshare(CLONE_NEWUTS)
	{nr: 272, args: []uint64{0x400}},                    // unshare(CLONE_FILES): not an event
	{nr: 56, args: []uint64{0x20000000 | 0x10000}},      // clone(NEWPID|THREAD: EINVAL)
	{nr: 435, args: []uint64{rawCloneArgs, 8}},          // clone3(size 8: EINVAL)
	{nr: 308, args: []uint64{minus1, 0x40000000}},       // setns(-1, CLONE_NEWNET)
	{nr: 135, args: []uint64{0xffffffff}},               // personality(query)
	{nr: 135, args: []uint64{8}},                        // personality(PER_LINUX32)
	{nr: 144, args: []uint64{0, 1, 0}},                  // sched_setscheduler(SCHED_FIFO, NULL)
	{nr: 90, args: []uint64{0, 0o4755}},                 // chmod
	{nr: 91, args: []uint64{minus1, 0o2755}},            // fchmod
	{nr: 268, args: []uint64{atFdcwd, 0, 0o6000}},       // fchmodat
	{nr: 83, args: []uint64{0, 0o1777}},                 // mkdir (sticky only): not an event
	{nr: 258, args: []uint64{minus1, 0, 0o2777}},        // mkdirat
	{nr: 133, args: []uint64{0, 0o104000, 0}},           // mknod(S_IFREG|S_ISUID)
	{nr: 2, args: []uint64{0, 0o101, 0o4644}},           // open(O_CREAT|O_WRONLY)
	{nr: 257, args: []uint64{atFdcwd, 0, 0, 0o4644}},    // openat without O_CREAT: not an event
	{nr: 257, args: []uint64{atFdcwd, 0, 0o100, 0o644}}, // openat O_CREAT, plain mode: not an event
	{nr: 85, args: []uint64{0, 0o6644}},                 // creat
	{nr: 170, args: []uint64{0, minus1}},                // sethostname(len -1: EINVAL)
	{nr: 171, args: []uint64{0, minus1}},                // setdomainname
	{nr: 103, args: []uint64{10, 0, 0}},                 // syslog(SIZE_BUFFER)
	{nr: 159, args: []uint64{0}},                        // adjtimex(NULL: EFAULT)
	{nr: 227, args: []uint64{minus1, 0}},                // clock_settime(-1: EINVAL)
	{nr: 175, args: []uint64{0, 0, 0}},                  // init_module(len 0)
	{nr: 172, args: []uint64{0}},                        // iopl(0)
	{nr: 173, args: []uint64{0, 0, 0}},                  // ioperm(0, 0, 0)
	{nr: 20, i386: true},                                // i386 getpid via int 0x80
}

const cloneArgsFlags = 0x08000000 | 0x40000000 | 0x100 // NEWIPC|NEWNET|CLONE_VM

var wantEvents = []Event{
	{KindCall, "adjtimex", 0, 1},
	{KindCall, "clock_settime", 0, 1},
	{KindCall, "init_module", 0, 1},
	{KindCall, "ioperm", 0, 1},
	{KindCall, "iopl", 0, 1},
	{KindCall, "sethostname", 0, 1},
	{KindCall, "setdomainname", 0, 1},
	{KindCall, "syslog", 0, 1},
	{KindFamily, "socket", 2, 2},
	{KindFamily, "socket", 16, 1},
	{KindWriteExec, "mmap", 7, 1},
	{KindExec, "mprotect", 5, 1},
	{KindExec, "pkey_mprotect", 4, 1},
	{KindExec, "shmat", 0o100000, 1},
	{KindNamespace, "clone", 0x20000000, 1},
	{KindNamespace, "clone3", 0x08000000 | 0x40000000, 1},
	{KindNamespace, "setns", 0x40000000, 1},
	{KindNamespace, "unshare", 0x04000000, 1},
	{KindPersonality, "personality", 8, 1},
	{KindPersonality, "personality", 0xffffffff, 1},
	{KindScheduler, "sched_setscheduler", 1, 1},
	{KindSUIDSGID, "chmod", 0o4000, 1},
	{KindSUIDSGID, "creat", 0o6000, 1},
	{KindSUIDSGID, "fchmod", 0o2000, 1},
	{KindSUIDSGID, "fchmodat", 0o6000, 1},
	{KindSUIDSGID, "mkdirat", 0o2000, 1},
	{KindSUIDSGID, "mknod", 0o4000, 1},
	{KindSUIDSGID, "open", 0o4000, 1},
}

// outsider makes calls nobody in the learned cgroup makes.
var outsider = []rawCall{
	{nr: 41, args: []uint64{17, 0xfff, 0}}, // socket(AF_PACKET)
	{nr: 110},                              // getppid
	{nr: 135, args: []uint64{0x1234}},      // personality
	{nr: 64, i386: true},                   // i386 getppid
}

// gated starts a raw program blocked in its gate read and returns it and
// the write end of its stdin.
func gated(t *testing.T, path string) (*exec.Cmd, *os.File) {
	t.Helper()
	return gatedIn(t, path, -1)
}

// gatedIn is gated with the program started in the cgroup open at cgfd
// (none when cgfd < 0).
func gatedIn(t *testing.T, path string, cgfd int) (*exec.Cmd, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	cmd.Stdin = r
	if cgfd >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", cmd.Process.Pid))
		if err == nil && strings.HasPrefix(string(b), "0 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never blocked in its gate read (%q, %v)", path, b, err)
		}
		time.Sleep(time.Millisecond)
	}
	return cmd, w
}

func requireObserver(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "loads an eBPF program")
}

// learnCgroup makes slice/unit (and unit/sub) in cgroup2 for a test.
func learnCgroup(t testing.TB) (mount, unit, sub string) {
	t.Helper()
	mount, err := Cgroup2Mount()
	if err != nil {
		testutil.Unavailable(t, err.Error())
	}
	dirs, remove, err := denier.UnitCgroups(fmt.Sprintf("swlearn-%d.slice", os.Getpid()), t.Name()+".service")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if strings.HasPrefix(d, mount+"/") {
			unit = d
		}
	}
	if unit == "" {
		t.Fatalf("no cgroup2 directory among %v", dirs)
	}
	sub = filepath.Join(unit, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.Remove(sub) == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		remove()
	})
	return mount, unit, sub
}

// TestGroundTruth: a program in a descendant of the learned cgroup gets
// exactly its calls, per ABI, and its arguments back; a program outside
// the cgroup, running at the same time, is not seen.
func TestGroundTruth(t *testing.T) {
	requireObserver(t)
	mount, unit, sub := learnCgroup(t)
	dir := t.TempDir()
	in, err := writeRawELF(dir, "inside", cloneArgsFlags, groundTruth)
	if err != nil {
		t.Fatal(err)
	}
	out, err := writeRawELF(dir, "outside", 0, outsider)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := New(Options{Count: countedForTest})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	id, err := ob.Add(mount, unit)
	if err != nil {
		t.Fatal(err)
	}
	inCmd, inGate := gated(t, in)
	outCmd, outGate := gated(t, out)
	if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(inCmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*os.File{inGate, outGate} {
		if _, err := g.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		g.Close()
	}
	if err := inCmd.Wait(); err != nil {
		t.Fatalf("inside program: %v", err)
	}
	if err := outCmd.Wait(); err != nil {
		t.Fatalf("outside program: %v", err)
	}
	obs, st, err := ob.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	got := obs[id]
	want := &Observation{
		Cgroup:    unit,
		Calls:     uint64(len(groundTruth) + 1), // + exit_group; the gate read was made outside
		Processes: 1,
		Syscalls:  map[string][]string{"i386": {"getpid"}},
		Events:    wantEvents,
	}
	seen := map[string]bool{"exit_group": true}
	for _, c := range groundTruth {
		if !c.i386 {
			name, _ := syscalls.Name(syscalls.ArchX86_64, int(c.nr))
			seen[name] = true
		}
	}
	for n := range seen {
		want.Syscalls["x86_64"] = append(want.Syscalls["x86_64"], n)
	}
	sort.Strings(want.Syscalls["x86_64"])
	sort.Slice(want.Events, func(i, j int) bool {
		a, b := want.Events[i], want.Events[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Syscall != b.Syscall {
			return a.Syscall < b.Syscall
		}
		return a.Value < b.Value
	})
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("observation (-want +got):\n%s", d)
	}
	checkStats(t, st, got)
}

// checkStats wants no loss, and the host's calls to include at least the
// cgroup's.
func checkStats(t *testing.T, st Stats, got *Observation) {
	t.Helper()
	if got == nil {
		return
	}
	if st.HostCalls < got.Calls {
		t.Errorf("the program ran for %d calls of the host, fewer than the %d of the learned cgroup", st.HostCalls, got.Calls)
	}
	st.HostCalls = 0
	if st != (Stats{}) {
		t.Errorf("stats = %+v, want no loss", st)
	}
}

// TestIdleCgroup: a learned cgroup with no process sees no call, while the
// program runs for the host's calls (this test's own, made outside it):
// what tells an idle unit from a program the kernel does not run.
func TestIdleCgroup(t *testing.T) {
	requireObserver(t)
	mount, unit, _ := learnCgroup(t)
	ob, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	id, err := ob.Add(mount, unit)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for range n {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	obs, st, err := ob.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := obs[id]; got.Calls != 0 || got.Processes != 0 || len(got.Syscalls) != 0 {
		t.Errorf("an empty cgroup: %+v", got)
	}
	if st.HostCalls < n {
		t.Errorf("the program ran for %d calls of the host, fewer than this test's %d", st.HostCalls, n)
	}
}

// cgnsHelperEnv makes the test binary, started in a cgroup namespace of
// its own, try to add the cgroup named by the variable.
const cgnsHelperEnv = "OBSERVE_CGNS_HELPER"

func cgnsHelper(dir string) int {
	mount, err := Cgroup2Mount()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	ob, err := New(Options{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer ob.Close()
	if _, err := ob.Add(mount, dir); err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	fmt.Println("added")
	return 0
}

// TestCgroupNamespace: an observer in a cgroup namespace of its own
// refuses to add a cgroup (the levels below its mount are not the
// kernel's: seen, learn inside `unshare -C` with cgroup2 mounted there
// saw 0 calls of a busy loop); in the host's it adds it.
func TestCgroupNamespace(t *testing.T) {
	requireObserver(t)
	_, unit, _ := learnCgroup(t)
	for _, own := range []bool{true, false} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), cgnsHelperEnv+"="+unit)
		if own {
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWCGROUP}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper (own namespace %v): %v: %s", own, err, out)
		}
		got := strings.TrimSpace(string(out))
		if own && !strings.Contains(got, "refused: observe: this process runs in a cgroup namespace of its own") {
			t.Errorf("in a cgroup namespace of its own: %q, want refused", got)
		}
		if !own && got != "added" {
			t.Errorf("in the host's cgroup namespace: %q, want added", got)
		}
	}
}
