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

	"golang.org/x/sys/unix"
)

// Block reading (with blockCPUs or more): a regular file is read in
// blocks of whole lines, each parsed by its own goroutine with its own
// Parser while the next ones are read, and the records are handed out in
// input order, their line numbers and the counts moved to where the block
// starts. What one line means
// never depends on another line, except inside a `journalctl -o export`
// entry: a block where one starts, or a line longer than a block, or more
// record types than a Parser keeps apart, ends block reading, and the
// Reader reads on from that block's first line one line at a time, as it
// reads any other input. Either way the records, errors and counts are
// the same.

const (
	// blockSize is the size of one block (whole lines).
	blockSize = 256 << 10
	// blocksAhead is how many blocks are read and parsed ahead of the one
	// being handed out: memory stays at blocksAhead × blockSize.
	blocksAhead = 4
)

// blockReader is the block reading state of a Reader.
type blockReader struct {
	src   io.Reader
	size  int
	carry []byte // the start of a line the last block read did not end
	queue []*block
	free  []*block
	cur   *block // the block being handed out
	pos   int    // the next of cur's items
	// srcErr is what reading src returned last (io.EOF at the end);
	// nothing is read after it.
	srcErr error

	// Mapped blocks (replay_mapblocks.go): mf is the file the blocks
	// are mappings of (src is nil), msize its size when reading began,
	// moff the offset of the next block, filling the block fillMapped
	// looks into.
	mf      *os.File
	msize   int64
	moff    int64
	filling *block
}

// block is one block of whole lines and what its goroutine made of it.
type block struct {
	buf   []byte // block memory (cap size)
	data  []byte // the lines
	done  chan struct{}
	p     *Parser
	items []blockItem
	// stop says the block must be read again one line at a time (an
	// export entry starts in it, or it has more record types than a
	// Parser counts apart).
	stop bool
	// base is the number of lines before the block, set when it is
	// handed out.
	base int
	// mapping is a mapped block's mapping (data is in it), off the file
	// offset of data[0]; fault says its pages faulted while it was
	// parsed (the file shrank).
	mapping []byte
	off     int64
	fault   bool
}

// blockItem is a record or a line error of a block, numbered from the
// block's first line.
type blockItem struct {
	rec  Record
	line int   // the line of a line error
	err  error // a *ParseError
}

// blockCPUs is the fewest CPUs (GOMAXPROCS) with which compressed files
// are read in blocks (uncompressed ones are read in mapped blocks from
// mapBlockCPUs on). With two, the second one already has replay's other
// half (enriching, encoding, writing), and block reading measured slower
// there: on the 2-core CI machine kind at load 13–25, in interleaved
// runs of one binary over the same 1 M-line log, wall medians 1.15 s
// line by line vs 1.61 s in blocks, minima 0.73 vs 1.18 s, at the same
// CPU time (issue 15).
const blockCPUs = 4

// newFileReader returns a Reader over a regular file's content (already
// decompressed) that is not read from mappings: with blockCPUs or more it
// is read in blocks parsed in parallel.
func newFileReader(src io.Reader, name string) *Reader {
	if runtime.GOMAXPROCS(0) < blockCPUs {
		return NewReader(src, name)
	}
	return newBlockReader(src, name, blockSize)
}

// newBlockReader returns a Reader reading src in blocks of size bytes.
func newBlockReader(src io.Reader, name string, size int) *Reader {
	return &Reader{name: name, p: NewParser(nil), blk: &blockReader{src: src, size: size}}
}

// nextBlock is Next while reading blocks. When block reading ends (the
// input's end, or a block to read line by line) it returns false and
// leaves r reading line by line, or with r.err set.
func (r *Reader) nextBlock() (Record, bool, error) {
	b := r.blk
	for {
		if c := b.cur; c != nil {
			if b.pos < len(c.items) {
				it := &c.items[b.pos]
				b.pos++
				if it.err != nil {
					return Record{}, true, &LineError{File: r.name, Line: c.base + it.line, Err: it.err}
				}
				rec := it.rec
				rec.File = r.name
				rec.Line += c.base
				r.p.in.canon(&rec)
				return rec, true, nil
			}
			b.cur = nil
			b.release(c)
		}
		b.fill(r.p.loc)
		if len(b.queue) == 0 && (b.srcErr == errLongLine || b.srcErr == errMapEnd) {
			r.readLines()
			return Record{}, false, nil
		}
		if len(b.queue) == 0 { // the input's end, or a read error
			r.err = b.srcErr
			if r.err != io.EOF {
				r.err = fmt.Errorf("auditstream: read %s: %w", r.name, r.err)
			}
			r.blk = nil
			return Record{}, false, nil
		}
		c := b.queue[0]
		<-c.done
		if c.fault {
			r.shrank()
			return Record{}, false, nil
		}
		if c.stop {
			r.readLines()
			return Record{}, false, nil
		}
		b.queue = b.queue[1:]
		c.base = r.p.line
		r.p.line += c.p.line
		r.p.lines += c.p.lines
		r.p.seccomp += c.p.seccomp
		r.p.types.merge(&c.p.types)
		r.p.malformed.merge(&c.p.malformed)
		b.cur, b.pos = c, 0
	}
}

