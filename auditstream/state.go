//go:build linux

package auditstream

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// ErrPermission reports a missing capability: CAP_AUDIT_READ for the
// multicast stream (bind fails with EPERM), CAP_AUDIT_CONTROL for unicast
// mode and for the kernel's status (AUDIT_GET/AUDIT_SET fail with EPERM).
var ErrPermission = errors.New("auditstream: permission denied (missing CAP_AUDIT_READ or CAP_AUDIT_CONTROL)")

// ErrAuditPIDTaken reports that another live process is registered as the
// host's audit daemon, so unicast mode cannot register. It is never stolen:
// the kernel refuses (EEXIST) while that daemon is alive. The error is an
// *AuditPIDTakenError, which names the holder.
var ErrAuditPIDTaken = errors.New("auditstream: audit pid is held by another process")

// AuditPIDTakenError names the process that holds the audit pid.
type AuditPIDTakenError struct {
	PID  int    // the registered audit daemon's pid
	Comm string // its /proc/<pid>/comm, "" if unreadable
}

// Error implements error.
func (e *AuditPIDTakenError) Error() string {
	comm := e.Comm
	if comm == "" {
		comm = "?"
	}
	return fmt.Sprintf("audit pid is held by pid %d (%s), another audit daemon; unicast never takes it: stop that daemon or use --audit.mode=multicast", e.PID, comm)
}

// Is makes errors.Is(err, ErrAuditPIDTaken) true.
func (e *AuditPIDTakenError) Is(target error) bool { return target == ErrAuditPIDTaken }

func pidTaken(pid uint32) *AuditPIDTakenError {
	b, _ := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	return &AuditPIDTakenError{PID: int(pid), Comm: strings.TrimSpace(string(b))}
}

func processAlive(pid uint32) bool {
	err := unix.Kill(int(pid), 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// AuditState is the part of the kernel's audit configuration that unicast
// mode changes and restores.
type AuditState struct {
	Enabled         uint32 // 0 off, 1 on, 2 locked
	PID             uint32 // registered audit daemon, 0 if none
	BacklogLimit    uint32
	BacklogWaitTime uint32 // jiffies
}

// ReadAuditState returns the kernel's current audit state (AUDIT_GET; needs
// CAP_AUDIT_CONTROL, else the error wraps ErrPermission).
func ReadAuditState() (AuditState, error) {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return AuditState{}, fmt.Errorf("auditstream: open audit control socket: %w", err)
	}
	defer c.Close()
	st, err := getStatus(c)
	if err != nil {
		return AuditState{}, err
	}
	return stateOf(st), nil
}

func stateOf(st *libaudit.AuditStatus) AuditState {
	return AuditState{Enabled: st.Enabled, PID: st.PID, BacklogLimit: st.BacklogLimit, BacklogWaitTime: st.BacklogWaitTime}
}

// statusReplyWait bounds the wait for the kernel's answer to AUDIT_GET.
// The kernel acknowledges the request at once but sends the status from a
// kernel thread of its own (audit_send_reply), which a loaded host may
// run late: go-libaudit's GetStatus gives up after 500 ms ("no reply
// received"; seen at a load average of 22 on 2 cores, where it ended a
// unicast start), and the late answer then sits on the socket and answers
// the next request, whose own answer is taken for the one after.
const statusReplyWait = 10 * time.Second

// getStatus sends AUDIT_GET and waits up to statusReplyWait for its
// answer, skipping what answers an earlier request on the socket.
func getStatus(c *libaudit.AuditClient) (*libaudit.AuditStatus, error) {
	st, err := readStatus(c, statusReplyWait)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("auditstream: get audit status (needs CAP_AUDIT_CONTROL): %w", errors.Join(ErrPermission, err))
		}
		return nil, fmt.Errorf("auditstream: get audit status: %w", err)
	}
	return st, nil
}

func readStatus(c *libaudit.AuditClient, wait time.Duration) (*libaudit.AuditStatus, error) {
	seq, err := c.GetStatusAsync(true)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		msgs, err := c.Netlink.Receive(true, syscall.ParseNetlinkMessage)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("no reply within %v", wait)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		case err != nil:
			return nil, fmt.Errorf("receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue // an earlier request's late answer
			}
			switch m.Header.Type {
			case syscall.NLMSG_ERROR:
				if err := libaudit.ParseNetlinkError(m.Data); err != nil {
					return nil, err
				}
			case libaudit.AuditGet:
				var st libaudit.AuditStatus
				if err := st.FromWireFormat(m.Data); err != nil {
					return nil, fmt.Errorf("status: %w", err)
				}
				return &st, nil
			}
		}
	}
}

// stateGuard remembers the kernel audit state from before unicast mode
// changed it, and which fields were changed, and puts them back.
type stateGuard struct {
	mu      sync.Mutex
	saved   AuditState
	pid     bool // we registered our pid
	enabled bool
	limit   bool
	wait    bool
	// file is where register records saved before the first change ("":
	// nowhere); recorded tells that it did, so that restore removes it.
	file     string
	recorded bool
}

