package auditstream

import (
	"bytes"
	"time"
)

// journalctl's text output of the audit records journald stored itself
// (_TRANSPORT=audit) names no record type with "type=": the syslog
// identifier is "audit", with the record's pid when journald mapped one,
// and the message is the type name and the body:
//
//	Nov 24 08:20:15 host audit[23974]: SECCOMP auid=4294967295 uid=0 ...
//	2026-11-24T08:20:15.744000+0000 host audit: SECCOMP auid=...
//
// The line carries no serial. Its time is the journal's: exact in the
// -o short-iso, short-iso-precise and short-unix forms; the short and
// short-precise forms print no year and the monotonic forms no date, so
// records from them have no time rather than a guessed one.

var journalAudit = []byte(" audit")

// Other viewers of the same journal print the entry's _COMM (which
// journald copies from the record's comm=) as the tag, or only the
// message:
//
//	10:39:55 pool-org.gnome.: SECCOMP auid=1000 uid=1000 ... comm="pool-org.gnome." ...
//	SECCOMP auid=1000 uid=1000 ...                      (journalctl -o cat)
//
// A tag other than "audit" is read only where it is the record's own comm
// (and its [pid], if printed, the record's pid); a line whose tag is not
// is counted as bad_prefix (field tag), not guessed at.
var seccompMsg = []byte(": SECCOMP ")

// parseJournalShort decodes such a line; anything else is not a record.
func (p *Parser) parseJournalShort(line []byte) (Record, bool, error) {
	if hasPrefix(line, "audit") { // no time, no host: "audit[123]: SECCOMP ..."
		if typ, body, ok := journalShortMessage(line[len("audit"):]); ok {
			return p.journalAudit(nil, typ, body)
		}
	}
	off := 0
	for {
		i := bytes.Index(line[off:], journalAudit)
		if i < 0 {
			break
		}
		i += off
		off = i + len(journalAudit)
		if typ, body, ok := journalShortMessage(line[off:]); ok {
			return p.journalAudit(line[:i], typ, body)
		}
	}
	if hasPrefix(line, "SECCOMP ") && startsWithKey(line[len("SECCOMP "):]) {
		p.types.inc(seccomp)
		var r Record
		if err := parseFields(&r, line[len("SECCOMP "):], false, &p.in); err != nil {
			return p.fail(err)
		}
		return p.ok(r)
	}
	return p.parseTaggedSeccomp(line)
}

// journalAudit decodes a journal audit message of type typ; prefix is what
// came before " audit" (its time, if dated).
func (p *Parser) journalAudit(prefix, typ, body []byte) (Record, bool, error) {
	if string(typ) != "SECCOMP" {
		p.countType(typ)
		return Record{}, false, nil
	}
	p.types.inc(seccomp)
	var r Record
	if t, ok := journalShortTime(prefix); ok {
		r.Time = t
	}
	if err := parseFields(&r, body, false, &p.in); err != nil {
		return p.fail(err)
	}
	return p.ok(r)
}

// parseTaggedSeccomp decodes "PREFIX TAG: SECCOMP key=..." where TAG (or
// TAG[pid]) is the record's own comm (and pid). Each ": SECCOMP " is tried
// in turn, since a comm may contain one.
func (p *Parser) parseTaggedSeccomp(line []byte) (Record, bool, error) {
	var firstErr error
	found := false
	off := 0
	for {
		k := bytes.Index(line[off:], seccompMsg)
		if k < 0 {
			break
		}
		k += off
		off = k + 1
		body := line[k+len(seccompMsg):]
		if !startsWithKey(body) {
			continue
		}
		found = true
		var r Record
		if err := parseFields(&r, body, false, &p.in); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		start, ok := tagIsComm(line[:k], r)
		if !ok {
			continue
		}
		if start > 0 {
			if t, ok := journalShortTime(line[:start-1]); ok {
				r.Time = t
			}
		}
		p.types.inc(seccomp)
		return p.ok(r)
	}
	if !found {
		return Record{}, false, nil
	}
	p.types.inc(seccomp)
	if firstErr != nil {
		return p.fail(firstErr)
	}
	return p.fail(errBadTag)
}

