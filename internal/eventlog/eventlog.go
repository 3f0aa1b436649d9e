// Package eventlog writes the denial event stream (--events.file): one JSON
// object per line in the record schema, unsampled, for SIEM forwarding. The
// file is opened for append and reopened on request (SIGHUP, after
// logrotate moved it). Write errors (a full disk, a removed directory) are
// counted and reported; the writer keeps going and retries on the next
// event.
package eventlog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/event"
)

// FlushDelay bounds how long an event waits in the buffer: the first event
// after a flush arms a timer that writes the buffer through. Under a storm
// the buffer fills and is written sooner; idle, nothing wakes up.
const FlushDelay = 10 * time.Millisecond

// Writer appends events to a file or to standard output. It is safe for
// concurrent use.
type Writer struct {
	path string // "-" for stdout

	armed bool // a flush timer is pending (guarded by mu)

	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	buf []byte

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
	} else {
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		w.f = f
	}
	w.w = bufio.NewWriterSize(w.f, 64<<10)
	return nil
}

// Write appends one event. It buffers; Flush (or the next Reopen/Close)
// writes through.
func (w *Writer) Write(e *event.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = e.AppendJSON(w.buf[:0], event.JSONOptions{Live: true})
	w.buf = append(w.buf, '\n')
	if w.w == nil {
		if err := w.open(); err != nil {
			w.fail(err)
			return
		}
	}
	if _, err := w.w.Write(w.buf); err != nil {
		w.fail(err)
		return
	}
	w.written.Add(1)
	if !w.armed {
		w.armed = true
		time.AfterFunc(FlushDelay, func() { _ = w.Flush() })
	}
}

// Flush writes buffered events to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	w.armed = false
	if w.w == nil {
		return nil
	}
	if err := w.w.Flush(); err != nil {
		w.fail(err)
		// bufio.Writer keeps the error; start a fresh buffer on the same
		// file so that the next write retries instead of failing forever.
		w.w = bufio.NewWriterSize(w.f, 64<<10)
		return err
	}
	return nil
}

func (w *Writer) fail(err error) {
	w.errors.Add(1)
	s := err.Error()
	w.lastErr.Store(&s)
}

// Reopen flushes and reopens the file, for log rotation (SIGHUP).
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.flushLocked()
	if w.path == "-" {
		return nil
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.w = nil, nil
	if err := w.open(); err != nil {
		w.fail(err)
		return err
	}
	return nil
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	if w.f != nil && w.f != os.Stdout {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	w.f, w.w = nil, nil
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
