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

// parseJournalShort decodes such a line; anything else is not a record.
func (p *Parser) parseJournalShort(line []byte) (Record, bool, error) {
	off := 0
	for {
		i := bytes.Index(line[off:], journalAudit)
		if i < 0 {
			return Record{}, false, nil
		}
		i += off
		off = i + len(journalAudit)
		typ, body, ok := journalShortMessage(line[off:])
		if !ok {
			continue
		}
		if string(typ) != "SECCOMP" {
			p.countType(typ)
			return Record{}, false, nil
		}
		p.types.inc(seccomp)
		var r Record
		if t, ok := journalShortTime(line[:i]); ok {
			r.Time = t
		}
		if err := parseFields(&r, body, false, &p.in); err != nil {
			return p.fail(err)
		}
		return p.ok(r)
	}
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
