package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil/auditd"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// hostAudit returns the host's audit state and puts enabled, backlog_limit
// and backlog_wait_time back to it when the test ends, whatever happened
// (the pid is the kernel's: it drops a dead registration on its own, and
// the test's daemons unregister or die). With enabled=1 on the host it
// first sets 0, so that the test sees the daemon change enabled too.
func hostAudit(t *testing.T) auditstream.AuditState {
	t.Helper()
	host := noAuditDaemon(t)
	set := func(st auditstream.AuditState) error {
		c, err := libaudit.NewAuditClient(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetEnabled(st.Enabled == 1, libaudit.WaitForReply); err != nil {
			return err
		}
		if err := c.SetBacklogLimit(st.BacklogLimit, libaudit.WaitForReply); err != nil {
			return err
		}
		return c.SetBacklogWaitTime(int32(st.BacklogWaitTime), libaudit.WaitForReply)
	}
	t.Cleanup(func() {
		now, err := auditstream.ReadAuditState()
		if err == nil && now.PID == 0 && now.Enabled == host.Enabled && now.BacklogLimit == host.BacklogLimit && now.BacklogWaitTime == host.BacklogWaitTime {
			return
		}
		if err := set(host); err != nil {
			t.Errorf("restoring the host's audit state %+v: %v", host, err)
		}
	})
	if host.Enabled == 2 {
		t.Fatal("audit configuration is locked (enabled=2)")
	}
	before := host
	if before.Enabled == 1 {
		before.Enabled = 0
		if err := set(before); err != nil {
			t.Fatal(err)
		}
	}
	return before
}

// failureAndRules returns the kernel's audit failure mode and how many
// audit rules are loaded: unicast must change neither.
// The kernel answers AUDIT_GET and AUDIT_LIST_RULES from a kernel thread
// that a loaded host may run later than go-libaudit's 500 ms wait ("no
// reply received"): each try has a socket of its own, so that a late
// answer to the one before is not taken for its own.
func failureAndRules(t *testing.T) (uint32, int) {
	t.Helper()
	var errs []error
	for range 20 {
		f, n, err := func() (uint32, int, error) {
			c, err := libaudit.NewAuditClient(nil)
			if err != nil {
				return 0, 0, err
			}
			defer c.Close()
			st, err := c.GetStatus()
			if err != nil {
				return 0, 0, err
			}
			rules, err := c.GetRules()
			return st.Failure, len(rules), err
		}()
		if err == nil {
			return f, n
		}
		errs = append(errs, err)
	}
	t.Fatalf("audit status and rules: %v", errors.Join(errs...))
	return 0, 0
}

// startUnicast starts the daemon in unicast mode with backlog_limit 5555
// and backlog_wait_time 777 and waits until it is the audit daemon.
func startUnicast(t *testing.T, stateDir string, env []string, extra ...string) (*exec.Cmd, func() string) {
	t.Helper()
	args := append([]string{"run", "--audit.mode=unicast", "--audit.backlog-limit=5555", "--audit.backlog-wait-time=777",
		"--web.listen-address=127.0.0.1:0", "--state.dir=" + stateDir, "--dbus.address=none", "--log.level=warn",
		// The host's unit files are not this test's subject, and reading
		// them took 10 of the 14 s to registration of a -race build on a
		// loaded host.
		"--units.root=" + t.TempDir()}, extra...)
	cmd := command(t, env, args...)
	logf := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd.Stdout, cmd.Stderr = f, f
	output := func() string { b, _ := os.ReadFile(logf); return string(b) }
	failure, rules := failureAndRules(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// A hang detector, not a race's timeout: a daemon that exits is seen
	// at once (exited), and start-up (BPF programs, BTF) measured 5-9 s
	// with -race beside a load average of 22 on 2 cores.
	started := time.Now()
	deadline := started.Add(60 * time.Second)
	for {
		st, err := auditstream.ReadAuditState()
		if err == nil && st.PID == uint32(cmd.Process.Pid) && st.BacklogLimit == 5555 && st.BacklogWaitTime == 777 && st.Enabled == 1 {
			// It never sets failure (e.g. to panic) and loads no rule.
			if f, r := failureAndRules(t); f != failure || r != rules {
				t.Fatalf("unicast changed failure %d → %d or the rules %d → %d", failure, f, rules, r)
			}
			t.Logf("registered as the audit daemon %v after start", time.Since(started).Round(time.Millisecond))
			return cmd, output
		}
		if exited(cmd) {
			t.Fatalf("daemon exited before it was seen registered (%+v %v):\n%s", st, err, output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not register as the audit daemon within 60s: %+v %v\n%s", st, err, output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited reports whether cmd's process has ended (a zombie not yet
// reaped counts), without reaping it.
func exited(cmd *exec.Cmd) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

// TestUnicastCrashRecovery kills the unicast daemon where Go runs no
// deferred call (SIGKILL; SIGABRT, what systemd's watchdog sends; a fatal
// runtime error, a stack overflow at the first record) and
// checks that enabled, backlog_limit, backlog_wait_time and pid are back
// to the values before the run after `seccompwatch audit-restore` (the
// service's ExecStopPost=) or after the next start.
func TestUnicastCrashRecovery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sig      syscall.Signal // 0: a fatal runtime error at the first record
		recovery string         // "command", "unicast" or "multicast" (the next start's mode)
	}{
		{"fatal runtime error then audit-restore", 0, "command"},
		{"sigkill then audit-restore", syscall.SIGKILL, "command"},
		{"sigabrt then audit-restore", syscall.SIGABRT, "command"},
		{"sigkill then unicast start", syscall.SIGKILL, "unicast"},
		{"sigabrt then multicast start", syscall.SIGABRT, "multicast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hostAudit(t)
			dir := t.TempDir()
			record := filepath.Join(dir, auditstream.AuditStateFile)
			var env []string
			if tc.sig == 0 {
				// At the test's own helper's record only: another
				// process's denial would end the run before the test
				// checks that audit-restore refuses beside it.
				env = []string{"SECCOMPWATCH_FAILPOINT=fatal-on-record", "SECCOMPWATCH_FAILPOINT_EXE=" + selfExe(t)}
			}
			cmd, output := startUnicast(t, dir, env)
			b, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("no audit-state record while running: %v", err)
			}
			var rec struct {
				PID   int `json:"pid"`
				Saved struct {
					Enabled         uint32 `json:"enabled"`
					PID             uint32 `json:"pid"`
					BacklogLimit    uint32 `json:"backlog_limit"`
					BacklogWaitTime uint32 `json:"backlog_wait_time"`
				} `json:"saved"`
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.PID != cmd.Process.Pid || rec.Saved.Enabled != before.Enabled || rec.Saved.BacklogLimit != before.BacklogLimit ||
				rec.Saved.BacklogWaitTime != before.BacklogWaitTime || rec.Saved.PID != 0 {
				t.Fatalf("record %s, want pid %d and %+v", b, cmd.Process.Pid, before)
			}

			// While the run lives, audit-restore refuses and changes nothing.
			out, err := command(t, nil, "audit-restore", "--state.dir="+dir).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "a running seccompwatch holds the audit-state record") {
				t.Fatalf("audit-restore beside a running daemon: %v\n%s", err, out)
			}
			if st, _ := auditstream.ReadAuditState(); st.PID != uint32(cmd.Process.Pid) || st.BacklogLimit != 5555 {
				t.Fatalf("audit-restore beside a running daemon changed the kernel: %+v", st)
			}

			if tc.sig != 0 {
				cmd.Process.Signal(tc.sig)
			} else {
				c, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true})
				if err != nil {
					t.Fatal(err)
				}
				c.Run()
			}
			err = cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || (tc.sig == syscall.SIGKILL && ws.Signal() != syscall.SIGKILL) ||
				(tc.sig != syscall.SIGKILL && ws.ExitStatus() != 2) ||
				(tc.sig == 0 && !strings.Contains(output(), "fatal error: stack overflow")) {
				t.Fatalf("daemon ended with %v, want death by %v:\n%s", err, tc.sig, output())
			}
			left, err := auditstream.ReadAuditState()
			if err != nil {
				t.Fatal(err)
			}
			if left.Enabled != 1 || left.BacklogLimit != 5555 || left.BacklogWaitTime != 777 {
				t.Fatalf("after %v the kernel has %+v: the crash left nothing to recover, the test proves nothing", tc.sig, left)
			}
			if _, err := os.Stat(record); err != nil {
				t.Fatalf("record gone after %v: %v", tc.sig, err)
			}

			switch tc.recovery {
			case "command":
				out, err := command(t, nil, "audit-restore", "--state.dir="+dir).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "restored backlog_limit, backlog_wait_time, pid, enabled") {
					t.Fatalf("audit-restore: %v\n%s", err, out)
				}
				// Again: nothing left to do.
				out, err = command(t, nil, "audit-restore", "--state.dir="+dir).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "no unrestored kernel audit state recorded") {
					t.Fatalf("second audit-restore: %v\n%s", err, out)
				}
			case "unicast":
				next, output := startUnicast(t, dir, nil)
				if !strings.Contains(output(), "kernel audit state of a previous run that did not restore it") {
					t.Errorf("next start did not say it restored:\n%s", output())
				}
				// It saved the state from before the crashed run, not the
				// crashed run's.
				b, _ := os.ReadFile(record)
				if err := json.Unmarshal(b, &rec); err != nil || rec.PID != next.Process.Pid || rec.Saved.BacklogLimit != before.BacklogLimit {
					t.Fatalf("next run's record %s (%v), want pid %d saved %+v", b, err, next.Process.Pid, before)
				}
				next.Process.Signal(syscall.SIGTERM)
				if err := next.Wait(); err != nil {
					t.Fatalf("next run: %v\n%s", err, output())
				}
			case "multicast":
				next := command(t, nil, "run", "--audit.mode=multicast", "--web.listen-address=127.0.0.1:0",
					"--state.dir="+dir, "--dbus.address=none", "--log.level=warn")
				logf := filepath.Join(t.TempDir(), "log")
				f, _ := os.Create(logf)
				defer f.Close()
				next.Stdout, next.Stderr = f, f
				if err := next.Start(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(15 * time.Second)
				for {
					if _, err := os.Stat(record); os.IsNotExist(err) {
						break
					}
					if time.Now().After(deadline) {
						b, _ := os.ReadFile(logf)
						next.Process.Kill()
						next.Wait()
						t.Fatalf("multicast start did not recover:\n%s", b)
					}
					time.Sleep(20 * time.Millisecond)
				}
				next.Process.Signal(syscall.SIGTERM)
				next.Wait()
			}
			after, err := auditstream.ReadAuditState()
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatalf("audit state after recovery = %+v, before the run = %+v", after, before)
			}
			if _, err := os.Stat(record); !os.IsNotExist(err) {
				t.Errorf("record still there after recovery: %v", err)
			}
		})
	}
}

