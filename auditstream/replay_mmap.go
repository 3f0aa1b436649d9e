package auditstream

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// Mapped reading: the lines of a regular uncompressed file are read
// straight from a memory mapping of it, a window of mapWindow bytes at a
// time, instead of copied into the bufio buffer by read(2) (that copy was
// a fifth of replay's CPU time on a 250 MB log). A line comes from the
// mapping only when it is exactly what bufio.Reader.ReadSlice would
// return: one ending in a newline within readBufSize bytes of its start.
// Anything else — a longer line, the file's last line without a newline,
// whatever was appended after reading began, a journal export entry (its
// binary fields are read from the bufio.Reader) — ends mapped reading:
// the file is read on with read(2) from that line's start, as any other
// input. Either way the lines, and so the records and counts, are the
// same.
//
// A file truncated while mapped makes the pages beyond its new end fault
// (SIGBUS): Reader.Next reads with debug.SetPanicOnFault and turns that
// fault into a read error, never a crash.

// mapWindow is the size of one mapping: a multiple of the page size, at
// least readBufSize and a page (so that a window mapped at a line's page
// holds that line, when it fits the bufio buffer). A variable for tests.
var mapWindow int64 = 2 << 20

// mapped is the mapped reading state of a Reader.
type mapped struct {
	f    *os.File
	size int64  // the file's size when reading began: nothing beyond is mapped
	win  []byte // the current mapping, or nil
	off  int64  // the file offset of win[0]
	pos  int    // the next unread byte of win
}

// newMapped returns the mapped reading state of f, or nil when f cannot be
// mapped (empty, not a regular file, mmap refused): then it is read.
func newMapped(f *os.File) *mapped {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return nil
	}
	m := &mapped{f: f, size: st.Size()}
	if !m.mapAt(0) {
		return nil
	}
	return m
}

// mapAt replaces the window with one that starts at the page holding file
// offset at.
func (m *mapped) mapAt(at int64) bool {
	m.unmap()
	start := at &^ int64(os.Getpagesize()-1)
	n := m.size - start
	if n > mapWindow {
		n = mapWindow
	}
	if n <= 0 {
		return false
	}
	win, err := unix.Mmap(int(m.f.Fd()), start, int(n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return false
	}
	m.win, m.off, m.pos = win, start, int(at-start)
	return true
}

// unmap drops the window.
func (m *mapped) unmap() {
	if m.win != nil {
		_ = unix.Munmap(m.win)
		m.win = nil
	}
}

// next returns the next line with its newline, or false when mapped
// reading ends at this line (see above): the caller reads on from at().
// The line is valid until the next call.
func (m *mapped) next() ([]byte, bool) {
	for {
		rest := m.win[m.pos:]
		lim := rest
		if len(lim) > readBufSize {
			lim = lim[:readBufSize]
		}
		if i := bytes.IndexByte(lim, '\n'); i >= 0 {
			m.pos += i + 1
			return rest[:i+1], true
		}
		if len(rest) >= readBufSize || m.off+int64(len(m.win)) >= m.size {
			return nil, false // a long line, or the end of what was mapped
		}
		if !m.mapAt(m.at()) {
			return nil, false
		}
	}
}

// at is the file offset of the next unread byte.
func (m *mapped) at() int64 { return m.off + int64(m.pos) }

// inWindow reports whether addr is an address of the current window.
func (m *mapped) inWindow(addr uintptr) bool { return within(m.win, addr) }

// endMapped ends mapped reading: the file is read on with read(2) from the
// first byte not yet handed out.
func (r *Reader) endMapped() {
	m := r.mm
	r.mm = nil
	at := m.at()
	m.unmap()
	if _, err := m.f.Seek(at, io.SeekStart); err != nil {
		r.err = fmt.Errorf("auditstream: read %s: %w", r.name, err)
		return
	}
	r.br.Reset(m.f)
}

// faultGuard is deferred by Next while mapped: a fault on a mapping the
// reader goroutine reads (the file was truncated under it) becomes a
// read error; any other panic goes on.
func (r *Reader) faultGuard(old bool, rec *Record, err *error) {
	debug.SetPanicOnFault(old)
	e := recover()
	if e == nil {
		return
	}
	f, ok := e.(interface{ Addr() uintptr })
	if !ok || !r.inMapping(f.Addr()) {
		panic(e)
	}
	r.shrank()
	*rec, *err = Record{}, r.err
}
