package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
	"github.com/seccompwatch/seccompwatch/internal/testutil/privbus"
)

// TestMain lets the test binary be the program itself (for exit-path tests
// of the real process) or a denier helper.
func TestMain(m *testing.M) {
	denier.MaybeRun()
	if os.Getenv("SECCOMPWATCH_AS_MAIN") == "1" {
		os.Args = append([]string{"seccompwatch"}, os.Args[2:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// command runs the program (this test binary as main) with args.
func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(append(os.Environ(), "SECCOMPWATCH_AS_MAIN=1"), env...)
	// SIGTERM (the daemon restores the kernel audit state) when the test
	// binary dies without its cleanup (-timeout): an orphaned daemon
	// would keep the audit pid and every descriptor it inherited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}

// selfExe is this test binary as the kernel names it in a record's exe
// (the denier helpers run it).
func selfExe(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// noAuditDaemon returns the host's audit state and fails (under CI=true)
// or skips when another audit daemon is registered: unicast would be
// refused.
func noAuditDaemon(t *testing.T) auditstream.AuditState {
	t.Helper()
	testutil.RequireRoot(t, "CAP_AUDIT_CONTROL")
	before, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if before.PID != 0 {
		testutil.Unavailable(t, fmt.Sprintf("an audit daemon (pid %d) is registered: unicast would be refused", before.PID))
	}
	return before
}

// TestUnicastExitPaths runs the daemon as the host's audit daemon and ends
// it by SIGTERM, by SIGINT, and by a panic in each of its goroutines (the
// pipeline, the kernel status poller, the BPF sweeper, the D-Bus signal
// watcher, the event stream's flush timer); each time the kernel audit state
// (enabled, pid, backlog_limit, backlog_wait_time) must be what it was
// before.
func TestUnicastExitPaths(t *testing.T) {
	before := hostAudit(t)
	deny := func(t *testing.T) {
		c, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true})
		if err != nil {
			t.Fatal(err)
		}
		c.Run()
	}
	for _, tc := range []struct {
		name      string
		failpoint string // SECCOMPWATCH_FAILPOINT; "" ends it by signal
		end       func(t *testing.T, cmd *exec.Cmd, port string, bus *privbus.Bus)
	}{
		{"sigterm", "", func(t *testing.T, cmd *exec.Cmd, _ string, _ *privbus.Bus) { cmd.Process.Signal(syscall.SIGTERM) }},
		{"sigint", "", func(t *testing.T, cmd *exec.Cmd, _ string, _ *privbus.Bus) { cmd.Process.Signal(syscall.SIGINT) }},
		// The first record the pipeline sees makes it panic.
		{"pipeline", "panic-on-record", func(t *testing.T, _ *exec.Cmd, _ string, _ *privbus.Bus) { deny(t) }},
		// These panic on their first tick (5 s, 10 s): nothing to do.
		{"status poller", "panic-in-status-poller", nil},
		{"bpf sweeper", "panic-in-bpf-sweeper", nil},
		{"dbus watcher", "panic-in-dbus-watcher", func(t *testing.T, _ *exec.Cmd, _ string, bus *privbus.Bus) {
			if err := bus.Reloading(true); err != nil {
				t.Fatal(err)
			}
		}},
		// A denial's event arms the event stream's delayed flush.
		{"event flush timer", "panic-in-event-flush", func(t *testing.T, _ *exec.Cmd, _ string, _ *privbus.Bus) { deny(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			bus := privbus.Start(t)
			var env []string
			if tc.failpoint != "" {
				// A record failpoint (and the event flush's) fires only
				// at the test's own helper's record: another process's
				// denial on a busy host would fire it before the daemon
				// was seen registered.
				env = append(env, "SECCOMPWATCH_FAILPOINT="+tc.failpoint, "SECCOMPWATCH_FAILPOINT_EXE="+selfExe(t))
			}
			cmd := command(t, env, "run", "--audit.mode=unicast", "--audit.backlog-limit=5555",
				"--web.listen-address=127.0.0.1:"+port, "--state.dir=", "--dbus.address="+bus.Addr, "--log.level=error", "--units.root="+t.TempDir(),
				"--events.file="+filepath.Join(t.TempDir(), "events.jsonl"))
			logf := filepath.Join(t.TempDir(), "log")
			f, _ := os.Create(logf)
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A hang detector: a daemon that exits is seen at once.
			deadline := time.Now().Add(60 * time.Second)
			for {
				st, err := auditstream.ReadAuditState()
				if err == nil && st.PID == uint32(cmd.Process.Pid) && st.BacklogLimit == 5555 {
					break
				}
				if exited(cmd) {
					cmd.Wait()
					b, _ := os.ReadFile(logf)
					t.Fatalf("daemon exited before it was seen registered (%+v %v):\n%s", st, err, b)
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					b, _ := os.ReadFile(logf)
					t.Fatalf("daemon did not register as the audit daemon: %+v %v\n%s", st, err, b)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tc.end != nil {
				tc.end(t, cmd, port, bus)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if tc.failpoint != "" && !errors.As(err, &ee) {
					t.Errorf("panic run exited with %v, want a failure", err)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				b, _ := os.ReadFile(logf)
				t.Fatalf("daemon did not exit:\n%s", b)
			}
			after, err := auditstream.ReadAuditState()
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				b, _ := os.ReadFile(logf)
				t.Fatalf("audit state after %s = %+v, before = %+v\n%s", tc.name, after, before, b)
			}
			if tc.failpoint != "" {
				b, _ := os.ReadFile(logf)
				if !strings.Contains(string(b), "panic: failpoint "+tc.failpoint) {
					t.Errorf("no panic in the output:\n%s", b)
				}
			}
		})
	}
}

// TestCapabilities runs the daemon as an unprivileged user with only the
// capabilities the README's table names, and checks what each gives: the
// multicast stream needs CAP_AUDIT_READ alone; eBPF attribution needs
// CAP_BPF and CAP_PERFMON, without which /proc is used and said so; without
// CAP_AUDIT_READ the daemon exits with a one-line error.
func TestCapabilities(t *testing.T) {
	testutil.RequireRoot(t, "starts processes with chosen capabilities")
	// The program must be executable by the unprivileged user.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, _ := os.Executable()
	bin := filepath.Join(dir, "seccompwatch.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	const (
		capNetAdmin  = 12
		capAuditRead = 37
		capPerfmon   = 38
		capBPF       = 39
	)
	for _, tc := range []struct {
		name     string
		caps     []uintptr
		fails    bool
		bpf      bool
		rcvForce bool
	}{
		{name: "audit_read", caps: []uintptr{capAuditRead}},
		{name: "audit_read+bpf+perfmon", caps: []uintptr{capAuditRead, capBPF, capPerfmon}, bpf: true},
		{name: "audit_read+net_admin", caps: []uintptr{capAuditRead, capNetAdmin}, rcvForce: true},
		{name: "none", caps: nil, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := 19880 + len(tc.caps)*2 + map[bool]int{true: 1}[tc.rcvForce]
			// Not the host's unit files (not this test's subject: reading
			// them took 10 s of a -race build's start on a loaded host).
			units, err := os.MkdirTemp("", "caps-units.")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(units)
			if err := os.Chmod(units, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-test.run=^$", "run", "--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
				"--state.dir=", "--dbus.address=none", "--log.level=info", "--log.format=json", "--units.root="+units)
			cmd.Env = append(os.Environ(), "SECCOMPWATCH_AS_MAIN=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Credential:  &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true},
				AmbientCaps: tc.caps,
			}
			// A file, not a buffer: the test reads it while the daemon writes.
			logf, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			defer logf.Close()
			cmd.Stdout, cmd.Stderr = logf, logf
			output := func() string {
				b, _ := os.ReadFile(logf.Name())
				return string(b)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}()
			if tc.fails {
				err := cmd.Wait()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("without CAP_AUDIT_READ: %v\n%s", err, output())
				}
				last := strings.TrimSpace(output())
				last = last[strings.LastIndexByte(last, '\n')+1:]
				if want := "seccompwatch run: cannot open the kernel's audit stream: --audit.mode=multicast needs CAP_AUDIT_READ (run as root, or with AmbientCapabilities=CAP_AUDIT_READ as deploy/seccompwatch.service does)"; last != want {
					t.Fatalf("error is not one clear line naming the capability: %q, want %q", last, want)
				}
				return
			}
			var metrics string
			// A hang detector: a daemon that exits is seen at once.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) && !exited(cmd) {
				resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					metrics = string(b)
					if strings.Contains(metrics, "seccompwatch_audit_stream_up 1") {
						break
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			mode := `seccompwatch_attribution_mode{mode="proc"} 1`
			if tc.bpf {
				mode = `seccompwatch_attribution_mode{mode="bpf"} 1`
			}
			if !strings.Contains(metrics, "seccompwatch_audit_stream_up 1") || !strings.Contains(metrics, mode) {
				t.Fatalf("want stream up and %s; metrics:\n%s\nlog:\n%s", mode, metrics, output())
			}
			if got := strings.Contains(output(), `"rcvbuf_force":true`); got != tc.rcvForce {
				t.Errorf("SO_RCVBUFFORCE used = %v, want %v:\n%s", got, tc.rcvForce, output())
			}
		})
	}
}
