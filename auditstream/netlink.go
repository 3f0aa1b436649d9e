//go:build linux

package auditstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/auparse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/guard"
	"github.com/seccompwatch/seccompwatch/internal/state"
)

// The live audit modes.
const (
	// ModeMulticast is a passive, read-only subscription to the audit log
	// multicast group (AUDIT_NLGRP_READLOG). It needs only CAP_AUDIT_READ,
	// changes no kernel audit state and coexists with auditd and journald.
	ModeMulticast = "multicast"
	// ModeUnicast registers this process as the host's audit daemon. It
	// needs CAP_AUDIT_CONTROL, refuses when another daemon is registered,
	// and restores the kernel state it changed on every exit path.
	ModeUnicast = "unicast"
)

// Defaults used by NewSource for zero Options fields.
const (
	DefaultRcvBufBytes    = 64 << 20
	DefaultBacklogLimit   = 8192
	DefaultStatusInterval = 5 * time.Second
)

// Loss sources, the keys of LiveStats.Lost.
const (
	LostENOBUFS   = "enobufs"    // receive overflows (each drops one or more records)
	LostSerialGap = "serial_gap" // events whose serial never arrived
	LostKernel    = "kernel"     // growth of the kernel's lost counter since start
)

// BacklogWaitNever, as Options.BacklogWaitTime, sets the kernel's
// backlog_wait_time to 0 while a unicast source runs.
const BacklogWaitNever int32 = -1

const auditSeccomp = 1326 // AUDIT_SECCOMP

// Options configure a Source. The zero value is a multicast source with
// the defaults above.
type Options struct {
	// Mode is ModeMulticast (default when empty) or ModeUnicast.
	Mode string
	// RcvBufBytes is the socket receive buffer to ask for (default
	// DefaultRcvBufBytes). SO_RCVBUFFORCE is used when the process has
	// CAP_NET_ADMIN, else SO_RCVBUF, which the kernel caps at
	// net.core.rmem_max. LiveStats.RcvBufBytes reports what the kernel gave
	// (it doubles the request for bookkeeping).
	RcvBufBytes int
	// BacklogLimit is the kernel backlog_limit while a unicast source runs
	// (default DefaultBacklogLimit).
	BacklogLimit uint32
	// BacklogWaitTime is the kernel backlog_wait_time in jiffies while a
	// unicast source runs: how long an audited task may block when the
	// backlog is full (a reader slower than the workload throttles it, and
	// nothing is lost). 0 keeps the kernel's current value (the kernel's
	// default is 60 s); BacklogWaitNever sets 0: tasks never block, and at
	// the backlog limit the kernel drops records and counts them as lost.
	BacklogWaitTime int32
	// StatusInterval is how often the kernel's lost and backlog counters
	// are read (default DefaultStatusInterval).
	StatusInterval time.Duration
	// Logger receives lifecycle and loss messages (nil: no logging).
	Logger *zap.Logger
	// StateFile is where a unicast source records the kernel audit state
	// before it changes anything (atomically; removed once restored), so
	// that a run that dies without restoring (SIGKILL, OOM, SIGABRT) is
	// undone by RecoverAuditState at the next start or by `seccompwatch
	// audit-restore`. The source holds StateFile+".lock" while it runs
	// and, before registering, restores what a previous run left there.
	// "" keeps the saved state in memory only.
	StateFile string
	// Drained, when set, is called on the read loop after it has read the
	// socket empty following records, before it pauses or sleeps: where a
	// sink that buffers (the event stream) writes through without a
	// wake-up of its own.
	Drained func()
}

