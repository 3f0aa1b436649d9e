package auditstream

import (
	"bytes"
	"encoding/json"
	"io"
	"time"
)

// journald stores a kernel audit record (systemd's journald-audit.c) with
// _TRANSPORT=audit, _AUDIT_TYPE=<number>, _AUDIT_TYPE_NAME, _AUDIT_ID=<serial>,
// _SOURCE_REALTIME_TIMESTAMP=<the record's time in µs>, and
// MESSAGE="<TYPE NAME> <body after audit(...): >".

// exportEntry collects the fields of one `journalctl -o export` entry that
// matter; everything else is skipped. Buffers are reused between entries.
type exportEntry struct {
	active    bool
	start     int
	bad       bool
	seen      uint8  // the fields below given so far (bit per exportField*)
	dup       string // the first of them given twice, "" if none
	transport []byte
	typ       []byte
	typeName  []byte
	id        []byte
	srcTime   []byte
	realtime  []byte
	message   []byte
}

func (e *exportEntry) begin(start int) {
	*e = exportEntry{
		active:    true,
		start:     start,
		transport: e.transport[:0],
		typ:       e.typ[:0],
		typeName:  e.typeName[:0],
		id:        e.id[:0],
		srcTime:   e.srcTime[:0],
		realtime:  e.realtime[:0],
		message:   e.message[:0],
	}
}

// set stores one field of the entry. A field journald writes once that
// comes twice marks the entry (dup): a SECCOMP record in it is malformed,
// whichever value is real. Of two _TRANSPORT, _AUDIT_TYPE or
// _AUDIT_TYPE_NAME values the one that makes the entry a SECCOMP audit
// record is kept, so that such an entry is counted, not skipped.
func (e *exportEntry) set(key, val []byte) {
	switch string(key) {
	case "_TRANSPORT":
		e.transport = e.store(e.transport, 0, "_TRANSPORT", val, "audit")
	case "_AUDIT_TYPE":
		e.typ = e.store(e.typ, 1, "_AUDIT_TYPE", val, "1326")
	case "_AUDIT_TYPE_NAME":
		e.typeName = e.store(e.typeName, 2, "_AUDIT_TYPE_NAME", val, "SECCOMP")
	case "_AUDIT_ID":
		e.id = e.store(e.id, 3, "_AUDIT_ID", val, "")
	case "_SOURCE_REALTIME_TIMESTAMP":
		e.srcTime = e.store(e.srcTime, 4, "_SOURCE_REALTIME_TIMESTAMP", val, "")
	case "__REALTIME_TIMESTAMP":
		e.realtime = e.store(e.realtime, 5, "__REALTIME_TIMESTAMP", val, "")
	case "MESSAGE":
		e.message = e.store(e.message, 6, "MESSAGE", val, "")
	}
}

// store sets field bit's value dst to val, the first time; again, it marks
// the entry dup and keeps pref if val is pref.
func (e *exportEntry) store(dst []byte, bit uint, name string, val []byte, pref string) []byte {
	if e.seen&(1<<bit) != 0 {
		if e.dup == "" {
			e.dup = name
		}
		if pref == "" || string(val) != pref {
			return dst
		}
	}
	e.seen |= 1 << bit
	return append(dst[:0], val...)
}

// exportLine handles one text line of an export entry.
func (p *Parser) exportLine(line []byte) {
	key, val, ok := bytes.Cut(line, []byte("="))
	if !ok {
		// a binary field's name line reached ParseLine: the Reader
		// handles those; anything else makes the entry invalid
		p.exp.bad = true
		return
	}
	p.exp.set(key, val)
}

// InExport reports whether the Parser is inside a `journalctl -o export`
// entry, where a line without '=' names a binary field whose value follows
// as a little-endian uint64 size, the bytes and a newline.
func (p *Parser) InExport() bool { return p.exp.active }

// ExportBinary stores a binary field of the current export entry, read by
// the caller after the field's name line (which it must not pass to
// ParseLine). newlines is the number of '\n' bytes the value and its
// trailing newline spanned, so that line numbers stay right; value nil means
// the field was too long and dropped (the entry is then invalid).
func (p *Parser) ExportBinary(key, value []byte, newlines int) {
	p.line += newlines + 1
	p.lines += uint64(newlines + 1)
	if value == nil {
		p.exp.bad = true
		return
	}
	p.exp.set(key, value)
}

// finishExport decodes the entry ended by a blank line.
func (p *Parser) finishExport() (Record, bool, error) {
	e := &p.exp
	e.active = false
	if string(e.transport) != "audit" {
		// Another transport's entry (a coredump's huge binary field
		// makes it "bad") is not a SECCOMP record: skip it. Only an
		// entry whose transport is unknown may have been one.
		if e.bad && len(e.transport) == 0 {
			return p.fail(&ParseError{Reason: ReasonBadExport})
		}
		return Record{}, false, nil
	}
	r, ok, err := p.journalRecord(e.typ, e.typeName, e.id, e.srcTime, e.realtime, e.message, e.bad, ReasonBadExport, e.dup)
	if ok {
		r.Line = e.start
	}
	return r, ok, err
}