// fill reads blocks and starts their parsing until blocksAhead are queued
// or the input ends. A line longer than a block stops it: that block
// and what follows are read line by line (see readLines).
func (b *blockReader) fill(loc *time.Location) {
	if b.mf != nil {
		b.fillMapped(loc)
		return
	}
	for len(b.queue) < blocksAhead && b.srcErr == nil {
		c := b.get()
		buf := append(c.buf[:0], b.carry...)
		for len(buf) < cap(buf) && b.srcErr == nil {
			n, err := b.src.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				b.srcErr = err
			}
		}
		c.buf = buf
		end := len(buf) // at the input's end, the last line needs no newline
		if b.srcErr == nil {
			end = bytes.LastIndexByte(buf, '\n') + 1
			if end == 0 { // a line longer than a block
				b.carry = append(b.carry[:0], buf...)
				b.free = append(b.free, c)
				b.srcErr = errLongLine
				return
			}
		} else if b.srcErr != io.EOF {
			// a read error: the lines before it are read, not the
			// partial one
			end = bytes.LastIndexByte(buf, '\n') + 1
		}
		b.carry = append(b.carry[:0], buf[end:]...)
		c.data = buf[:end]
		if len(c.data) == 0 {
			b.free = append(b.free, c)
			continue
		}
		b.start(c, loc)
	}
}

// start queues block c and starts its parsing.
func (b *blockReader) start(c *block, loc *time.Location) {
	if c.p == nil {
		c.p = NewParser(loc)
	}
	c.p.loc = loc
	c.done = make(chan struct{})
	b.queue = append(b.queue, c)
	go c.parse()
}

// errLongLine stops block reading at a line longer than a block.
var errLongLine = errors.New("auditstream: line longer than a block")

// get returns a block to fill: a used one, or a new one.
func (b *blockReader) get() *block {
	if n := len(b.free); n > 0 {
		c := b.free[n-1]
		b.free = b.free[:n-1]
		return c
	}
	if b.mf != nil {
		return &block{}
	}
	return &block{buf: make([]byte, 0, b.size)}
}

// release keeps a handed-out block, its memory and its Parser (and the
// Parser's interned strings) for the next one.
func (b *blockReader) release(c *block) {
	c.items = c.items[:0]
	c.data = nil
	if c.mapping != nil {
		_ = unix.Munmap(c.mapping)
		c.mapping = nil
	}
	c.fault = false
	b.free = append(b.free, c)
}

// parse parses the block's lines with the block's Parser (counts from
// zero, lines numbered from 1), then closes done.
func (c *block) parse() {
	defer close(c.done)
	if c.mapping != nil {
		defer c.parsedMapped(debug.SetPanicOnFault(true))
	}
	p := c.p
	p.line, p.lines, p.seccomp = 0, 0, 0
	p.types.reset()
	p.malformed.reset()
	c.stop = false
	var rec Record
	data := c.data
	for len(data) > 0 {
		line := data
		if k := bytes.IndexByte(data, '\n'); k >= 0 {
			line, data = data[:k+1], data[k+1:]
		} else {
			data = nil
		}
		ok, err := p.parseLine(line, &rec)
		if p.exp.active || p.types.full {
			c.stop = true
			c.p = nil // its export state is not needed again
			return
		}
		if err != nil {
			c.items = append(c.items, blockItem{line: p.line, err: err})
		} else if ok {
			c.items = append(c.items, blockItem{rec: rec})
		}
	}
}

// readLines ends block reading at the first queued block: that block's
// lines, the ones read after it, and the rest of the input are read line
// by line from here on, as NewReader's Reader reads them.
func (r *Reader) readLines() {
	b := r.blk
	if b.mf != nil {
		r.readMapped()
		return
	}
	parts := make([]io.Reader, 0, len(b.queue)+2)
	for _, c := range b.queue {
		parts = append(parts, bytes.NewReader(c.data))
	}
	parts = append(parts, bytes.NewReader(b.carry))
	switch b.srcErr {
	case nil, errLongLine:
		parts = append(parts, b.src)
	case io.EOF:
	default:
		parts = append(parts, errReader{b.srcErr})
	}
	r.br = bufioReader(io.MultiReader(parts...))
	r.blk = nil
}

// errReader returns err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
