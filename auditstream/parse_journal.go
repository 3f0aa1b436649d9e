package auditstream

import (
	"bytes"
	"encoding/json"
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

// set stores one field of the entry.
func (e *exportEntry) set(key, val []byte) {
	switch string(key) {
	case "_TRANSPORT":
		e.transport = append(e.transport[:0], val...)
	case "_AUDIT_TYPE":
		e.typ = append(e.typ[:0], val...)
	case "_AUDIT_TYPE_NAME":
		e.typeName = append(e.typeName[:0], val...)
	case "_AUDIT_ID":
		e.id = append(e.id[:0], val...)
	case "_SOURCE_REALTIME_TIMESTAMP":
		e.srcTime = append(e.srcTime[:0], val...)
	case "__REALTIME_TIMESTAMP":
		e.realtime = append(e.realtime[:0], val...)
	case "MESSAGE":
		e.message = append(e.message[:0], val...)
	}
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
	r, ok, err := p.journalRecord(e.typ, e.typeName, e.id, e.srcTime, e.realtime, e.message, e.bad, ReasonBadExport)
	if ok {
		r.Line = e.start
	}
	return r, ok, err
}

// journalRecord decodes a journal entry of _TRANSPORT=audit.
func (p *Parser) journalRecord(typ, typeName, id, srcTime, realtime, msg []byte, bad bool, badReason string) (Record, bool, error) {
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

// journalJSON is the part of a `journalctl -o json` object that matters.
// Values are strings, or arrays of bytes for non-UTF-8 data (or arrays of
// those for repeated fields).
type journalJSON struct {
	Transport json.RawMessage `json:"_TRANSPORT"`
	Type      json.RawMessage `json:"_AUDIT_TYPE"`
	TypeName  json.RawMessage `json:"_AUDIT_TYPE_NAME"`
	ID        json.RawMessage `json:"_AUDIT_ID"`
	SrcTime   json.RawMessage `json:"_SOURCE_REALTIME_TIMESTAMP"`
	Realtime  json.RawMessage `json:"__REALTIME_TIMESTAMP"`
	Message   json.RawMessage `json:"MESSAGE"`
}

var audit = []byte(`"audit"`)

// parseJSON decodes one `journalctl -o json` line.
func (p *Parser) parseJSON(line []byte, start int) (Record, bool, error) {
	if !bytes.Contains(line, audit) {
		return Record{}, false, nil // not an audit entry: cheap skip
	}
	var j journalJSON
	if err := json.Unmarshal(line, &j); err != nil {
		return p.fail(&ParseError{Reason: ReasonBadJSON})
	}
	transport, ok := jsonValue(j.Transport)
	if !ok || string(transport) != "audit" {
		return Record{}, false, nil
	}
	typ, _ := jsonValue(j.Type)
	typeName, _ := jsonValue(j.TypeName)
	id, _ := jsonValue(j.ID)
	srcTime, _ := jsonValue(j.SrcTime)
	realtime, _ := jsonValue(j.Realtime)
	msg, msgOK := jsonValue(j.Message)
	r, ok, err := p.journalRecord(typ, typeName, id, srcTime, realtime, msg, !msgOK, ReasonBadJSON)
	if ok {
		r.Line = start
	}
	return r, ok, err
}

// jsonValue decodes a journal JSON field value: a string, an array of byte
// values, or (repeated field) an array of those, of which the first is used.
func jsonValue(raw json.RawMessage) ([]byte, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false
		}
		return []byte(s), true
	case '[':
		var b []byte
		var nums []uint8
		if err := json.Unmarshal(raw, &nums); err == nil {
			b = nums
			return b, true
		}
		var many []json.RawMessage
		if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
			return nil, false
		}
		return jsonValue(many[0])
	}
	return nil, false
}
