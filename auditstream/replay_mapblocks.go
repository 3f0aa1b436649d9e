package auditstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mapped block reading (two CPUs or more, a regular uncompressed file):
// block reading (replay_blocks.go) where each block is a mapping of its
// own, of up to mapBlockSize bytes ending at a line's end, instead of a
// buffer read(2) copies the file into. The next block starts where the
// last one ended; the parsing goroutine faults the block's pages in, so
// both CPUs share the page cache's work too. Where a block would hold no
// whole line (a line longer than a block, the file's last line without a
// newline), or at the size the file had when reading began, block
// reading ends and the file is read on with read(2) from that line's
// start, as mapped line reading ends (replay_mmap.go): whatever was
// appended since is read too. Either way the records, errors and counts
// are those of reading line by line.
//
// Every block's lines are within mapBlockSize of each other, which is
// at most MaxLineLength: no line of a block is too long to be read.
//
// A file truncated while mapped makes the pages beyond its new end fault
// (SIGBUS): the parsing goroutine reads with debug.SetPanicOnFault and
// marks its block, and the Reader ends with a read error when it reaches
// that block, never a crash.

// mapBlockSize is the size of one mapped block; a variable for tests.
var mapBlockSize int64 = 1 << 20

// mapBlockCPUs is the fewest CPUs (GOMAXPROCS) with which regular files
// are read in mapped blocks rather than lines from one mapping. With two,
// one parses while the other enriches, encodes and writes: on the 2-core
// CI machine kind, quiet, 1 M standalone lines, the whole replay took
// 0.123 s instead of 0.166 s (wall, 10 runs each) at the same CPU time
// (0.205 s); with a busy loop on each core the two took the same time.
const mapBlockCPUs = 2

// errMapEnd ends mapped block reading: the file is read on line by line
// from the first byte no block holds.
var errMapEnd = errors.New("auditstream: mapped blocks end")

// newMapBlockReader returns a Reader of f's lines in mapped blocks, or nil
// when f is not a regular non-empty file.
func newMapBlockReader(f *os.File, name string) *Reader {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return nil
	}
	return &Reader{name: name, p: NewParser(nil), blk: &blockReader{mf: f, msize: st.Size()}}
}

// fillMapped is fill for mapped blocks: blocksAhead of them, as for
// copied blocks. A block's mapping is dropped once it is parsed (the
// records are copies), so at most that many are mapped at a time. More
// (8, 16) measured slower: more goroutines parse at once than there are
// CPUs.
func (b *blockReader) fillMapped(loc *time.Location) {
	page := int64(os.Getpagesize())
	for len(b.queue) < blocksAhead && b.srcErr == nil {
		n := min(b.msize-b.moff, mapBlockSize)
		if n <= 0 {
			b.srcErr = errMapEnd
			return
		}
		start := b.moff &^ (page - 1)
		mp, err := unix.Mmap(int(b.mf.Fd()), start, int(b.moff-start+n), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			b.srcErr = errMapEnd // read on with read(2)
			return
		}
		c := b.get()
		c.mapping = mp
		b.filling = c // its last page may fault here: see Reader.faultGuard
		data := mp[b.moff-start:]
		end := bytes.LastIndexByte(data, '\n') + 1
		b.filling = nil
		if end == 0 { // no whole line in it
			b.release(c)
			b.srcErr = errMapEnd
			return
		}
		c.data, c.off = data[:end], b.moff
		b.moff += int64(end)
		b.start(c, loc)
	}
}

// inMapping reports whether addr is in a mapping the reader goroutine
// touches: the line window, or the block fillMapped looks into.
func (r *Reader) inMapping(addr uintptr) bool {
	if r.mm != nil && r.mm.inWindow(addr) {
		return true
	}
	return r.blk != nil && r.blk.filling != nil && within(r.blk.filling.mapping, addr)
}

// within reports whether addr is an address of b.
func within(b []byte, addr uintptr) bool {
	if len(b) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return addr >= base && addr < base+uintptr(len(b))
}

// parsedMapped is deferred by a mapped block's parse: a fault on the
// block's mapping marks the block (any other panic goes on), and the
// mapping is dropped, the records being copies.
func (c *block) parsedMapped(old bool) {
	debug.SetPanicOnFault(old)
	if e := recover(); e != nil {
		f, ok := e.(interface{ Addr() uintptr })
		if !ok || !within(c.mapping, f.Addr()) {
			panic(e)
		}
		c.fault = true
		c.items = c.items[:0]
	}
	_ = unix.Munmap(c.mapping)
	c.mapping, c.data = nil, nil
}

// close ends block reading: it waits for the queued blocks' goroutines
// and drops their mappings.
func (b *blockReader) close() {
	if b.cur != nil {
		b.release(b.cur)
		b.cur = nil
	}
	for _, c := range b.queue {
		<-c.done
		b.release(c)
	}
	b.queue = nil
}

// readMapped ends mapped block reading (see readLines): the file is read
// on with read(2) from the first queued block's first line, or from the
// first byte no block holds.
func (r *Reader) readMapped() {
	b := r.blk
	at := b.moff
	if len(b.queue) > 0 {
		at = b.queue[0].off
	}
	b.close()
	r.blk = nil
	if _, err := b.mf.Seek(at, io.SeekStart); err != nil {
		r.err = fmt.Errorf("auditstream: read %s: %w", r.name, err)
		return
	}
	r.br = bufioReader(b.mf)
}

// shrank ends reading with the error of a file truncated under its
// mappings.
func (r *Reader) shrank() {
	if r.blk != nil {
		r.blk.close()
		r.blk = nil
	}
	if r.mm != nil {
		r.mm.unmap()
		r.mm = nil
	}
	r.err = fmt.Errorf("auditstream: read %s: the file shrank while it was read", r.name)
}

// useMapBlocks reports whether files are read in mapped blocks here.
func useMapBlocks() bool { return runtime.GOMAXPROCS(0) >= mapBlockCPUs }

// newRegularReader returns the Reader of a regular file f whose content
// (decompressed) src reads: an uncompressed file is read in mapped blocks
// (with mapBlockCPUs or more) or lines from a mapping; a compressed one in
// blocks (with blockCPUs or more) or lines.
func newRegularReader(f *os.File, src io.Reader, name string) *Reader {
	_, gz := src.(*gzipErr)
	if !gz && useMapBlocks() {
		if r := newMapBlockReader(f, name); r != nil {
			return r
		}
	}
	r := newFileReader(src, name)
	if !gz && r.blk == nil {
		r.mm = newMapped(f)
	}
	return r
}