// journalRecord decodes a journal entry of _TRANSPORT=audit. dup names a
// field the entry has twice ("" if none): a SECCOMP record is then
// malformed.
func (p *Parser) journalRecord(typ, typeName, id, srcTime, realtime, msg []byte, bad bool, badReason, dup string) (Record, bool, error) {
	n, numOK := parseDec(typ)
	isSeccomp := numOK && n == 1326 || string(typeName) == "SECCOMP"
	if !isSeccomp {
		switch {
		case len(typeName) > 0:
			p.countType(typeName)
		case numOK:
			p.countType(typ)
		default:
			p.types.incString("other")
		}
		return Record{}, false, nil
	}
	p.types.inc(seccomp)
	if bad {
		return p.fail(&ParseError{Reason: badReason})
	}
	if dup != "" {
		return p.fail(duplicateKey(dup))
	}
	var r Record
	body := msg
	if i := indexAudit(msg); i >= 0 && i < 32 {
		// MESSAGE with the kernel's audit(...) prefix (other writers)
		b, err := parseRawPrefix(&r, msg[i:])
		if err != nil {
			return p.fail(err)
		}
		body = b
	} else {
		// journald: "SECCOMP auid=..." (type name, then the body)
		if sp := bytes.IndexByte(msg, ' '); sp >= 0 && bytes.IndexByte(msg[:sp], '=') < 0 {
			body = msg[sp+1:]
		}
		if v, ok := parseDec(id); ok {
			r.Serial, r.HasSerial = v, true
		}
		ts := srcTime
		if len(ts) == 0 {
			ts = realtime
		}
		if us, ok := parseDec(ts); ok && us/1e6 <= 1<<40 { // same range as the raw prefix
			ms := int64(us) / 1000
			r.Time = time.UnixMilli(ms).UTC()
		}
	}
	if err := parseFields(&r, body, false, &p.in); err != nil {
		return p.fail(err)
	}
	return p.ok(r)
}

var audit = []byte(`"audit"`)

// parseJSON decodes one `journalctl -o json` line. journalctl writes each
// field once (a field with several values as an array of them): an object
// with a key twice, or with several values of a field read here, is a
// malformed SECCOMP record if it is one at all (encoding/json would
// silently keep the last).
func (p *Parser) parseJSON(line []byte, start int) (Record, bool, error) {
	if !bytes.Contains(line, audit) {
		return Record{}, false, nil // not an audit entry: cheap skip
	}
	var raw [len(jsonFields)][]json.RawMessage
	dup, ok := decodeJournalJSON(line, &raw)
	if !ok {
		return p.fail(&ParseError{Reason: ReasonBadJSON})
	}
	field := func(i int, pref string) ([]byte, int) {
		var v []byte
		n := 0
		for _, r := range raw[i] {
			w, k := jsonValue(r, pref)
			if k == 0 {
				continue
			}
			if v == nil || pref != "" && string(w) == pref {
				v = w
			}
			n += k
		}
		if n > 1 && dup == "" {
			dup = jsonFields[i]
		}
		return v, n
	}
	transport, _ := field(jsonTransport, "audit")
	if string(transport) != "audit" {
		return Record{}, false, nil
	}
	typ, _ := field(jsonType, "1326")
	typeName, _ := field(jsonTypeName, "SECCOMP")
	id, _ := field(jsonID, "")
	srcTime, _ := field(jsonSrcTime, "")
	realtime, _ := field(jsonRealtime, "")
	msg, msgN := field(jsonMessage, "")
	r, ok, err := p.journalRecord(typ, typeName, id, srcTime, realtime, msg, msgN == 0, ReasonBadJSON, dup)
	if ok {
		r.Line = start
	}
	return r, ok, err
}

// The journal fields parseJSON reads, as indexes of jsonFields.
const (
	jsonTransport = iota
	jsonType
	jsonTypeName
	jsonID
	jsonSrcTime
	jsonRealtime
	jsonMessage
)

// jsonFields are the names of the journal fields parseJSON reads.
var jsonFields = [...]string{"_TRANSPORT", "_AUDIT_TYPE", "_AUDIT_TYPE_NAME", "_AUDIT_ID", "_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP", "MESSAGE"}

// decodeJournalJSON reads one JSON object, collecting the values of the
// keys in jsonFields (every one, when a key repeats). dup is the first key
// given twice: its name if it is one of jsonFields, else "other". ok is
// false for anything but exactly one valid object.
func decodeJournalJSON(line []byte, raw *[len(jsonFields)][]json.RawMessage) (dup string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := make(map[string]struct{}, 32)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", false
		}
		i := -1
		for j, f := range jsonFields {
			if k == f {
				i = j
				raw[j] = append(raw[j], v)
			}
		}
		if _, again := seen[k]; again && dup == "" {
			dup = "other"
			if i >= 0 {
				dup = jsonFields[i]
			}
		}
		seen[k] = struct{}{}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false // trailing data
	}
	return dup, true
}

// jsonValue decodes a journal JSON field value: a string, an array of byte
// values, or (a field with several values) an array of those. n is the
// number of values, 0 when absent or invalid; of several, the one equal to
// pref is returned if there is one, else the first.
func jsonValue(raw json.RawMessage, pref string) (v []byte, n int) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, 0
		}
		return []byte(s), 1
	case '[':
		var nums []uint8
		if err := json.Unmarshal(raw, &nums); err == nil {
			return nums, 1
		}
		var many []json.RawMessage
		if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
			return nil, 0
		}
		for _, m := range many {
			w, k := jsonValue(m, "")
			if k != 1 {
				return nil, 0 // an array in an array: not journalctl's
			}
			if v == nil || pref != "" && string(w) == pref {
				v = w
			}
		}
		return v, len(many)
	}
	return nil, 0
}