// LiveStats is a snapshot of a live Source's counters.
type LiveStats struct {
	Mode      string
	Connected bool // the socket is open and being read
	// RcvBufBytes is the receive buffer the kernel granted (SO_RCVBUF).
	RcvBufBytes int
	// RcvBufForced tells whether SO_RCVBUFFORCE (CAP_NET_ADMIN) was used.
	RcvBufForced bool
	// Records counts every record read, by audit record type name
	// ("SECCOMP", "ANOM_ABEND", ...).
	Records map[string]uint64
	// ParseErrors counts SECCOMP records ParseKernel rejected, by reason.
	ParseErrors map[string]uint64
	// Lost counts losses by source: LostENOBUFS (overflow events),
	// LostSerialGap (events), LostKernel (records). All keys are present.
	Lost map[string]uint64
	// PendingSerialGap is the number of missing serials not yet counted
	// (held for a grace period in case they arrive late).
	PendingSerialGap uint64
	// Rejected counts datagrams not from the kernel or too short.
	Rejected uint64
	// KernelStatus tells whether the kernel's lost/backlog counters can be
	// read (CAP_AUDIT_CONTROL); KernelBacklog and Lost[LostKernel] are
	// meaningful only then.
	KernelStatus  bool
	KernelBacklog uint32
	// LastReceive is when the last record was read (zero: none yet).
	LastReceive time.Time
}

const maxTypeIndex = 3000 // audit record types are below this

// Source reads audit records live from the kernel. Create it with
// NewSource and call Run once. Stats and Restore may be called from any
// goroutine at any time.
type Source struct {
	opts Options
	log  *zap.Logger

	connected    atomic.Bool
	rcvbuf       atomic.Int64
	rcvbufForced atomic.Bool
	types        [maxTypeIndex]atomic.Uint64
	otherTypes   sync.Map // uint16 -> *atomic.Uint64, for types >= maxTypeIndex
	enobufs      atomic.Uint64
	serialGap    atomic.Uint64
	pendingGap   atomic.Uint64
	rejected     atomic.Uint64
	kernelOK     atomic.Bool
	kernelLost   atomic.Uint64
	backlog      atomic.Uint32
	lastRecv     atomic.Int64 // unix nanoseconds

	parseMu     sync.Mutex
	parseErrors map[string]*atomic.Uint64

	guard stateGuard
	ran   atomic.Bool

	// Read loop only: when a serial gap was last logged, and the losses
	// counted since; the SECCOMP bodies parsed last.
	gapLogged   time.Time
	gapUnlogged uint64
	memo        kernelMemo
}

