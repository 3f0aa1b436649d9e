package auditstream

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LineError is a malformed SECCOMP record in a replayed file, or a line
// longer than MaxLineLength (skipped unread: Err's Reason is
// ReasonLineTooLong). Reader.Next returns it and can be called again to go
// on; errors.Is(err, ErrMalformed) holds.
type LineError struct {
	File string
	Line int
	Err  error // a *ParseError
}

// Error implements error: "FILE:LINE: reason".
func (e *LineError) Error() string {
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

// Unwrap returns the *ParseError.
func (e *LineError) Unwrap() error { return e.Err }

// Reader streams the SECCOMP records of one input, in any of the shapes the
// Parser detects. Memory stays flat however large the input: lines longer
// than MaxLineLength are skipped without being buffered whole.
type Reader struct {
	name string
	br   *bufio.Reader
	blk  *blockReader // reading blocks in parallel (see newFileReader), or nil
	mm   *mapped      // reading lines from a mapping of the file (replay_mmap.go), or nil
	p    *Parser
	long []byte // accumulates a line longer than the bufio buffer
	// longAt is the number of a line readLine skipped as too long, until
	// Next reports it.
	longAt int
	err    error  // sticky read error
	rec    Record // the record being parsed
}

// readBufSize is the bufio buffer; longer lines are assembled in Reader.long.
const readBufSize = 64 << 10

// NewReader returns a Reader over r. name is what Record.File says (the
// path, or "-" for stdin). Times of `ausearch -i` lines are read in
// time.Local (the TZ of the machine running replay); see SetLocation.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufioReader(r), p: NewParser(nil)}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, readBufSize) }

// SetLocation sets the time zone `ausearch -i` times are read in.
func (r *Reader) SetLocation(loc *time.Location) {
	if loc != nil {
		r.p.loc = loc
	}
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats { return r.p.Stats() }

// Next returns the next SECCOMP record, io.EOF at the end of the input, a
// *LineError (matching ErrMalformed) for a malformed SECCOMP record or a
// line too long to read — call Next again to go on — or another error when
// reading fails.
func (r *Reader) Next() (rec Record, err error) {
	if r.mm != nil || r.blk != nil && r.blk.mf != nil {
		defer r.faultGuard(debug.SetPanicOnFault(true), &rec, &err)
	}
	if r.blk != nil {
		if rec, ok, err := r.nextBlock(); ok {
			return rec, err
		}
	}
	for {
		if r.err != nil {
			// an export entry not ended by a blank line before EOF
			if r.err == io.EOF && r.p.InExport() {
				rec, ok, err := r.p.finishExport()
				if ok {
					rec.File = r.name
					return rec, nil
				}
				if err != nil {
					return Record{}, &LineError{File: r.name, Line: r.p.exp.start, Err: err}
				}
			}
			return Record{}, r.err
		}
		line, err := r.readLine()
		if r.longAt > 0 { // skipped, counted: say where
			at := r.longAt
			r.longAt = 0
			if err != nil {
				r.err = err
			}
			return Record{}, &LineError{File: r.name, Line: at, Err: errLineTooLong}
		}
		if err != nil {
			r.err = err
			if len(line) == 0 {
				continue
			}
		}
		if t := trimEOL(line); r.p.InExport() && len(t) > 0 && bytes.IndexByte(t, '=') < 0 && err == nil {
			if r.mm != nil { // the binary field is read from r.br
				t = append([]byte(nil), t...) // the line goes with the mapping
				r.endMapped()
				if r.err != nil {
					continue
				}
			}
			if berr := r.readBinaryField(t); berr != nil {
				r.err = berr
			}
			continue
		}
		inExport := r.p.InExport()
		ok, perr := r.p.parseLine(line, &r.rec)
		if perr != nil {
			at := r.p.line
			if inExport { // the blank line ended an entry: name its start
				at = r.p.exp.start
			}
			return Record{}, &LineError{File: r.name, Line: at, Err: perr}
		}
		if ok {
			r.rec.File = r.name
			return r.rec, nil
		}
	}
}

// readLine returns the next line without its newline. For a line longer than
// MaxLineLength it discards the rest, counts it and returns nil, nil.
func (r *Reader) readLine() ([]byte, error) {
	if r.mm != nil {
		if line, ok := r.mm.next(); ok {
			return line, nil
		}
		r.endMapped()
		if r.err != nil {
			return nil, r.err
		}
	}
	b, err := r.br.ReadSlice('\n')
	if err == nil || err == io.EOF {
		if err == io.EOF && len(b) == 0 {
			return nil, io.EOF
		}
		return b, err
	}
	if err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("auditstream: read %s: %w", r.name, err)
	}
	r.long = append(r.long[:0], b...)
	for {
		b, err = r.br.ReadSlice('\n')
		if len(r.long)+len(b) > MaxLineLength {
			// too long: drop everything up to the newline
			for err == bufio.ErrBufferFull {
				_, err = r.br.ReadSlice('\n')
			}
			r.long = r.long[:0]
			if cap(r.long) > 2*readBufSize {
				r.long = nil // do not keep a megabyte around
			}
			r.p.MalformedLine(ReasonLineTooLong, 1)
			r.longAt = r.p.line
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("auditstream: read %s: %w", r.name, err)
			}
			return nil, err
		}
		r.long = append(r.long, b...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("auditstream: read %s: %w", r.name, err)
		}
		return r.long, err
	}
}

