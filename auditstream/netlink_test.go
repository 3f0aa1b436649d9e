//go:build linux

// The live tests are an external test package: the denier helper imports
// packages that import auditstream.
package auditstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
	"github.com/seccompwatch/seccompwatch/syscalls"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/auditd"
)

// TestMain lets the test binary act as a denier child (real seccomp
// denials for the live-source tests).
func TestMain(m *testing.M) {
	denier.MaybeRun()
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "CAP_AUDIT_READ, CAP_AUDIT_CONTROL and a kernel with audit")
}

// keepAuditState records the kernel audit state and asserts, at cleanup,
// that it is identical: a Source must leave no trace.
func keepAuditState(t *testing.T) AuditState {
	t.Helper()
	before, err := ReadAuditState()
	if err != nil {
		t.Fatalf("read audit state: %v", err)
	}
	t.Cleanup(func() {
		after, err := ReadAuditState()
		if err != nil {
			t.Errorf("read audit state after test: %v", err)
			return
		}
		if after != before {
			t.Errorf("kernel audit state changed: before %+v, after %+v", before, after)
		}
	})
	return before
}

// liveSource runs a Source for the test and collects its records.
type liveSource struct {
	src    *Source
	recs   chan Record
	cancel context.CancelFunc
	done   chan error
}