// restore puts every changed field back. It is idempotent: what was
// restored is forgotten, what failed stays pending for another call.
func (g *stateGuard) restore() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.pid && !g.enabled && !g.limit && !g.wait {
		return g.forgetLocked()
	}
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return fmt.Errorf("auditstream: restore audit state: open control socket: %w", err)
	}
	defer c.Close()
	var errs []error
	if g.pid {
		// Only the registered process may unregister; the kernel has
		// already dropped us if our socket died. Either way pid 0 is right:
		// unicast mode never starts while another daemon is registered.
		if err := setStatusPIDZero(c); err != nil && !errors.Is(err, unix.EACCES) {
			errs = append(errs, fmt.Errorf("pid: %w", err))
		} else {
			g.pid = false
		}
	}
	if g.enabled {
		if err := c.SetEnabled(g.saved.Enabled == 1, libaudit.WaitForReply); err != nil {
			errs = append(errs, fmt.Errorf("enabled: %w", err))
		} else {
			g.enabled = false
		}
	}
	if g.wait {
		if err := c.SetBacklogWaitTime(int32(g.saved.BacklogWaitTime), libaudit.WaitForReply); err != nil {
			errs = append(errs, fmt.Errorf("backlog_wait_time: %w", err))
		} else {
			g.wait = false
		}
	}
	if g.limit {
		if err := c.SetBacklogLimit(g.saved.BacklogLimit, libaudit.WaitForReply); err != nil {
			errs = append(errs, fmt.Errorf("backlog_limit: %w", err))
		} else {
			g.limit = false
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("auditstream: restore audit state: %w", errors.Join(errs...))
	}
	return g.forgetLocked()
}

// forgetLocked removes the record of the saved state once nothing is left
// to restore.
func (g *stateGuard) forgetLocked() error {
	if !g.recorded {
		return nil
	}
	if err := removeRecord(g.file); err != nil {
		return err
	}
	g.recorded = false
	return nil
}

// register makes data's socket the host's audit daemon: it records the
// state first (in g), refuses when another live process holds the audit
// pid, then sets backlog_limit, backlog_wait_time (0 keeps it, < 0 sets 0),
// the pid and enabled=1 (only if it was 0). On error everything already
// changed is restored before it returns.
func (g *stateGuard) register(ctl *libaudit.AuditClient, data *nlSocket, limit uint32, waitTime int32) (err error) {
	st, err := getStatus(ctl)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.saved = stateOf(st)
	g.mu.Unlock()
	if st.Enabled == 2 {
		return errors.New("auditstream: audit configuration is locked (enabled=2): cannot register as audit daemon")
	}
	if st.PID != 0 && (st.PID == uint32(os.Getpid()) || processAlive(st.PID)) {
		return pidTaken(st.PID)
	}
	if waitTime < 0 {
		waitTime = 0
	} else if waitTime == 0 {
		waitTime = int32(st.BacklogWaitTime)
	}
	changeLimit := limit > 0 && limit != st.BacklogLimit
	changeWait := uint32(waitTime) != st.BacklogWaitTime
	if g.file != "" {
		// Before anything changes: a run that dies without restoring
		// (SIGKILL, OOM, the watchdog's SIGABRT) leaves this behind for
		// the next start or `seccompwatch audit-restore`.
		var changed []string
		if changeLimit {
			changed = append(changed, FieldBacklogLimit)
		}
		if changeWait {
			changed = append(changed, FieldBacklogWaitTime)
		}
		changed = append(changed, FieldPID)
		if st.Enabled == 0 {
			changed = append(changed, FieldEnabled)
		}
		if err := writeRecord(g.file, g.saved, changed); err != nil {
			return err
		}
		g.mu.Lock()
		g.recorded = true
		g.mu.Unlock()
	}
	defer func() {
		if err != nil {
			if rerr := g.restore(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	set := func(what string, flag *bool, f func() error) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		*flag = true // set first: a half-applied change is restored too
		if err := f(); err != nil {
			if errors.Is(err, unix.EPERM) {
				err = errors.Join(ErrPermission, err)
			}
			return fmt.Errorf("auditstream: set %s: %w", what, err)
		}
		return nil
	}
	if changeLimit {
		if err := set("backlog_limit", &g.limit, func() error { return ctl.SetBacklogLimit(limit, libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	if changeWait {
		if err := set("backlog_wait_time", &g.wait, func() error { return ctl.SetBacklogWaitTime(waitTime, libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	dc := &libaudit.AuditClient{Netlink: data}
	if err := set("pid", &g.pid, func() error { return dc.SetPID(libaudit.WaitForReply) }); err != nil {
		if errors.Is(err, unix.EEXIST) {
			g.mu.Lock()
			g.pid = false // not ours: never unregister someone else
			g.mu.Unlock()
			if now, gerr := getStatus(ctl); gerr == nil && now.PID != 0 {
				return pidTaken(now.PID)
			}
			return fmt.Errorf("%w: %w", ErrAuditPIDTaken, err)
		}
		return err
	}
	if st.Enabled == 0 {
		if err := set("enabled", &g.enabled, func() error { return ctl.SetEnabled(true, libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	return nil
}