// readBinaryField reads a `journalctl -o export` binary field after its name
// line: a little-endian uint64 size, the bytes, and a newline.
func (r *Reader) readBinaryField(key []byte) error {
	key = append([]byte(nil), key...)
	var sz [8]byte
	if _, err := io.ReadFull(r.br, sz[:]); err != nil {
		r.p.ExportBinary(key, nil, 0)
		return eofOr(err, r.name)
	}
	n := binary.LittleEndian.Uint64(sz[:])
	// Lines spanned: every '\n' in the size and the value, and the
	// newline after the value.
	nl := bytes.Count(sz[:], []byte("\n"))
	if n > MaxLineLength {
		// drop the value without buffering it
		dnl, err := discardCount(r.br, n)
		nl += dnl
		if err != nil {
			r.p.ExportBinary(key, nil, nl)
			return eofOr(err, r.name)
		}
		if c, err := r.br.ReadByte(); err == nil && c == '\n' { // its newline
			nl++
		}
		r.p.ExportBinary(key, nil, nl)
		return nil
	}
	val := make([]byte, int(n))
	if _, err := io.ReadFull(r.br, val); err != nil {
		r.p.ExportBinary(key, nil, nl+bytes.Count(val, []byte("\n")))
		return eofOr(err, r.name)
	}
	nl += bytes.Count(val, []byte("\n"))
	if c, err := r.br.ReadByte(); err != nil || c != '\n' {
		r.p.ExportBinary(key, nil, nl)
		if err != nil {
			return eofOr(err, r.name)
		}
		return nil
	}
	r.p.ExportBinary(key, val, nl+1)
	return nil
}

// discardCount discards n bytes and counts the newlines among them.
func discardCount(br *bufio.Reader, n uint64) (int, error) {
	nl := 0
	for n > 0 {
		k := uint64(br.Buffered())
		if k == 0 {
			if _, err := br.Peek(1); err != nil {
				return nl, err
			}
			continue
		}
		if k > n {
			k = n
		}
		b, _ := br.Peek(int(k))
		nl += bytes.Count(b, []byte("\n"))
		_, _ = br.Discard(int(k))
		n -= k
	}
	return nl, nil
}

func eofOr(err error, name string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return fmt.Errorf("auditstream: read %s: %w", name, err)
}

// errLineTooLong is the ParseError of a line longer than MaxLineLength.
var errLineTooLong = &ParseError{Reason: ReasonLineTooLong}

// MultiReader reads several inputs one after the other (see Open).
type MultiReader struct {
	inputs []input
	cur    int
	r      *Reader
	loc    *time.Location
	done   Stats
}

type input struct {
	name  string
	f     *os.File  // a file Open opened (closed when read)
	stdin io.Reader // standard input, for "-" (never closed)
}

// Open opens the files to replay and orders them. "-" is standard input.
// Gzip-compressed files are detected by their magic bytes. Members of a
// rotated set (audit.log, audit.log.1, audit.log.2.gz, ... given in any
// order) are read oldest first: highest number first, the base file last;
// distinct sets keep the order they were given in. Every file is opened
// now, so that an unreadable one fails at once with a one-line error.
func Open(paths []string) (*MultiReader, error) {
	return OpenWithStdin(paths, os.Stdin)
}

// OpenWithStdin is Open with "-" reading stdin instead of os.Stdin.
func OpenWithStdin(paths []string, stdin io.Reader) (*MultiReader, error) {
	if len(paths) == 0 {
		return nil, errors.New("auditstream: no input files")
	}
	m := &MultiReader{}
	for _, p := range OrderRotated(paths) {
		if p == "-" {
			m.inputs = append(m.inputs, input{name: "-", stdin: stdin})
			continue
		}
		f, err := os.Open(p)
		if err == nil {
			var st os.FileInfo
			if st, err = f.Stat(); err == nil && st.IsDir() {
				err = &fs.PathError{Op: "open", Path: p, Err: syscall.EISDIR}
			}
			if err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			_ = m.Close()
			return nil, fmt.Errorf("auditstream: %w", err)
		}
		m.inputs = append(m.inputs, input{name: p, f: f})
	}
	return m, nil
}

