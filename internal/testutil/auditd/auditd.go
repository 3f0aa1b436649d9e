// Package auditd starts a real auditd for tests (`auditd -n`, its log in a
// temporary directory, no rules loaded, `enabled` left as it was) and puts
// back the kernel audit settings it changed when it stops.
package auditd

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// Daemon is a running auditd.
type Daemon struct {
	Cmd    *exec.Cmd
	waited chan struct{}
	out    *buffer
	before auditstream.AuditState
}

// Start starts auditd and waits until it holds the audit pid; before is
// the state Stop (also run at cleanup) puts back. Without auditd the test
// fails under CI=true (scripts/setup.sh installs it) and skips elsewhere.
func Start(t *testing.T, before auditstream.AuditState) *Daemon {
	t.Helper()
	path, err := exec.LookPath("auditd")
	if err != nil {
		testutil.Unavailable(t, "auditd not installed (apt-get install auditd, without starting it: see scripts/setup.sh)")
	}
	dir := t.TempDir()
	conf := "log_file = " + filepath.Join(dir, "audit.log") + "\nlog_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 8\nnum_logs = 5\nmax_log_file_action = ROTATE\nspace_left = 75\nspace_left_action = SYSLOG\nadmin_space_left = 50\nadmin_space_left_action = SUSPEND\ndisk_full_action = SUSPEND\ndisk_error_action = SUSPEND\nq_depth = 2000\noverflow_action = SYSLOG\nplugin_dir = " + filepath.Join(dir, "plugins.d") + "\n"
	if err := os.Mkdir(filepath.Join(dir, "plugins.d"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Cmd: exec.Command(path, "-n", "-s", "nochange", "-c", dir), waited: make(chan struct{}), out: &buffer{}, before: before}
	d.Cmd.Stdout, d.Cmd.Stderr = d.out, d.out
	// SIGTERM when the test binary dies without its cleanup (-timeout): an
	// orphaned auditd would keep the host's audit pid.
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.Cmd.Wait(); close(d.waited) }()
	t.Cleanup(func() { d.Stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := auditstream.ReadAuditState()
		if err == nil && st.PID == uint32(d.Cmd.Process.Pid) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditd did not register within 10s: state %+v (%v), output %s", st, err, d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends auditd (SIGTERM, SIGKILL after 10 s) and puts back what it
// left changed. It is idempotent.
func (d *Daemon) Stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.waited:
		return
	default:
	}
	_ = d.Cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.waited:
	case <-time.After(10 * time.Second):
		_ = d.Cmd.Process.Kill()
		<-d.waited
	}
	Restore(t, d.before)
}

// Restore sets enabled, backlog_limit and backlog_wait_time back to st
// where they differ (what a foreign daemon such as auditd left behind).
func Restore(t *testing.T, st auditstream.AuditState) {
	t.Helper()
	now, err := auditstream.ReadAuditState()
	if err != nil {
		t.Error(err)
		return
	}
	if now.Enabled == st.Enabled && now.BacklogLimit == st.BacklogLimit && now.BacklogWaitTime == st.BacklogWaitTime {
		return
	}
	t.Logf("auditd left state %+v; restoring %+v", now, st)
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if now.Enabled != st.Enabled {
		if err := c.SetEnabled(st.Enabled == 1, libaudit.WaitForReply); err != nil {
			t.Error(err)
		}
	}
	if now.BacklogLimit != st.BacklogLimit {
		if err := c.SetBacklogLimit(st.BacklogLimit, libaudit.WaitForReply); err != nil {
			t.Error(err)
		}
	}
	if now.BacklogWaitTime != st.BacklogWaitTime {
		if err := c.SetBacklogWaitTime(int32(st.BacklogWaitTime), libaudit.WaitForReply); err != nil {
			t.Error(err)
		}
	}
}

type buffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