// NewSource validates opts and returns a Source. It opens nothing yet.
func NewSource(opts Options) (*Source, error) {
	switch opts.Mode {
	case "":
		opts.Mode = ModeMulticast
	case ModeMulticast, ModeUnicast:
	default:
		return nil, fmt.Errorf("auditstream: unknown audit mode %q (want %q or %q)", opts.Mode, ModeMulticast, ModeUnicast)
	}
	if opts.RcvBufBytes == 0 {
		opts.RcvBufBytes = DefaultRcvBufBytes
	}
	if opts.BacklogLimit == 0 {
		opts.BacklogLimit = DefaultBacklogLimit
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = DefaultStatusInterval
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{opts: opts, log: log.Named("auditstream"), parseErrors: map[string]*atomic.Uint64{}}, nil
}

// Restore puts back any kernel audit state a unicast source changed
// (pid, enabled, backlog_limit, backlog_wait_time). Run calls it on every
// return; call it also from a deferred recover in main so that a panic
// elsewhere in the pipeline does not leave the host's audit configured for
// a dead daemon. It is idempotent and safe for concurrent use; for a
// multicast source it does nothing.
func (s *Source) Restore() error { return s.guard.restore() }

// Run reads records until ctx is cancelled (then it returns nil) or a
// fatal error. For each SECCOMP record it calls out synchronously with the
// record decoded by ParseKernel and the raw payload ("audit(…): …"), which
// is valid only until out returns. Records of all types are counted;
// losses are counted and logged, never fatal. Run may be called once.
func (s *Source) Run(ctx context.Context, out func(Record, []byte)) (err error) {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("auditstream: Source.Run called twice")
	}
	var sock *nlSocket
	var stash [][]byte
	switch s.opts.Mode {
	case ModeMulticast:
		sock, err = s.open(libaudit.NetlinkGroupReadLog)
		if err != nil {
			return err
		}
	case ModeUnicast:
		if f := s.opts.StateFile; f != "" {
			lock, lerr := lockState(f)
			if lerr != nil {
				if !errors.Is(lerr, ErrStateLocked) {
					lerr = fmt.Errorf("cannot record the kernel audit state before changing it, so nothing was changed (%w); make --state.dir writable, or run without --state.dir to keep it in memory only", lerr)
				}
				return lerr
			}
			defer lock.unlock() // after the restore below
			r, rerr := recoverLocked(f)
			switch {
			case errors.Is(rerr, state.ErrCorrupt):
				s.log.Warn("a previous run's kernel audit state could not be restored", zap.Error(rerr))
			case rerr != nil:
				return fmt.Errorf("auditstream: a previous run's kernel audit state is still to be restored; not changing it again: %w", rerr)
			case r.Found:
				s.log.Warn("kernel audit state of a previous run that did not restore it", zap.String("recovery", r.String()))
			}
			s.guard.file = f
		}
		defer func() {
			if rerr := s.Restore(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}()
		ctl, cerr := libaudit.NewAuditClient(nil)
		if cerr != nil {
			if errors.Is(cerr, unix.EPERM) {
				cerr = errors.Join(ErrPermission, cerr)
			}
			return fmt.Errorf("auditstream: open audit control socket: %w", cerr)
		}
		sock, err = s.open(libaudit.NetlinkGroupNone)
		if err != nil {
			ctl.Close()
			return err
		}
		err = s.guard.register(ctl, sock, s.opts.BacklogLimit, s.opts.BacklogWaitTime)
		ctl.Close()
		if err != nil {
			sock.Close()
			return err
		}
		s.log.Info("registered as audit daemon",
			zap.Uint32("saved_enabled", s.guard.saved.Enabled),
			zap.Uint32("saved_backlog_limit", s.guard.saved.BacklogLimit),
			zap.Uint32("saved_backlog_wait_time", s.guard.saved.BacklogWaitTime),
			zap.Uint32("backlog_limit", s.opts.BacklogLimit),
			zap.Int32("backlog_wait_time", s.opts.BacklogWaitTime))
		stash, sock.stash = sock.stash, nil
	}
	defer sock.Close()

	// Kernel counters on a separate control socket, so that the read
	// socket's back-pressure never hides them.
	statusDone := make(chan struct{})
	statusCtx, stopStatus := context.WithCancel(ctx)
	guard.Go(func() {
		defer close(statusDone)
		s.pollStatus(statusCtx)
	})
	defer func() {
		stopStatus()
		<-statusDone
	}()

	s.connected.Store(true)
	defer s.connected.Store(false)
	return s.readLoop(ctx, sock, stash, out)
}

func (s *Source) open(groups uint32) (*nlSocket, error) {
	sock, got, forced, err := openSocket(groups, s.opts.RcvBufBytes)
	if err != nil {
		return nil, err
	}
	s.rcvbuf.Store(int64(got))
	s.rcvbufForced.Store(forced)
	s.log.Info("audit netlink socket open",
		zap.String("mode", s.opts.Mode),
		zap.Int("rcvbuf_bytes", got),
		zap.Bool("rcvbuf_force", forced),
		zap.Int("rcvbuf_requested", s.opts.RcvBufBytes))
	if !forced && got < s.opts.RcvBufBytes {
		s.log.Warn("receive buffer smaller than requested (no CAP_NET_ADMIN for SO_RCVBUFFORCE; capped by net.core.rmem_max): bursts may overflow and lose records",
			zap.Int("rcvbuf_bytes", got), zap.Int("rcvbuf_requested", s.opts.RcvBufBytes))
	}
	return sock, nil
}

// readLoop drains the socket with non-blocking reads and sleeps in poll
// on the socket and an eventfd that ctx cancellation writes to (closing a
// socket does not wake a blocked recvfrom on Linux).
func (s *Source) readLoop(ctx context.Context, sock *nlSocket, stash [][]byte, out func(Record, []byte)) error {
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("auditstream: eventfd: %w", err)
	}
	loopDone := make(chan struct{})
	wakerDone := make(chan struct{})
	defer func() {
		// The waker may be about to write: close the eventfd only after
		// it has gone, or the write lands in a file that reuses the fd.
		close(loopDone)
		<-wakerDone
		unix.Close(wake)
	}()
	guard.Go(func() {
		defer close(wakerDone)
		select {
		case <-ctx.Done():
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			_, _ = unix.Write(wake, one[:])
		case <-loopDone:
		}
	})

	tr := newSerialTracker()
	defer func() {
		if s.gapUnlogged > 0 {
			s.log.Warn("audit events lost on the way to this reader (serial gap)",
				zap.Uint64("lost", s.gapUnlogged), zap.Uint64("serial_gap_total", s.serialGap.Load()))
			s.gapUnlogged = 0
		}
	}()
	now := time.Now()
	for _, d := range stash {
		s.handle(d, tr, now, out)
	}
	b := newRecvBatch(recvBatchLen)
	pfd := []unix.PollFd{{Fd: int32(sock.fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	var enobufsLogged time.Time
	read := len(stash) // datagrams read since the last sleep (Drained follows them)
	for {
		n, err := sock.recvMany(b)
		switch {
		case err == nil:
			now = time.Now()
			s.lastRecv.Store(now.UnixNano())
			for i := range n {
				d, from, cut := b.datagram(i)
				if from != 0 {
					s.rejected.Add(1)
					continue
				}
				s.handleCut(d, cut, tr, now, out)
			}
			read += n
			if ctx.Err() != nil {
				return nil
			}
			continue
		case errors.Is(err, unix.ENOBUFS):
			// The socket overflowed: the kernel dropped one or more
			// records for this socket. Count it and keep reading.
			s.enobufs.Add(1)
			if t := time.Now(); t.Sub(enobufsLogged) >= time.Second {
				enobufsLogged = t
				s.log.Warn("audit receive buffer overflowed (ENOBUFS): records lost",
					zap.Uint64("enobufs_total", s.enobufs.Load()), zap.Int64("rcvbuf_bytes", s.rcvbuf.Load()))
			}
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
		default:
			return fmt.Errorf("auditstream: receive: %w", err)
		}
		// The socket is empty: account for what was read, then sleep.
		now = time.Now()
		s.addGapLoss(tr.flush(now))
		s.pendingGap.Store(tr.pending())
		if ctx.Err() != nil {
			return nil
		}
		if read > 0 && s.opts.Drained != nil {
			s.opts.Drained()
		}
		if d := s.coalesce(read); d > 0 {
			// Records are arriving: let the next ones gather for a
			// moment, so that a wake-up reads a batch instead of one
			// record (the wake-ups, not the records, are then the
			// reader's cost). A runtime timer, not poll(2) with a
			// timeout: a thread blocked in a system call has its P
			// handed off and restarts the runtime's sysmon at its
			// fastest period, which cost more than the records.
			read = 0
			pause.Reset(d)
			select {
			case <-ctx.Done():
				return nil
			case <-pause.C:
			}
			continue
		}
		read = 0
		timeout := -1
		if len(tr.gaps) > 0 {
			timeout = int(tr.grace / time.Millisecond)
		}
		if _, err := unix.Poll(pfd, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("auditstream: poll: %w", err)
		}
		if pfd[1].Revents != 0 {
			return nil
		}
	}
}

// coalesce returns how long the read loop pauses after a wake-up that
// read n datagrams before it reads again, 0 for none:
//   - none after a wake-up that read nothing: the next record is read as
//     soon as it comes, so the first record after a quiet spell has no
//     added delay;
//   - coalesceLow after one that read a few (ordinary rates, where each
//     wake-up would otherwise read one record and its cost is the
//     wake-up's): at 1,000 records/s about ten records a wake-up;
//   - coalesceDelay after one that read coalesceAfter or more (a storm).
//
// Each adds at most that long to a record's way to the sinks. A pause is
// taken only when the receive buffer holds what a storm makes meanwhile
// (minPauseRcvBuf); with a smaller one (no CAP_NET_ADMIN, rmem_max) the
// loop reads as records come, as losing none matters more than its CPU.
func (s *Source) coalesce(n int) time.Duration {
	switch {
	case n == 0 || s.rcvbuf.Load() < minPauseRcvBuf:
		return 0
	case n < coalesceAfter:
		return coalesceLow
	default:
		return coalesceDelay
	}
}

// The read loop's pauses (coalesce). minPauseRcvBuf is SO_RCVBUF as the
// kernel reports it (twice what was asked for): a queued SECCOMP record
// takes ~1.4 KiB of it (the skb's truesize; /proc/net/netlink's Rmem was
// 2,808,000 for ~2,000 records queued to a stopped reader), so 16 MiB hold
// ~12,000 records, 10 ms of a storm at 1.2 M records/s (this host's storms
// make ~200,000).
const (
	coalesceAfter  = 16
	coalesceDelay  = 2 * time.Millisecond
	coalesceLow    = 10 * time.Millisecond
	minPauseRcvBuf = 16 << 20
)

// addGapLoss counts n events lost to a serial gap; it logs at most once a
// second (in a storm every datagram can count a hole), with the losses
// since the last line. Only the read loop calls it.
func (s *Source) addGapLoss(n uint64) {
	if n == 0 {
		return
	}
	s.serialGap.Add(n)
	s.gapUnlogged += n
	if t := time.Now(); t.Sub(s.gapLogged) >= time.Second {
		s.gapLogged = t
		s.log.Warn("audit events lost on the way to this reader (serial gap)",
			zap.Uint64("lost", s.gapUnlogged), zap.Uint64("serial_gap_total", s.serialGap.Load()))
		s.gapUnlogged = 0
	}
}

// handle accounts for one datagram and hands a SECCOMP record to out.
// Kernel-sent audit messages have an nlmsg_len that excludes the header:
// the payload is the whole datagram after the 16-byte header.
func (s *Source) handle(d []byte, tr *serialTracker, now time.Time, out func(Record, []byte)) {
	s.handleCut(d, false, tr, now, out)
}

// handleCut is handle for a datagram that may have been cut to fit the
// receive slot (cut): it is counted and its serial tracked as any other,
// but a cut SECCOMP record is a parse error (truncated), never a record
// read from part of its fields.
func (s *Source) handleCut(d []byte, cut bool, tr *serialTracker, now time.Time, out func(Record, []byte)) {
	if len(d) < unix.NLMSG_HDRLEN {
		s.rejected.Add(1)
		return
	}
	typ := binary.NativeEndian.Uint16(d[4:6])
	payload := d[unix.NLMSG_HDRLEN:]
	for len(payload) > 0 && (payload[len(payload)-1] == 0 || payload[len(payload)-1] == '\n') {
		payload = payload[:len(payload)-1]
	}
	s.countType(typ)
	if serial, ok := ParseSerial(payload); ok {
		held := tr.pending()
		s.addGapLoss(tr.observe(uint32(serial), now))
		// Publish a changed hole count before out sees the record, so
		// that a reader of Stats who has the record also sees its gap.
		if p := tr.pending(); p != held {
			s.pendingGap.Store(p)
		}
	}
	if typ != auditSeccomp {
		return
	}
	if cut {
		s.countParseError(errTruncated)
		return
	}
	rec, err := s.memo.parse(payload)
	if err != nil {
		s.countParseError(err)
		return
	}
	out(rec, payload)
}

func (s *Source) countType(typ uint16) {
	if int(typ) < maxTypeIndex {
		s.types[typ].Add(1)
		return
	}
	c, ok := s.otherTypes.Load(typ)
	if !ok {
		c, _ = s.otherTypes.LoadOrStore(typ, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

func (s *Source) countParseError(err error) {
	reason := parseErrorReason(err)
	s.parseMu.Lock()
	c, ok := s.parseErrors[reason]
	if !ok {
		c = new(atomic.Uint64)
		s.parseErrors[reason] = c
	}
	s.parseMu.Unlock()
	c.Add(1)
	s.log.Debug("SECCOMP record not parsed", zap.String("reason", reason), zap.Error(err))
}

// statusReader reads the kernel's audit status on a control socket of
// its own. After a failed read it opens a new socket for the next one: a
// reply that came too late for go-libaudit (it waits 0.5 s) stays queued
// on the old socket, and every later read would take that stale reply,
// see the wrong sequence number and fail, so that the kernel's lost
// counter would never be read again (seen on a loaded host).
type statusReader struct {
	c *libaudit.AuditClient
}

func newStatusReader() (*statusReader, error) {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return nil, err
	}
	return &statusReader{c: c}, nil
}

func (r *statusReader) read() (*libaudit.AuditStatus, error) {
	if r.c == nil {
		c, err := libaudit.NewAuditClient(nil)
		if err != nil {
			return nil, fmt.Errorf("auditstream: reopen audit control socket: %w", err)
		}
		r.c = c
	}
	st, err := getStatus(r.c)
	if err != nil {
		r.c.Close()
		r.c = nil
	}
	return st, err
}

func (r *statusReader) close() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// pollStatus reads the kernel's lost and backlog counters every
// StatusInterval until ctx ends, and once more at the end.
func (s *Source) pollStatus(ctx context.Context) {
	r, err := newStatusReader()
	if err != nil {
		s.log.Warn("kernel audit lost/backlog counters unavailable", zap.Error(err))
		return
	}
	defer r.close()
	st, err := r.read()
	if err != nil {
		if errors.Is(err, ErrPermission) {
			s.log.Warn("no CAP_AUDIT_CONTROL: kernel audit lost/backlog counters unavailable (records dropped at the kernel backlog limit will not be counted)")
		} else {
			s.log.Warn("kernel audit lost/backlog counters unavailable", zap.Error(err))
		}
		return
	}
	prev := st.Lost
	s.backlog.Store(st.Backlog)
	s.kernelOK.Store(true)
	var failLogged time.Time
	update := func() bool {
		st, err := r.read()
		if err != nil {
			// Logged at most once a minute: the read is retried on a new
			// socket at the next tick, and the lost counter's growth in
			// between is counted by the next read that succeeds.
			if t := time.Now(); t.Sub(failLogged) >= time.Minute {
				failLogged = t
				s.log.Warn("read kernel audit status (retried on a new socket)", zap.Error(err))
			}
			return false
		}
		var grew uint64
		if st.Lost >= prev {
			grew = uint64(st.Lost - prev)
		} else {
			grew = uint64(st.Lost) // counter was reset
		}
		prev = st.Lost
		s.backlog.Store(st.Backlog)
		if grew > 0 {
			s.kernelLost.Add(grew)
			s.log.Warn("kernel dropped audit records (lost counter grew)",
				zap.Uint64("lost", grew), zap.Uint64("kernel_lost_total", s.kernelLost.Load()), zap.Uint32("backlog", st.Backlog))
		}
		return true
	}
	t := time.NewTicker(s.opts.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if !update() {
				update() // on a new socket
			}
			return
		case <-t.C:
			guard.Failpoint("panic-in-status-poller")
			update()
		}
	}
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() LiveStats {
	st := LiveStats{
		Mode:         s.opts.Mode,
		Connected:    s.connected.Load(),
		RcvBufBytes:  int(s.rcvbuf.Load()),
		RcvBufForced: s.rcvbufForced.Load(),
		Records:      map[string]uint64{},
		ParseErrors:  map[string]uint64{},
		Lost: map[string]uint64{
			LostENOBUFS:   s.enobufs.Load(),
			LostSerialGap: s.serialGap.Load(),
			LostKernel:    s.kernelLost.Load(),
		},
		PendingSerialGap: s.pendingGap.Load(),
		Rejected:         s.rejected.Load(),
		KernelStatus:     s.kernelOK.Load(),
		KernelBacklog:    s.backlog.Load(),
	}
	if ns := s.lastRecv.Load(); ns != 0 {
		st.LastReceive = time.Unix(0, ns)
	}
	for i := range s.types {
		if n := s.types[i].Load(); n > 0 {
			st.Records[auparse.AuditMessageType(i).String()] += n
		}
	}
	s.otherTypes.Range(func(k, v any) bool {
		st.Records[auparse.AuditMessageType(k.(uint16)).String()] += v.(*atomic.Uint64).Load()
		return true
	})
	s.parseMu.Lock()
	for r, c := range s.parseErrors {
		st.ParseErrors[r] = c.Load()
	}
	s.parseMu.Unlock()
	return st
}

// parseErrorReason maps a ParseKernel error to its bounded reason label.
func parseErrorReason(err error) string {
	var pe *ParseError
	if errors.As(err, &pe) && pe.Reason != "" {
		return pe.Reason
	}
	return "other"
}
