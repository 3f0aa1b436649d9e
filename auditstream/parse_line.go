package auditstream

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"
)

// MaxLineLength is the longest line the parsers read (1 MiB). Longer lines
// are skipped without being buffered whole and counted as line_too_long.
const MaxLineLength = 1 << 20

// maxTypes bounds the distinct record type names Stats keeps; later ones are
// counted under "other".
const maxTypes = 64

// Stats counts what a Parser or Reader has seen. Its maps are copies owned
// by the caller.
type Stats struct {
	Lines     uint64            // lines read (a journal export entry counts all its lines)
	Records   map[string]uint64 // audit records by type name ("SECCOMP", "SYSCALL", "UNKNOWN[1234]", "other")
	Seccomp   uint64            // SECCOMP records decoded into a Record
	Malformed map[string]uint64 // lines dropped, by reason (the Reason* constants)
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Lines += o.Lines
	s.Seccomp += o.Seccomp
	if s.Records == nil {
		s.Records = map[string]uint64{}
	}
	if s.Malformed == nil {
		s.Malformed = map[string]uint64{}
	}
	for k, v := range o.Records {
		s.Records[k] += v
	}
	for k, v := range o.Malformed {
		s.Malformed[k] += v
	}
}

// counter is a small allocation-free counter keyed by short byte strings.
type counter struct {
	names  []string
	counts []uint64
	last   int
	// slot maps a name's slotOf to 1 + its index in names (0: none), so
	// that a name is found with one comparison, not a scan of them all.
	slot [64]uint8
	// full is set once a name was counted as "other" because maxTypes
	// names were there (a block reader then reads on sequentially: its
	// counts could not be merged in input order).
	full bool
	// words finds a name of 1 to 16 bytes by its length and its first
	// and last eight bytes (together the whole name), slot chosen by
	// wordSlot: three comparisons of numbers, no comparison of bytes.
	words [64]wordKey
}

// wordKey is a name of at most 16 bytes in counter.words.
type wordKey struct {
	n      int // the name's length; 0: an empty slot
	w0, w1 uint64
	i      int // its index in names
}

// nameWords returns the first and the last (up to) eight bytes of name,
// which is 1 to 16 bytes long.
func nameWords(name []byte) (uint64, uint64) {
	if len(name) >= 8 {
		return binary.LittleEndian.Uint64(name), binary.LittleEndian.Uint64(name[len(name)-8:])
	}
	var w uint64
	for i := len(name) - 1; i >= 0; i-- {
		w = w<<8 | uint64(name[i])
	}
	return w, w
}

func wordSlot(n int, w0, w1 uint64) int {
	return int(((w0 ^ w1>>3 ^ uint64(n)) * 0x9e3779b97f4a7c15) >> 58)
}

// slotOf hashes a name into counter.slot; a collision only costs a scan.
func slotOf(name []byte) int {
	if len(name) == 0 {
		return 0
	}
	return (len(name) + 3*int(name[0]) + 5*int(name[len(name)-1]) + 7*int(name[len(name)/2])) & 63
}

func (c *counter) inc(name []byte) { c.add(name, 1) }

// add counts name n times.
func (c *counter) add(name []byte, n uint64) {
	if len(name) == 0 || len(name) > 16 {
		c.addNamed(name, n)
		return
	}
	w0, w1 := nameWords(name)
	k := &c.words[wordSlot(len(name), w0, w1)]
	if k.n == len(name) && k.w0 == w0 && k.w1 == w1 {
		c.counts[k.i] += n
		return
	}
	c.addNamed(name, n)
	if c.last < len(c.names) && c.names[c.last] == string(name) {
		*k = wordKey{n: len(name), w0: w0, w1: w1, i: c.last}
	}
}

// addNamed is add by comparing names.
func (c *counter) addNamed(name []byte, n uint64) {
	if c.last < len(c.names) && c.names[c.last] == string(name) {
		c.counts[c.last] += n
		return
	}
	h := slotOf(name)
	if j := int(c.slot[h]) - 1; j >= 0 && c.names[j] == string(name) {
		c.counts[j] += n
		c.last = j
		return
	}
	for i := range c.names {
		if c.names[i] == string(name) {
			c.counts[i] += n
			c.last = i
			c.slot[h] = uint8(i + 1)
			return
		}
	}
	if len(c.names) >= maxTypes {
		c.full = true
		name = []byte("other")
		for i := range c.names {
			if c.names[i] == "other" {
				c.counts[i] += n
				return
			}
		}
	}
	c.names = append(c.names, string(name))
	c.counts = append(c.counts, n)
	c.last = len(c.names) - 1
	c.slot[slotOf(name)] = uint8(c.last + 1)
}

func (c *counter) incString(name string) {
	c.inc([]byte(name))
}

