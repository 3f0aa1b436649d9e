package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
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
	return cmd
}

// TestUnicastExitPaths runs the daemon as the host's audit daemon and ends
// it by SIGTERM, by SIGINT, and by a panic in the pipeline; each time the
// kernel audit state (enabled, pid, backlog_limit, backlog_wait_time) must
// be what it was before.
func TestUnicastExitPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_AUDIT_CONTROL); CI runs as root")
	}
	before, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if before.PID != 0 {
		t.Skipf("an audit daemon (pid %d) is registered", before.PID)
	}
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, cmd *exec.Cmd)
		env  []string
	}{
		{"sigterm", func(t *testing.T, cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGTERM) }, nil},
		{"sigint", func(t *testing.T, cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGINT) }, nil},
		{"panic", func(t *testing.T, cmd *exec.Cmd) {
			// The first record the pipeline sees makes it panic.
			c, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true})
			if err != nil {
				t.Fatal(err)
			}
			c.Run()
		}, []string{"SECCOMPWATCH_FAILPOINT=panic-on-record"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := command(t, tc.env, "run", "--audit.mode=unicast", "--audit.backlog-limit=5555",
				"--web.listen-address=127.0.0.1:0", "--state.dir=", "--dbus.address=none", "--log.level=error")
			logf := filepath.Join(t.TempDir(), "log")
			f, _ := os.Create(logf)
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				st, err := auditstream.ReadAuditState()
				if err == nil && st.PID == uint32(cmd.Process.Pid) && st.BacklogLimit == 5555 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					b, _ := os.ReadFile(logf)
					t.Fatalf("daemon did not register as the audit daemon: %+v %v\n%s", st, err, b)
				}
				time.Sleep(20 * time.Millisecond)
			}
			tc.end(t, cmd)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if tc.name == "panic" && !errors.As(err, &ee) {
					t.Errorf("panic run exited with %v, want a failure", err)
				}
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatal("daemon did not exit")
			}
			after, err := auditstream.ReadAuditState()
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				b, _ := os.ReadFile(logf)
				t.Fatalf("audit state after %s = %+v, before = %+v\n%s", tc.name, after, before, b)
			}
			if tc.name == "panic" {
				b, _ := os.ReadFile(logf)
				if !strings.Contains(string(b), "panic: failpoint panic-on-record") {
					t.Errorf("no panic in the output:\n%s", b)
				}
			}
		})
	}
}