func startSource(t *testing.T, opts Options, block func(Record)) *liveSource {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	src, err := NewSource(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ls := &liveSource{src: src, recs: make(chan Record, 1<<16), cancel: cancel, done: make(chan error, 1)}
	go func() {
		ls.done <- src.Run(ctx, func(r Record, raw []byte) {
			if block != nil {
				block(r)
			}
			select {
			case ls.recs <- r:
			default:
			}
		})
	}()
	t.Cleanup(func() { ls.stop(t) })
	deadline := time.Now().Add(5 * time.Second)
	for !src.Stats().Connected {
		select {
		case err := <-ls.done:
			ls.done <- err
			t.Fatalf("source stopped at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("source did not connect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ls
}

// stop cancels the source and checks that it returns promptly and cleanly.
func (ls *liveSource) stop(t *testing.T) {
	t.Helper()
	if ls.cancel == nil {
		return
	}
	ls.cancel()
	ls.cancel = nil
	select {
	case err := <-ls.done:
		if err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("Run did not return within 3s of cancel")
	}
}

// waitPID returns the first record of pid.
func (ls *liveSource) waitPID(t *testing.T, pid int) Record {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-ls.recs:
			if r.PID == pid {
				return r
			}
		case <-timeout:
			t.Fatalf("no SECCOMP record for pid %d within 10s (stats %+v)", pid, ls.src.Stats())
		}
	}
}

// deny starts a denier child, and returns its pid and a function that
// ends it (if it still runs) and reaps it.
func deny(t *testing.T, spec denier.Spec) (int, func()) {
	t.Helper()
	cmd, err := denier.Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	reap := func() {
		once.Do(func() {
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				// kill_thread leaves a Go child without its main thread.
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(reap)
	return cmd.Process.Pid, reap
}

type actionCase struct {
	name    string
	spec    denier.Spec
	nr      int
	action  Action
	signal  int
	survive bool
}

var actionCases = []actionCase{
	{"kill_process", denier.Spec{Syscall: "swapoff", Action: "kill_process"}, unix.SYS_SWAPOFF, ActionKillProcess, 31, false},
	{"kill_thread", denier.Spec{Syscall: "swapon", Action: "kill_thread"}, unix.SYS_SWAPON, ActionKillThread, 31, false},
	{"errno_log", denier.Spec{Syscall: "acct", Action: "errno", Log: true}, unix.SYS_ACCT, ActionErrno, 0, true},
	{"log", denier.Spec{Syscall: "syslog", Action: "log"}, unix.SYS_SYSLOG, ActionLog, 0, true},
	{"trap", denier.Spec{Syscall: "personality", Action: "trap", Log: true}, unix.SYS_PERSONALITY, ActionTrap, 0, false},
}

// checkRecord compares a live record with what the denier child did.
func checkRecord(t *testing.T, r Record, pid int, tc actionCase) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	comm := filepath.Base(exe)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if r.PID != pid {
		t.Errorf("pid %d, want %d", r.PID, pid)
	}
	if r.Comm != comm {
		t.Errorf("comm %q, want %q", r.Comm, comm)
	}
	if r.Exe != exe {
		t.Errorf("exe %q, want %q", r.Exe, exe)
	}
	if runtime.GOARCH == "amd64" {
		if r.AuditArch != 0xc000003e || r.Arch != syscalls.ArchX86_64 {
			t.Errorf("arch %x/%v, want c000003e/x86_64", r.AuditArch, r.Arch)
		}
	}
	if r.Syscall != tc.nr {
		t.Errorf("syscall %d, want %d", r.Syscall, tc.nr)
	}
	if r.Action != tc.action {
		t.Errorf("action %v, want %v (code %#x)", r.Action, tc.action, r.Code)
	}
	if r.Signal != tc.signal {
		t.Errorf("sig %d, want %d", r.Signal, tc.signal)
	}
	if !r.HasSerial || r.Time.IsZero() {
		t.Errorf("record lacks serial or time: %+v", r)
	}
	if r.UID.N != uint32(os.Getuid()) {
		t.Errorf("uid %v, want %d", r.UID, os.Getuid())
	}
}

// TestLiveActions makes a real denial for every action and reads it back
// over multicast and over unicast, field by field; the kernel audit state
// must be identical afterwards.
func TestLiveActions(t *testing.T) {
	requireRoot(t)
	for _, mode := range []string{ModeMulticast, ModeUnicast} {
		t.Run(mode, func(t *testing.T) {
			before := keepAuditState(t)
			if mode == ModeUnicast && before.PID != 0 && processAlive(before.PID) {
				testutil.Unavailable(t, fmt.Sprintf("another audit daemon (pid %d) is registered", before.PID))
			}
			ls := startSource(t, Options{Mode: mode, StatusInterval: 100 * time.Millisecond}, nil)
			if mode == ModeUnicast {
				st, err := ReadAuditState()
				if err != nil {
					t.Fatal(err)
				}
				if st.PID != uint32(os.Getpid()) || st.Enabled != 1 || st.BacklogLimit != DefaultBacklogLimit || st.BacklogWaitTime != before.BacklogWaitTime {
					t.Errorf("while running unicast: state %+v, want pid %d, enabled 1, backlog_limit %d, wait %d (kept)", st, os.Getpid(), DefaultBacklogLimit, before.BacklogWaitTime)
				}
			}
			for _, tc := range actionCases {
				t.Run(tc.name, func(t *testing.T) {
					pid, reap := deny(t, tc.spec)
					r := ls.waitPID(t, pid)
					reap()
					checkRecord(t, r, pid, tc)
				})
			}
			if mode == ModeMulticast {
				// Not only afterwards: while it reads, multicast has
				// changed nothing either.
				if st, err := ReadAuditState(); err != nil || st != before {
					t.Errorf("while reading multicast: state %+v (%v), before %+v", st, err, before)
				}
			}
			st := ls.src.Stats()
			if st.Records["SECCOMP"] < uint64(len(actionCases)) {
				t.Errorf("stats count %d SECCOMP records, want >= %d", st.Records["SECCOMP"], len(actionCases))
			}
			if st.RcvBufBytes < DefaultRcvBufBytes || !st.RcvBufForced {
				t.Errorf("rcvbuf %d (forced %v), want >= %d via SO_RCVBUFFORCE as root", st.RcvBufBytes, st.RcvBufForced, DefaultRcvBufBytes)
			}
			if st.LastReceive.IsZero() || !st.KernelStatus {
				t.Errorf("stats: last receive %v, kernel status %v", st.LastReceive, st.KernelStatus)
			}
			// The kernel's lost counter is host-wide (other processes may
			// make it grow); this reader's own losses must be zero.
			for _, k := range []string{LostENOBUFS, LostSerialGap} {
				if st.Lost[k] != 0 {
					t.Errorf("lost[%s] = %d with a 64 MiB buffer and a handful of records", k, st.Lost[k])
				}
			}
			ls.stop(t)
			if st := ls.src.Stats(); st.Connected {
				t.Error("still connected after Run returned")
			}
		})
	}
}

// TestUnicastRestoreIdempotent checks Restore after Run and twice, and that
// a second unicast source in the same process is refused while the first
// runs.
func TestUnicastRestoreIdempotent(t *testing.T) {
	requireRoot(t)
	before := keepAuditState(t)
	if before.PID != 0 && processAlive(before.PID) {
		testutil.Unavailable(t, fmt.Sprintf("another audit daemon (pid %d) is registered", before.PID))
	}
	ls := startSource(t, Options{Mode: ModeUnicast, BacklogLimit: 4321, BacklogWaitTime: 7}, nil)
	st, err := ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if st.BacklogLimit != 4321 || st.BacklogWaitTime != 7 {
		t.Errorf("state while running %+v, want backlog_limit 4321, wait 7", st)
	}
	second, _ := NewSource(Options{Mode: ModeUnicast})
	err = second.Run(context.Background(), func(Record, []byte) {})
	var taken *AuditPIDTakenError
	if !errors.Is(err, ErrAuditPIDTaken) || !errors.As(err, &taken) || taken.PID != os.Getpid() {
		t.Errorf("second unicast source: %v, want ErrAuditPIDTaken naming pid %d", err, os.Getpid())
	}
	// Restore while running (as a deferred recover in main would), twice.
	if err := ls.src.Restore(); err != nil {
		t.Errorf("Restore: %v", err)
	}
	if err := ls.src.Restore(); err != nil {
		t.Errorf("second Restore: %v", err)
	}
	if now, _ := ReadAuditState(); now != before {
		t.Errorf("after Restore state %+v, want %+v", now, before)
	}
	ls.stop(t)
	if err := ls.src.Restore(); err != nil {
		t.Errorf("Restore after Run: %v", err)
	}
}

// TestPermission drops a capability on one locked OS thread and checks the
// sentinel: multicast without CAP_AUDIT_READ, unicast without
// CAP_AUDIT_CONTROL.
func TestPermission(t *testing.T) {
	requireRoot(t)
	keepAuditState(t)
	for _, tc := range []struct {
		mode string
		cap  int
	}{{ModeMulticast, unix.CAP_AUDIT_READ}, {ModeUnicast, unix.CAP_AUDIT_CONTROL}} {
		t.Run(tc.mode, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				// The thread is never unlocked: it ends with the goroutine
				// and takes its reduced capabilities with it.
				runtime.LockOSThread()
				hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
				var data [2]unix.CapUserData
				if err := unix.Capget(&hdr, &data[0]); err != nil {
					errc <- err
					return
				}
				data[tc.cap/32].Effective &^= 1 << (tc.cap % 32)
				if err := unix.Capset(&hdr, &data[0]); err != nil {
					errc <- err
					return
				}
				src, _ := NewSource(Options{Mode: tc.mode, Logger: zaptest.NewLogger(t)})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				errc <- src.Run(ctx, func(Record, []byte) {})
			}()
			err := <-errc
			if !errors.Is(err, ErrPermission) || !errors.Is(err, unix.EPERM) {
				t.Fatalf("Run without capability %d: %v, want ErrPermission wrapping EPERM", tc.cap, err)
			}
		})
	}
}

// TestOverflow stalls the reader behind a tiny receive buffer during a
// burst: the overflow must be counted (ENOBUFS and serial gap), the source
// must keep running and still receive a later denial.
func TestOverflow(t *testing.T) {
	requireRoot(t)
	keepAuditState(t)
	const burst = 20000
	release := make(chan struct{})
	var blocked atomic.Bool
	ls := startSource(t, Options{RcvBufBytes: 1, StatusInterval: 100 * time.Millisecond}, func(Record) {
		if blocked.CompareAndSwap(false, true) {
			<-release
		}
	})
	if st := ls.src.Stats(); st.RcvBufBytes > 64<<10 {
		t.Fatalf("rcvbuf %d, want tiny", st.RcvBufBytes)
	}
	pid, reap := deny(t, denier.Spec{Syscall: "getpriority", Action: "errno", Log: true, Count: burst})
	reap()
	close(release)

	// A later denial still arrives.
	pid2, reap2 := deny(t, denier.Spec{Syscall: "swapoff", Action: "kill_process"})
	got := 0
	timeout := time.After(15 * time.Second)
wait:
	for {
		select {
		case r := <-ls.recs:
			switch r.PID {
			case pid:
				got++
			case pid2:
				break wait
			}
		case <-timeout:
			t.Fatalf("later denial not received; stats %+v", ls.src.Stats())
		}
	}
	reap2()
	// Let the pending serial holes pass their grace period.
	deadline := time.Now().Add(5 * time.Second)
	for ls.src.Stats().PendingSerialGap > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	st := ls.src.Stats()
	t.Logf("burst %d: received %d, stats lost %v pending %d rcvbuf %d", burst, got, st.Lost, st.PendingSerialGap, st.RcvBufBytes)
	if st.Lost[LostENOBUFS] == 0 {
		t.Error("no ENOBUFS counted")
	}
	if st.Lost[LostSerialGap] == 0 {
		t.Error("no serial gap counted")
	}
	if got >= burst {
		t.Errorf("received all %d records: the test did not overflow", got)
	}
	// Every record of the burst was either received or counted lost: at
	// the socket (a serial gap), or before it had a serial, at the kernel's
	// backlog limit (kauditd writes each record to the kernel log when no
	// audit daemon is registered, and falls behind a burst on a loaded
	// host). The kernel's lost counter is the host's, so this may
	// over-count; it never under-counts.
	if !st.KernelStatus {
		t.Error("kernel lost counter not read (as root)")
	}
	if uint64(got)+st.Lost[LostSerialGap]+st.Lost[LostKernel] < burst {
		t.Errorf("received %d + serial gap %d + kernel lost %d < %d made: loss not accounted", got, st.Lost[LostSerialGap], st.Lost[LostKernel], burst)
	}
	if !st.Connected {
		t.Error("source stopped after overflow")
	}
}

// TestBesideAuditd runs a real auditd, checks that multicast reads beside
// it and that unicast refuses, naming it.
func TestBesideAuditd(t *testing.T) {
	requireRoot(t)
	before, err := ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if before.PID != 0 && processAlive(before.PID) {
		testutil.Unavailable(t, fmt.Sprintf("an audit daemon (pid %d) is already registered", before.PID))
	}
	a := auditd.Start(t, before)
	t.Cleanup(func() {
		a.Stop(t)
		after, err := ReadAuditState()
		if err != nil || after != before {
			t.Errorf("audit state after auditd: %+v (%v), want %+v", after, err, before)
		}
	})
	cmd := a.Cmd
	during, _ := ReadAuditState()

	ls := startSource(t, Options{Mode: ModeMulticast}, nil)
	tc := actionCases[0]
	pid, reap := deny(t, tc.spec)
	r := ls.waitPID(t, pid)
	reap()
	checkRecord(t, r, pid, tc)

	uni, _ := NewSource(Options{Mode: ModeUnicast, Logger: zaptest.NewLogger(t)})
	err = uni.Run(context.Background(), func(Record, []byte) {})
	var taken *AuditPIDTakenError
	if !errors.Is(err, ErrAuditPIDTaken) || !errors.As(err, &taken) || taken.PID != cmd.Process.Pid || taken.Comm != "auditd" {
		t.Errorf("unicast beside auditd: %v, want ErrAuditPIDTaken naming pid %d (auditd)", err, cmd.Process.Pid)
	}
	if now, _ := ReadAuditState(); now != during {
		t.Errorf("refused unicast changed the state: %+v, want %+v", now, during)
	}
}

func processAlive(pid uint32) bool {
	err := unix.Kill(int(pid), 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