// errBadTag: a journal text line whose tag is neither "audit" nor the
// record's comm.
var errBadTag = &ParseError{Reason: ReasonBadPrefix, Field: "tag"}

// tagIsComm reports whether prefix ends with r's comm, or comm[pid] with
// r's pid, at the start of the line or after a blank; start is where the
// tag begins.
func tagIsComm(prefix []byte, r Record) (int, bool) {
	if r.Comm == "" {
		return 0, false
	}
	if start, ok := endsWithWord(prefix, r.Comm); ok {
		return start, true
	}
	n := len(prefix)
	if n == 0 || prefix[n-1] != ']' {
		return 0, false
	}
	j := bytes.LastIndexByte(prefix, '[')
	if j < 0 {
		return 0, false
	}
	if pid, ok := parseDec(prefix[j+1 : n-1]); !ok || pid != uint64(r.PID) {
		return 0, false
	}
	return endsWithWord(prefix[:j], r.Comm)
}

// endsWithWord reports whether b ends with w at its start or after a blank,
// and where w starts.
func endsWithWord(b []byte, w string) (int, bool) {
	if !bytes.HasSuffix(b, []byte(w)) {
		return 0, false
	}
	start := len(b) - len(w)
	if start > 0 && b[start-1] != ' ' {
		return 0, false
	}
	return start, true
}

// startsWithKey reports whether b begins with a lower-case key and '='.
func startsWithKey(b []byte) bool {
	j := 0
	for j < len(b) && (b[j] >= 'a' && b[j] <= 'z' || b[j] == '_') {
		j++
	}
	return j > 0 && j < len(b) && b[j] == '='
}

// journalShortMessage splits what follows " audit": an optional "[pid]",
// ": ", a record type name (upper case, digits, _) and the body.
func journalShortMessage(b []byte) (typ, body []byte, ok bool) {
	if len(b) > 0 && b[0] == '[' {
		j := 1
		for j < len(b) && j < 12 && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == 1 || j >= len(b) || b[j] != ']' {
			return nil, nil, false
		}
		b = b[j+1:]
	}
	if !hasPrefix(b, ": ") {
		return nil, nil, false
	}
	b = b[2:]
	e := 0
	for e < len(b) && e <= 32 && (b[e] >= 'A' && b[e] <= 'Z' || b[e] >= '0' && b[e] <= '9' || b[e] == '_') {
		e++
	}
	if e < 3 || e > 32 || e >= len(b) || b[e] != ' ' {
		return nil, nil, false
	}
	return b[:e], b[e+1:], true
}

// journalShortTime reads the journal's time at the start of prefix, in the
// forms that say which day it is: ISO 8601 with a zone (short-iso,
// short-iso-precise; "+0000" up to systemd 254, "+00:00" since) and Unix
// seconds (short-unix). It keeps milliseconds, as the audit stamp does.
func journalShortTime(prefix []byte) (time.Time, bool) {
	sp := bytes.IndexByte(prefix, ' ')
	if sp <= 0 || prefix[0] < '0' || prefix[0] > '9' {
		return time.Time{}, false
	}
	tok := string(prefix[:sp])
	if bytes.IndexByte(prefix[:sp], 'T') > 0 {
		for _, layout := range []string{"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z07:00"} {
			if t, err := time.Parse(layout, tok); err == nil && t.Year() >= 1970 {
				return t.Truncate(time.Millisecond).UTC(), true
			}
		}
		return time.Time{}, false
	}
	secs, frac, _ := bytes.Cut(prefix[:sp], []byte{'.'})
	s, ok := parseDec(secs)
	if !ok || s > 1<<40 || len(frac) > 9 {
		return time.Time{}, false
	}
	var ms int64
	for k := 0; k < 3; k++ {
		ms *= 10
		if k < len(frac) {
			ms += int64(frac[k] - '0')
		}
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
	}
	return time.UnixMilli(int64(s)*1000 + ms).UTC(), true
}
