//go:build linux

package auditstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/state"
)

// AuditStateFile is the name, under the daemon's state directory, of the
// record of the kernel audit state that a unicast run is about to change.
const AuditStateFile = "audit-state.json"

// The fields a unicast run changes, as its record names them.
const (
	FieldBacklogLimit    = "backlog_limit"
	FieldBacklogWaitTime = "backlog_wait_time"
	FieldPID             = "pid"
	FieldEnabled         = "enabled"
)

// ErrStateLocked reports that another live process (a running unicast
// daemon) holds the lock beside the audit-state record: it restores the
// state itself when it ends.
var ErrStateLocked = errors.New("auditstream: a running seccompwatch holds the audit-state record")

// auditRecord is the JSON of the audit-state record. It is written before
// the first change and removed once every change is undone, so that its
// presence at start means a run changed the kernel and did not restore it
// (SIGKILL, OOM, SIGABRT from the watchdog, a fatal runtime error).
type auditRecord struct {
	Version int       `json:"version"`
	PID     int       `json:"pid"` // the process that changed the kernel
	Time    time.Time `json:"time"`
	Saved   struct {
		Enabled         uint32 `json:"enabled"`
		PID             uint32 `json:"pid"`
		BacklogLimit    uint32 `json:"backlog_limit"`
		BacklogWaitTime uint32 `json:"backlog_wait_time"`
	} `json:"saved"`
	Changed []string `json:"changed"`
}

func (r *auditRecord) saved() AuditState {
	return AuditState{Enabled: r.Saved.Enabled, PID: r.Saved.PID, BacklogLimit: r.Saved.BacklogLimit, BacklogWaitTime: r.Saved.BacklogWaitTime}
}

func writeRecord(path string, saved AuditState, changed []string) error {
	var r auditRecord
	r.Version, r.PID, r.Time, r.Changed = 1, os.Getpid(), time.Now().UTC(), changed
	r.Saved.Enabled, r.Saved.PID, r.Saved.BacklogLimit, r.Saved.BacklogWaitTime = saved.Enabled, saved.PID, saved.BacklogLimit, saved.BacklogWaitTime
	if err := state.Save(path, r); err != nil {
		// %v, not %w: the whole sentence is the message, not the
		// path error inside it.
		return fmt.Errorf("cannot record the kernel audit state before changing it, so nothing was changed (%v); make --state.dir writable, or run without --state.dir to keep it in memory only", err)
	}
	return nil
}

func removeRecord(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("auditstream: remove %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// stateLock is an exclusive flock on path+".lock", held by a unicast run
// for its lifetime; the kernel releases it when the process dies, however
// it dies.
type stateLock struct{ f *os.File }

func lockState(path string) (*stateLock, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit-state lock: %v", err) // %v: callers say what it was for
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s.lock)", ErrStateLocked, path)
		}
		return nil, fmt.Errorf("auditstream: audit-state lock %s.lock: %w", path, err)
	}
	return &stateLock{f: f}, nil
}

func (l *stateLock) unlock() {
	if l != nil && l.f != nil {
		_ = l.f.Close() // closing drops the flock
		l.f = nil
	}
}

// Recovery says what RecoverAuditState found and did.
type Recovery struct {
	// Found is true when a previous run's record was there (also when it
	// was damaged).
	Found bool
	// PID is the process that wrote it; Saved the state before its
	// change; Restored the fields put back.
	PID      int
	Saved    AuditState
	Restored []string
	// Skipped, when not empty, says why nothing was changed (another audit
	// daemon registered since); the record is removed then.
	Skipped string
}

// RecoverAuditState restores the kernel audit state that a previous unicast
// run recorded in path (see Options.StateFile) and did not put back, then
// removes the record. No record: nothing to do. A damaged record is moved
// aside (path.corrupt-<unix time>) and the error, wrapping state.ErrCorrupt,
// names it. It refuses (ErrStateLocked) while a unicast run holds the
// record, and changes nothing when another live audit daemon has
// registered since (its own settings are then in force). Needs
// CAP_AUDIT_CONTROL when there is something to restore.
func RecoverAuditState(path string) (Recovery, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return Recovery{}, nil // nothing to restore; no lock file made
	}
	l, err := lockState(path)
	if err != nil {
		if !errors.Is(err, ErrStateLocked) {
			err = fmt.Errorf("auditstream: cannot restore the kernel audit state recorded in %s: %w", path, err)
		}
		return Recovery{Found: true}, err
	}
	defer l.unlock()
	return recoverLocked(path)
}

func recoverLocked(path string) (Recovery, error) {
	var rec auditRecord
	err := state.Load(path, &rec)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Recovery{}, nil
	case err != nil:
		return Recovery{Found: true}, fmt.Errorf("auditstream: the record of a previous run's kernel audit state cannot be read, so it cannot be restored: check `auditctl -s` (enabled, backlog_limit, backlog_wait_time): %w", err)
	case rec.Version != 1:
		return Recovery{Found: true}, fmt.Errorf("auditstream: %s: unknown version %d; left in place", path, rec.Version)
	}
	r := Recovery{Found: true, PID: rec.PID, Saved: rec.saved()}
	now, err := ReadAuditState()
	if err != nil {
		return r, err
	}
	if now.PID != 0 && int(now.PID) != rec.PID && processAlive(now.PID) {
		holder := pidTaken(now.PID)
		r.Skipped = fmt.Sprintf("audit pid is now held by pid %d (%s), which registered after pid %d's run: its settings are left alone", holder.PID, holder.Comm, rec.PID)
		return r, removeRecord(path)
	}
	g := stateGuard{saved: r.Saved}
	for _, f := range rec.Changed {
		switch f {
		case FieldPID:
			g.pid = true
		case FieldEnabled:
			g.enabled = true
		case FieldBacklogLimit:
			g.limit = true
		case FieldBacklogWaitTime:
			g.wait = true
		default:
			return r, fmt.Errorf("auditstream: %s: unknown field %q; left in place", path, f)
		}
	}
	if err := g.restore(); err != nil {
		if errors.Is(err, unix.EPERM) {
			err = errors.Join(ErrPermission, err)
		}
		return r, err
	}
	r.Restored = slices.Clone(rec.Changed)
	return r, removeRecord(path)
}

// String says what was done, for logs and the audit-restore command.
func (r Recovery) String() string {
	switch {
	case !r.Found:
		return "no unrestored kernel audit state recorded"
	case r.Skipped != "":
		return r.Skipped
	case len(r.Restored) == 0:
		return "previous run (pid " + strconv.Itoa(r.PID) + ") changed nothing"
	}
	return fmt.Sprintf("restored %s left by pid %d: enabled=%d backlog_limit=%d backlog_wait_time=%d",
		strings.Join(r.Restored, ", "), r.PID, r.Saved.Enabled, r.Saved.BacklogLimit, r.Saved.BacklogWaitTime)
}