// SetLocation sets the time zone `ausearch -i` times are read in (default
// time.Local).
func (m *MultiReader) SetLocation(loc *time.Location) {
	m.loc = loc
	if m.r != nil {
		m.r.SetLocation(loc)
	}
}

// Next returns the next record of the inputs in order, io.EOF after the
// last one, or a *LineError for a malformed record (call Next again).
func (m *MultiReader) Next() (Record, error) {
	for {
		if m.r == nil {
			if m.cur >= len(m.inputs) {
				return Record{}, io.EOF
			}
			in := m.inputs[m.cur]
			var raw io.Reader = in.f
			if in.f == nil {
				raw = in.stdin
			}
			src, err := decompress(raw, in.name)
			if err != nil {
				m.cur++
				return Record{}, err
			}
			if in.f != nil && regular(in.f) {
				m.r = newRegularReader(in.f, src, in.name)
			} else {
				m.r = NewReader(src, in.name)
			}
			m.r.SetLocation(m.loc)
		}
		rec, err := m.r.Next()
		if err == io.EOF {
			m.done.Add(m.r.Stats())
			m.r = nil
			if f := m.inputs[m.cur].f; f != nil {
				_ = f.Close()
			}
			m.inputs[m.cur].f, m.inputs[m.cur].stdin = nil, nil
			m.cur++
			continue
		}
		return rec, err
	}
}

// Stats returns the counts over every input read so far.
func (m *MultiReader) Stats() Stats {
	s := Stats{Records: map[string]uint64{}, Malformed: map[string]uint64{}}
	s.Add(m.done)
	if m.r != nil {
		s.Add(m.r.Stats())
	}
	return s
}

// Close closes the files not yet read to their end.
func (m *MultiReader) Close() error {
	if m.r != nil && m.r.mm != nil {
		m.r.mm.unmap()
		m.r.mm = nil
	}
	if m.r != nil && m.r.blk != nil {
		m.r.blk.close()
		m.r.blk = nil
	}
	for i := range m.inputs {
		if f := m.inputs[i].f; f != nil {
			_ = f.Close()
			m.inputs[i].f = nil
		}
	}
	return nil
}

// decompress returns a reader of f's content, gunzipped when f starts with
// the gzip magic bytes.
func decompress(f io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReaderSize(f, readBufSize)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("auditstream: %w", &fs.PathError{Op: "gunzip", Path: name, Err: err})
		}
		return &gzipErr{zr: zr, name: name}, nil
	}
	return br, nil
}

// gzipErr names the file in decompression errors.
type gzipErr struct {
	zr   *gzip.Reader
	name string
}

func (g *gzipErr) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "gunzip", Path: g.name, Err: err}
	}
	return n, err
}

// OrderRotated orders paths for replay: members of a rotated set
// (NAME, NAME.1, NAME.2.gz, ...) oldest first — highest number first, NAME
// last — placed where the set's first member was given; other paths keep
// their order.
func OrderRotated(paths []string) []string {
	type member struct {
		path string
		n    int // -1 for the base file
		pos  int
	}
	var order []string
	sets := map[string][]member{}
	for i, p := range paths {
		base, n := rotation(p)
		if _, ok := sets[base]; !ok {
			order = append(order, base)
		}
		sets[base] = append(sets[base], member{p, n, i})
	}
	out := make([]string, 0, len(paths))
	for _, base := range order {
		ms := sets[base]
		sort.SliceStable(ms, func(i, j int) bool {
			ni, nj := ms[i].n, ms[j].n
			if ni == -1 {
				ni = -1 << 30
			}
			if nj == -1 {
				nj = -1 << 30
			}
			return ni > nj
		})
		for _, m := range ms {
			out = append(out, m.path)
		}
	}
	return out
}

// rotation splits "dir/audit.log.2.gz" into ("dir/audit.log", 2); a path
// without a rotation number gives (path without .gz, -1).
func rotation(p string) (string, int) {
	if p == "-" {
		return "\x00stdin", -1
	}
	q := strings.TrimSuffix(p, ".gz")
	dot := strings.LastIndexByte(q, '.')
	if dot > 0 && dot > strings.LastIndexByte(q, filepath.Separator) {
		if n, err := strconv.Atoi(q[dot+1:]); err == nil && n >= 0 && q[dot+1] != '+' {
			return q[:dot], n
		}
	}
	return q, -1
}

// regular reports whether f is a regular file: one that can be read ahead
// without waiting for a writer (a pipe's lines are handed out as they come).
func regular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}