// merge adds o's counts, in the order o first saw its names: counting a
// later part of the input after an earlier one, it gives the counts that
// one counter over both parts gives, as long as o never counted a name as
// "other" for want of room (o.full).
func (c *counter) merge(o *counter) {
	for i, name := range o.names {
		c.add([]byte(name), o.counts[i])
	}
}

// reset empties c, keeping its memory.
func (c *counter) reset() {
	c.names, c.counts = c.names[:0], c.counts[:0]
	c.last, c.slot, c.full, c.words = 0, [64]uint8{}, false, [64]wordKey{}
}

func (c *counter) snapshot() map[string]uint64 {
	m := make(map[string]uint64, len(c.names))
	for i, n := range c.names {
		m[n] += c.counts[i]
	}
	return m
}

// Parser decodes SECCOMP records from lines of text in any of the shapes
// operators have, detected per line: audit.log and `ausearch --raw` lines
// (with or without auditd's enriched tail), `ausearch -i` interpreted lines
// (and the `----` / `time->` lines of ausearch), kernel log text (dmesg,
// syslog, journalctl short output), `journalctl -o json` lines and
// `journalctl -o export` entries (one KEY=value line at a time; the entry
// is decoded at the blank line that ends it).
//
// A Parser is not safe for concurrent use. Its memory use is bounded.
type Parser struct {
	loc       *time.Location
	line      int
	lines     uint64
	seccomp   uint64
	types     counter
	malformed counter
	in        interner
	exp       exportEntry
}

// NewParser returns a Parser that reads `ausearch -i` times (printed as
// local time without a zone) in loc; nil means time.Local.
func NewParser(loc *time.Location) *Parser {
	if loc == nil {
		loc = time.Local
	}
	return &Parser{loc: loc}
}

// Stats returns a copy of the counts so far.
func (p *Parser) Stats() Stats {
	return Stats{
		Lines:     p.lines,
		Records:   p.types.snapshot(),
		Seccomp:   p.seccomp,
		Malformed: p.malformed.snapshot(),
	}
}

// ParseLine reads one line (with or without its newline). It returns the
// record and true for a SECCOMP record; false and a nil error for anything
// else (other record types, blank lines, separators, journal export lines
// of an entry not yet complete); and false with an error matching
// ErrMalformed for a SECCOMP record that cannot be decoded (already counted
// in Stats). Record.Line is the 1-based number of the line where the record
// starts, counted over the lines this Parser was given.
func (p *Parser) ParseLine(line []byte) (Record, bool, error) {
	var r Record
	ok, err := p.parseLine(line, &r)
	return r, ok, err
}

// parseLine is ParseLine writing the record into r, which it touches only
// for a SECCOMP record: the nine lines in ten that are other records cost
// no copy of a Record.
func (p *Parser) parseLine(line []byte, r *Record) (bool, error) {
	p.line++
	p.lines++
	start := p.line
	line = trimEOL(line)

	if p.exp.active {
		if len(line) == 0 {
			rec, ok, err := p.finishExport()
			return keep(r, rec, ok), err
		}
		p.exportLine(line)
		return false, nil
	}
	if len(line) == 0 {
		return false, nil
	}
	if line[0] == '_' && (hasPrefix(line, "__CURSOR=") || hasPrefix(line, "__REALTIME_TIMESTAMP=")) {
		p.exp.begin(start)
		p.exportLine(line)
		return false, nil
	}
	t := trimLeft(line)
	if len(t) > 0 && t[0] == '{' {
		rec, ok, err := p.parseJSON(t, start)
		return keep(r, rec, ok), err
	}
	ok, err := p.parseText(line, r)
	if ok {
		r.Line = start
	}
	return ok, err
}

// keep stores rec into r when ok (rec is a record) and returns ok.
func keep(r *Record, rec Record, ok bool) bool {
	if ok {
		*r = rec
	}
	return ok
}

// MalformedLine counts a line dropped for reason without parsing it (e.g.
// line_too_long, decided by the Reader) and advances the line count by n.
func (p *Parser) MalformedLine(reason string, n int) {
	p.line += n
	p.lines += uint64(n)
	p.malformed.incString(reason)
}

// fail counts err's reason and returns it.
func (p *Parser) fail(err error) (Record, bool, error) {
	if pe, ok := err.(*ParseError); ok {
		p.malformed.incString(pe.Reason)
	}
	return Record{}, false, err
}

// ok counts a decoded SECCOMP record.
func (p *Parser) ok(r Record) (Record, bool, error) {
	p.countSeccomp()
	return r, true, nil
}

// countSeccomp counts a decoded SECCOMP record.
func (p *Parser) countSeccomp() { p.seccomp++ }

var (
	typeKey = []byte("type=")
	seccomp = []byte("SECCOMP")
)

