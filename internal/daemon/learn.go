package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/propose"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
)

// Learning inside the daemon (`seccompwatch learn UNIT --daemon`): the
// daemon, which holds CAP_BPF and CAP_PERFMON anyway, runs the
// observation (internal/observe) for a root client and answers with what
// it saw, as data (LearnReply); the client proposes from it. Only on the
// unix socket (--web.unix-socket: mode 0600 in the service's runtime
// directory), only for a peer whose SO_PEERCRED uid is 0, only with
// --learn.enable; at most --learn.max-concurrent at once, each at most
// --learn.max-duration. The program is detached and its maps freed when
// the window ends, when the client goes away (its connection closes) and
// when the daemon stops (then the answer says so and holds what was seen).

// LearnPath is the unix socket's learn endpoint: POST LearnPath+UNIT
// ?for=DURATION[&cgroup=DIR].
const LearnPath = "/api/v1/learn/"

// LearnReply is the answer of a learn in the daemon.
type LearnReply struct {
	Unit string `json:"unit"`
	// Cgroup is the cgroup2 directory watched.
	Cgroup string `json:"cgroup"`
	// WindowSeconds is how long it was watched.
	WindowSeconds float64 `json:"window_seconds"`
	// Interrupted says why the window ended early ("" when it did not).
	Interrupted string `json:"interrupted,omitempty"`
	// SystemdVersion is the unit's systemd version whose rules chose the
	// counted calls (0: unknown, the bundled default's).
	SystemdVersion int                 `json:"systemd_version"`
	Observation    observe.Observation `json:"observation"`
	Stats          observe.Stats       `json:"stats"`
}

// learns bounds and tracks the learns running in the daemon.
type learns struct {
	slots chan struct{}
	mu    sync.Mutex
	// running maps each learn to its kernel ids (for tests and the log).
	running map[*observe.Observer]string
}

func newLearns(n int) *learns {
	return &learns{slots: make(chan struct{}, max(n, 1)), running: map[*observe.Observer]string{}}
}

// observers returns the running learns' observers.
func (l *learns) observers() []*observe.Observer {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*observe.Observer, 0, len(l.running))
	for o := range l.running {
		out = append(out, o)
	}
	return out
}

type peerKey struct{}

// peerContext stores the SO_PEERCRED of a unix connection in its
// requests' context.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	if raw.Control(func(fd uintptr) { cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }) != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, cred)
}

func learnError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, format+"\n", args...)
}

// learnRefused answers the TCP listener's learn requests.
func learnRefused(w http.ResponseWriter, _ *http.Request) {
	learnError(w, http.StatusForbidden, "learn is served only on the daemon's unix socket (--web.unix-socket), to root: seccompwatch learn UNIT --daemon")
}

// handleLearn serves POST LearnPath{unit} on the unix socket.
func (d *Daemon) handleLearn(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.LearnEnable {
		learnError(w, http.StatusForbidden, "learning in the daemon is off: start it with --learn.enable")
		return
	}
	cred, _ := r.Context().Value(peerKey{}).(*unix.Ucred)
	if cred == nil || cred.Uid != 0 {
		learnError(w, http.StatusForbidden, "learn in the daemon is for root only")
		return
	}
	unit := r.PathValue("unit")
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		learnError(w, http.StatusBadRequest, "%v", err)
		return
	}
	window, err := time.ParseDuration(r.URL.Query().Get("for"))
	if err != nil || window <= 0 {
		learnError(w, http.StatusBadRequest, "for: want a positive duration, e.g. for=10m")
		return
	}
	if window > d.cfg.LearnMaxDuration {
		learnError(w, http.StatusBadRequest, "for: %s is longer than the daemon's --learn.max-duration %s", window, d.cfg.LearnMaxDuration)
		return
	}
	select {
	case d.learns.slots <- struct{}{}:
		defer func() { <-d.learns.slots }()
	default:
		learnError(w, http.StatusTooManyRequests, "%d learn(s) already running (--learn.max-concurrent)", cap(d.learns.slots))
		return
	}
	ctx := r.Context()
	mount, err := observe.Cgroup2Mount()
	if err != nil {
		learnError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	dir := r.URL.Query().Get("cgroup")
	if dir != "" {
		dir = filepath.Clean(dir)
	} else {
		if d.cfg.DBusAddress == "none" {
			learnError(w, http.StatusBadRequest, "the daemon has no D-Bus (--dbus.address=none) to find %s's cgroup: give cgroup=", unit)
			return
		}
		cg, err := unitprops.ControlGroup(ctx, d.cfg.DBusAddress, unit)
		if err != nil {
			learnError(w, http.StatusNotFound, "cannot find %s's cgroup: %v", unit, err)
			return
		}
		dir = filepath.Join(mount, cg)
	}
	p, _ := d.props.Props(ctx, unit)
	ob, err := observe.New(observe.Options{Count: propose.CountedCalls(d.table, p.Sandbox.Version)})
	if err != nil {
		code := http.StatusServiceUnavailable
		learnError(w, code, "cannot observe here: %v", err)
		return
	}
	defer ob.Close()
	// Loading parsed the kernel's BTF (megabytes): give it back once the
	// learn is over rather than carry it in the resident set.
	defer debug.FreeOSMemory()
	id, err := ob.Add(mount, dir)
	if err != nil {
		learnError(w, http.StatusBadRequest, "%v", err)
		return
	}
	d.learns.mu.Lock()
	d.learns.running[ob] = unit
	d.learns.mu.Unlock()
	defer func() {
		d.learns.mu.Lock()
		delete(d.learns.running, ob)
		d.learns.mu.Unlock()
	}()
	log := d.log.With(zap.String("unit", unit), zap.String("cgroup", dir), zap.Int32("client_pid", cred.Pid))
	log.Info("learn started", zap.Duration("for", window))
	start := time.Now()
	timer := time.NewTimer(window)
	defer timer.Stop()
	reply := LearnReply{Unit: unit, Cgroup: dir, SystemdVersion: p.Sandbox.Version}
	select {
	case <-timer.C:
	case <-ctx.Done():
		// The client went away (Ctrl-C, killed): nobody to answer; the
		// deferred Close detaches the program and frees its maps.
		log.Info("learn cancelled: the client went away", zap.Duration("after", time.Since(start).Round(time.Millisecond)))
		return
	case <-d.runDone:
		reply.Interrupted = "daemon stopping"
	}
	reply.WindowSeconds = time.Since(start).Round(time.Millisecond).Seconds()
	if reply.Interrupted == "" {
		reply.WindowSeconds = window.Seconds()
	}
	obs, st, err := ob.Snapshot()
	cerr := ob.Close()
	if err == nil && cerr != nil {
		err = fmt.Errorf("detach: %w", cerr)
	}
	if err != nil {
		log.Warn("learn failed", zap.Error(err))
		learnError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	reply.Observation, reply.Stats = *obs[id], st
	log.Info("learn ended", zap.Uint64("calls", reply.Observation.Calls), zap.Int("processes", reply.Observation.Processes),
		zap.Uint64("events_lost", st.EventsLost), zap.String("interrupted", reply.Interrupted))
	// The answer is small; a client that does not read it gets 30 s.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Second))
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(reply); err != nil && !errors.Is(err, context.Canceled) {
		log.Info("learn answer not delivered", zap.Error(err))
	}
}
