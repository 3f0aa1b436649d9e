// Package eventlog writes the denial event stream (--events.file): one JSON
// object per line in the record schema, unsampled, for SIEM forwarding. The
// file is opened for append and reopened on request (SIGHUP, after
// logrotate moved it). Write errors (a full disk, a removed directory) are
// counted and reported; the writer keeps going and retries on the next
// event.
package eventlog

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/guard"
)

// FlushDelay bounds how long an event waits in the buffer: the first event
// after a flush arms a timer that writes the buffer through. Under a storm
// the buffer fills and is written sooner; idle, nothing wakes up.
const FlushDelay = 10 * time.Millisecond

// bufSize is how many bytes of events are buffered before they are written
// through without waiting for a flush.
const bufSize = 64 << 10

// Writer appends events to a file or to standard output. It is safe for
// concurrent use.
//
// A write that fails part way (a full disk) must not leave half a line
// for the next event to be glued to: the unwritten rest of the line it
// cut is kept and written first once there is room again, and the events
// after it are dropped and counted.
type Writer struct {
	path string // "-" for stdout

	armed bool        // a flush timer is pending (guarded by mu)
	timer *time.Timer // the flush timer, made at the first Write (guarded by mu)
	// failpointDue: an event of $SECCOMPWATCH_FAILPOINT_EXE's binary (any, when
	// unset) is pending, so that the panic-in-event-flush failpoint fires
	// at the test's own event, not at another process's (guarded by mu).
	failpointDue bool

	mu   sync.Mutex
	f    *os.File
	buf  []byte // pending bytes: whole events, after perhaps the rest of a cut one
	ends []int  // end offset in buf of each pending event
	cont bool   // buf starts with the rest of an event a write cut
	line []byte // one event's JSON, reused

	written atomic.Uint64
	errors  atomic.Uint64
	lastErr atomic.Pointer[string]
}

// Open opens path for appending ("-" is standard output).
func Open(path string) (*Writer, error) {
	w := &Writer{path: path}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	if w.path == "-" {
		w.f = os.Stdout
		return nil
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	w.f = f
	return nil
}

// Write appends one event. It buffers; Flush (or the next Reopen/Close)
// writes through, or the flush timer FlushDelay later.
func (w *Writer) Write(e *event.Event) { w.write(e, true) }

// WriteHeld is Write for a caller that calls Drain before it sleeps (the
// daemon's read loop): no flush timer is armed for the event, since
// arming one (a runtime timer earlier than the netpoller's sleep) wakes
// a sleeping thread to note it, for a timer Drain then stops — on this
// host's VM a context switch or two per batch of records. An event the
// panic-in-event-flush failpoint is for still arms it: Drain leaves such
// events to the timer.
func (w *Writer) WriteHeld(e *event.Event) { w.write(e, false) }

func (w *Writer) write(e *event.Event, timer bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.open(); err != nil {
			w.fail(err, 1)
			return
		}
	}
	w.line = e.AppendJSON(w.line[:0], event.JSONOptions{Live: true})
	w.line = append(w.line, '\n')
	w.buf = append(w.buf, w.line...)
	w.ends = append(w.ends, len(w.buf))
	w.failpointDue = w.failpointDue || guard.RecordFailpoint(e.Exe)
	if len(w.buf) >= bufSize {
		_ = w.flushLocked()
		return
	}
	if !w.armed && (timer || w.failpointDue) {
		w.armed = true
		if w.timer == nil {
			// AfterFunc runs f on a goroutine of its own: guarded like the
			// daemon's others, so that a panic there restores the audit state.
			w.timer = time.AfterFunc(FlushDelay, func() {
				defer guard.Recover()
				w.mu.Lock()
				due := w.failpointDue
				w.mu.Unlock()
				if due {
					guard.Failpoint("panic-in-event-flush")
				}
				_ = w.Flush()
			})
		} else {
			w.timer.Reset(FlushDelay)
		}
	}
}

// Flush writes buffered events to the file. A flush before the timer's
// stops it, so that it does not wake up for nothing.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// Drain is Flush for a caller that has just written a batch of events and
// is about to sleep (the daemon's read loop): the events are written on
// its wake-up instead of the timer's. Events that hold the
// panic-in-event-flush failpoint's record are left to the timer, the
// goroutine that failpoint is for.
func (w *Writer) Drain() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failpointDue {
		return nil
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.armed && w.timer != nil {
		w.timer.Stop()
	}
	w.armed = false
	if w.f == nil || len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	done := 0 // events now wholly in the file
	for done < len(w.ends) && w.ends[done] <= n {
		done++
	}
	w.written.Add(uint64(done))
	if err == nil {
		w.buf, w.ends, w.cont = w.buf[:0], w.ends[:0], false
		return nil
	}
	err = fmt.Errorf("eventlog: %w", err)
	start := 0
	if done > 0 {
		start = w.ends[done-1]
	}
	keep := 0 // the rest of an event the write cut, to complete the line
	if done < len(w.ends) && (n > start || done == 0 && w.cont) {
		keep = w.ends[done] - n
		w.fail(err, uint64(len(w.ends)-done-1))
	} else {
		w.fail(err, uint64(len(w.ends)-done))
	}
	w.buf = append(w.buf[:0], w.buf[n:n+keep]...)
	w.ends = w.ends[:0]
	w.cont = keep > 0
	if w.cont {
		w.ends = append(w.ends, keep)
	}
	return err
}

// fail counts events lost to err.
func (w *Writer) fail(err error, events uint64) {
	if events > 0 {
		w.errors.Add(events)
	}
	s := err.Error()
	w.lastErr.Store(&s)
}

// dropLocked gives up on pending bytes (the file is being closed),
// counting the events among them.
func (w *Writer) dropLocked() {
	if len(w.ends) > 0 {
		w.errors.Add(uint64(len(w.ends)))
	}
	w.buf, w.ends, w.cont = w.buf[:0], w.ends[:0], false
}

// Reopen flushes and reopens the file, for log rotation (SIGHUP).
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.flushLocked()
	if w.path == "-" {
		return nil
	}
	w.dropLocked()
	if w.f != nil {
		w.f.Close()
	}
	w.f = nil
	if err := w.open(); err != nil {
		w.fail(err, 0)
		return err
	}
	return nil
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	w.dropLocked()
	if w.f != nil && w.f != os.Stdout {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	w.f = nil
	return err
}

// Stats reports events written and write errors (with the last error text).
func (w *Writer) Stats() (written, errors uint64, lastErr string) {
	if p := w.lastErr.Load(); p != nil {
		lastErr = *p
	}
	return w.written.Load(), w.errors.Load(), lastErr
}

var _ io.Closer = (*Writer)(nil)