// parseText handles every single-line text shape: it finds the record type
// and the audit(...) prefix, skips other types after counting them, and
// decodes SECCOMP records.
func (p *Parser) parseText(line []byte, r *Record) (bool, error) {
	// locate " type=" (or at start)
	pos := -1
	if hasPrefix(line, "type=") {
		pos = 0
	} else {
		off := 0
		for {
			i := bytes.Index(line[off:], typeKey)
			if i < 0 {
				break
			}
			i += off
			if line[i-1] == ' ' || line[i-1] == ':' && grepPrefix(line[:i-1]) {
				pos = i
				break
			}
			off = i + len(typeKey)
		}
	}
	if pos < 0 {
		rec, ok, err := p.parseJournalShort(line) // or ----, time->, other text
		return keep(r, rec, ok), err
	}
	node, err := nodeBefore(line, pos)
	if err != nil {
		if isSeccompLine(line[pos+len(typeKey):]) {
			_, _, err = p.fail(err)
			return false, err
		}
		node = ""
	}
	rest := line[pos+len(typeKey):]
	e := spaceEnd(rest, 0)
	typ := rest[:e]
	rest = rest[e:]
	// a record is "type=T msg=audit(" (audit.log, ausearch) or
	// "type=N audit(" (kernel log)
	rest = trimLeft(rest)
	if hasPrefix(rest, "msg=") {
		rest = rest[4:]
	}
	if !hasPrefix(rest, "audit(") {
		return false, nil // not an audit record line
	}
	isSeccomp := string(typ) == "SECCOMP" || string(typ) == "1326" || string(typ) == "UNKNOWN[1326]"
	if !isSeccomp {
		p.countType(typ)
		return false, nil
	}
	p.types.inc(seccomp)

	*r = Record{Node: node}
	// raw "audit(1613596317.899:6461):" or interpreted
	// "audit(08/09/2025 14:22:10.314:88) :"
	interp := stampInterp(rest, 6)
	var body []byte
	if interp {
		body, err = p.parseInterpPrefix(r, rest)
	} else {
		body, err = parseRawPrefix(r, rest)
	}
	if err != nil {
		_, _, err = p.fail(err)
		return false, err
	}
	if err := parseFields(r, body, interp, &p.in); err != nil {
		_, _, err = p.fail(err)
		return false, err
	}
	p.countSeccomp()
	return true, nil
}

// MaxNodeLength bounds a node= name (a host name is at most 253 bytes).
const MaxNodeLength = 253

// nodeBefore returns the node= name that auditd's name_format (forwarded by
// audisp-remote, or written by audisp-syslog) puts right before "type=" at
// pos: the word before it, when it starts the line, follows a space, or
// follows a grep -n line number. A node that is not a host name (letters,
// digits, '.', '-', '_', ':' for an address) is an error: it would be
// shown, and grouped on, as the name of a host.
func nodeBefore(line []byte, pos int) (string, error) {
	if pos < 2 || line[pos-1] != ' ' {
		return "", nil
	}
	start := pos - 1
	for start > 0 && line[start-1] != ' ' && !(line[start-1] == ':' && grepPrefix(line[:start-1])) {
		start--
	}
	word := line[start : pos-1]
	if !hasPrefix(word, "node=") {
		return "", nil
	}
	name := string(word[len("node="):])
	if !ValidNode(name) {
		return "", errBadNode
	}
	return name, nil
}