// TestRecoveryLeavesAnotherAuditDaemonAlone: after a unicast run was
// SIGKILLed, a real auditd registered before anyone restored; the record
// is then dropped with a message naming auditd, and nothing of auditd's
// configuration is changed.
func TestRecoveryLeavesAnotherAuditDaemonAlone(t *testing.T) {
	before := hostAudit(t)
	dir := t.TempDir()
	cmd, output := startUnicast(t, dir, nil)
	cmd.Process.Kill()
	cmd.Wait()
	a := auditd.Start(t, before)
	during, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	out, err := command(t, nil, "audit-restore", "--state.dir="+dir).CombinedOutput()
	want := "audit pid is now held by pid " + strconv.Itoa(a.Cmd.Process.Pid) + " (auditd)"
	if err != nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), "its settings are left alone") {
		t.Fatalf("audit-restore beside a newer auditd: %v\n%s\nwant %q\ndaemon:\n%s", err, out, want, output())
	}
	if now, err := auditstream.ReadAuditState(); err != nil || now != during {
		t.Errorf("audit-restore changed auditd's state: %+v (%v), want %+v", now, err, during)
	}
	if _, err := os.Stat(filepath.Join(dir, auditstream.AuditStateFile)); !os.IsNotExist(err) {
		t.Errorf("record kept: %v", err)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}