// ValidNode reports whether name can be a record's Node: 1 to
// MaxNodeLength letters, digits, '.', '-', '_' and ':' (an IPv6 address),
// starting with a letter, a digit or ':', so never "." or "..": a node
// names a directory of `suggest --out-dir`.
func ValidNode(name string) bool {
	if len(name) == 0 || len(name) > MaxNodeLength || name[0] == '.' || name[0] == '-' || name[0] == '_' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// isSeccompLine reports whether rest (what follows "type=") names a
// SECCOMP record: a bad node= only fails those, other types are counted
// as before.
func isSeccompLine(rest []byte) bool {
	return hasPrefix(rest, "SECCOMP ") || hasPrefix(rest, "1326 ") || hasPrefix(rest, "UNKNOWN[1326] ")
}

// countType counts a non-SECCOMP record by type name; kernel log numbers
// are named where known.
func (p *Parser) countType(typ []byte) {
	if len(typ) > 0 && typ[0] >= '0' && typ[0] <= '9' {
		if v, ok := parseDec(typ); ok && v < 1<<16 {
			p.types.incString(typeName(int(v)))
			return
		}
	}
	if len(typ) == 0 || len(typ) > 32 {
		p.types.incString("other")
		return
	}
	p.types.inc(typ)
}

// typeNames names the record types most often seen next to SECCOMP.
var typeNames = map[int]string{
	1100: "USER_AUTH", 1101: "USER_ACCT", 1103: "CRED_ACQ", 1104: "CRED_DISP",
	1105: "USER_START", 1106: "USER_END", 1112: "USER_LOGIN", 1130: "SERVICE_START",
	1131: "SERVICE_STOP", 1300: "SYSCALL", 1302: "PATH", 1303: "IPC", 1305: "CONFIG_CHANGE",
	1306: "SOCKADDR", 1307: "CWD", 1309: "EXECVE", 1320: "EOE", 1321: "BPRM_FCAPS",
	1322: "CAPSET", 1325: "NETFILTER_CFG", 1326: "SECCOMP", 1327: "PROCTITLE",
	1331: "KERN_MODULE", 1334: "BPF", 1335: "EVENT_LISTENER", 1400: "AVC",
	1700: "ANOM_PROMISCUOUS", 1701: "ANOM_ABEND", 1702: "ANOM_LINK",
}

// typeName returns the audit name of record type n, or "UNKNOWN[n]" as
// auditd spells types it does not know.
func typeName(n int) string {
	if s, ok := typeNames[n]; ok {
		return s
	}
	return "UNKNOWN[" + strconv.Itoa(n) + "]"
}

// parseInterpPrefix reads ausearch -i's "audit(08/09/2025 14:22:10.314:88) :"
// with the time in p.loc.
func (p *Parser) parseInterpPrefix(r *Record, data []byte) ([]byte, error) {
	q := data[len("audit("):]
	end := bytes.IndexByte(q, ')')
	if end < 0 {
		return nil, errTruncated
	}
	ts := q[:end]
	// serial after the last ':'
	colon := bytes.LastIndexByte(ts, ':')
	sp := bytes.IndexByte(ts, ' ')
	if colon < 0 || sp < 0 || colon < sp {
		return nil, errBadTimestamp
	}
	serial, ok := parseDec(ts[colon+1:])
	if !ok {
		return nil, errBadTimestamp
	}
	t, ok := parseInterpTime(ts[:sp], ts[sp+1:colon], p.loc)
	if !ok {
		return nil, errBadTimestamp
	}
	r.Time, r.Serial, r.HasSerial = t, serial, true
	return q[end+1:], nil
}

// parseInterpTime reads the date ("%x": 08/09/2025 or 08/09/25 in the C and
// en_US locales, also 2025-08-09 and 09.08.2025) and the clock
// ("14:22:10.314") printed by ausearch -i, in loc.
func parseInterpTime(date, clock []byte, loc *time.Location) (time.Time, bool) {
	var y, m, d uint64
	var ok1, ok2, ok3 bool
	switch {
	case bytes.Count(date, []byte("/")) == 2:
		a := bytes.Split(date, []byte("/"))
		m, ok1 = parseDec(a[0])
		d, ok2 = parseDec(a[1])
		y, ok3 = parseDec(a[2])
		if ok3 && len(a[2]) == 2 {
			y += 2000
		}
	case bytes.Count(date, []byte("-")) == 2:
		a := bytes.Split(date, []byte("-"))
		y, ok1 = parseDec(a[0])
		m, ok2 = parseDec(a[1])
		d, ok3 = parseDec(a[2])
	case bytes.Count(date, []byte(".")) == 2:
		a := bytes.Split(date, []byte("."))
		d, ok1 = parseDec(a[0])
		m, ok2 = parseDec(a[1])
		y, ok3 = parseDec(a[2])
	}
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > 31 || y > 9999 {
		return time.Time{}, false
	}
	c := bytes.Split(clock, []byte(":"))
	if len(c) != 3 {
		return time.Time{}, false
	}
	hh, ok1 := parseDec(c[0])
	mm, ok2 := parseDec(c[1])
	secB, msB, _ := bytes.Cut(c[2], []byte("."))
	ss, ok3 := parseDec(secB)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	var ms int
	for j, ch := range msB {
		if ch < '0' || ch > '9' {
			return time.Time{}, false
		}
		if j < 3 {
			ms = ms*10 + int(ch-'0')
		}
	}
	for j := len(msB); j < 3; j++ {
		ms *= 10
	}
	if time.Date(int(y), time.Month(m), int(d), 0, 0, 0, 0, time.UTC).Day() != int(d) {
		return time.Time{}, false // 02/31 is not a date (time.Date would move it to March)
	}
	return time.Date(int(y), time.Month(m), int(d), int(hh), int(mm), int(ss), ms*int(time.Millisecond), loc).UTC(), true
}

// grepPrefix reports whether b is the line number `grep -n` printed
// before a line ("52" in "52:type=SECCOMP ...").
func grepPrefix(b []byte) bool {
	if len(b) == 0 || len(b) > 12 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

func trimEOL(b []byte) []byte {
	if n := len(b); n >= 2 && b[n-1] == '\n' && b[n-2] != '\n' && b[n-2] != '\r' {
		return b[:n-1] // the usual line
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
