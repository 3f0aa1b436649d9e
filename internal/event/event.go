// Package event is the denial event: a SECCOMP record enriched with its
// syscall name, systemd groups and unit. Its JSON form is the record schema
// of SPEC.md ("Denial record"), shared by `replay --output jsonl`, the
// --events.file stream and /api/v1/denials.
package event

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// UnknownUnit is the unit of a denial that could not be attributed.
const UnknownUnit = "unknown"

// Event is one enriched denial.
type Event struct {
	auditstream.Record

	// SyscallName is the syscall's name in its ABI's table, or "unknown".
	SyscallName string
	// Groups are the systemd groups that contain the syscall (nesting
	// resolved) in the table in use.
	Groups []string
	// Unit is the systemd unit, or UnknownUnit. Never a guess.
	Unit string
	// Machine names the container or machine the unit runs in; "" on the host.
	Machine string
	// UserUnit marks a unit of the user manager user@UserUID.service, not
	// the system unit of that name.
	UserUnit bool
	UserUID  int
	// Method says how the unit was found (bpf, proc, history, exe, flag);
	// Reason why it was not ("" when attributed).
	Method, Reason string
	// CandidateUnit, for a denial left unknown, is the one unit whose
	// ExecStart= runs the record's exe when nothing the sender cannot
	// forge confirmed it (live only): a lead, never the unit.
	CandidateUnit string
	// Verdict is what denied the call, as the daemon last judged this
	// unit × syscall × ABI × action (live only; nil: not judged yet).
	Verdict *Verdict
}

// Verdict is the short form of a denial's verdict in the event stream
// (the suggestion JSON has it in full).
type Verdict struct {
	// Kind is sandbox.Kind: filter, filter-removed, architecture,
	// directive, none, stale, benign, unknown, logged.
	Kind string
	// Directive is the (first) denying setting; Source where it was set.
	Directive, Source string
}

// ArchLabel returns the schema's arch value (e.g. "x86_64", "unknown:c0000008").
func (e *Event) ArchLabel() string {
	return syscalls.ArchLabel(e.Arch, e.AuditArch)
}

// JSONOptions selects the optional keys of the JSON form.
type JSONOptions struct {
	// Live adds the keys only live events have: "machine", "user_uid"
	// (the UID of user@UID.service for a user unit, else null),
	// "attribution" (method or "failed:<reason>") and "candidate_unit"
	// (Event.CandidateUnit, else null) and "verdict" ({"kind",
	// "directive", "source"}, or null before the daemon judged it). Replay
	// output keeps exactly the documented keys.
	Live bool
	// Cache, when not nil, keeps the JSON of the comm, exe, unit and
	// group list of earlier events, for a writer of many (replay).
	Cache *JSONCache
}

// JSONCache remembers the JSON form of strings and group lists that
// repeat from event to event: the parser's interned comm and exe, the
// file name, the table's syscall names and group lists, the arch and
// action names; and the time form of the last second. It knows them by their memory
// (which it keeps alive, so that memory is never another string's), not
// by their content: a look-up costs two comparisons. Not safe for
// concurrent use.
type JSONCache struct {
	strs   [4096]cachedJSON[byte]
	groups [512]cachedJSON[string]
	// sec is the Unix second whose time form up to its fraction
	// ("2006-01-02T15:04:05.") is secText, when secOK: the records of
	// a log come many to a second.
	sec    int64
	secOK  bool
	secTxt [20]byte
}

// appendTime is AppendTime through the cache.
func (c *JSONCache) appendTime(b []byte, t time.Time) []byte {
	if c == nil {
		return AppendTime(b, t)
	}
	sec := t.Unix()
	if !c.secOK || c.sec != sec {
		var tmp [40]byte
		full := AppendTime(tmp[:0], t)
		// only the four-digit years' form has its fraction at 20
		c.secOK = len(full) == 24 && full[19] == '.'
		if !c.secOK {
			return append(b, full...)
		}
		c.sec = sec
		copy(c.secTxt[:], full)
	}
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, c.secTxt[:]...)
	return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

type cachedJSON[T any] struct {
	p    *T
	n    int
	json string
}

// slot picks a cache slot from an address and a length.
func slot(p unsafe.Pointer, n, size int) int {
	return int((uintptr(p)>>4 ^ uintptr(n)*0x9e37) % uintptr(size))
}

// appendString is AppendString through the cache.
func (c *JSONCache) appendString(b []byte, s string) []byte {
	if c == nil || len(s) == 0 || len(s) > 256 {
		return AppendString(b, s)
	}
	p := unsafe.StringData(s)
	e := &c.strs[slot(unsafe.Pointer(p), len(s), len(c.strs))]
	if e.p != p || e.n != len(s) {
		e.p, e.n, e.json = p, len(s), string(AppendString(nil, s))
	}
	return append(b, e.json...)
}

// appendGroups appends the JSON array of groups, through the cache.
func (c *JSONCache) appendGroups(b []byte, groups []string) []byte {
	if c == nil || len(groups) == 0 {
		return appendGroups(b, groups)
	}
	p := &groups[0]
	e := &c.groups[slot(unsafe.Pointer(p), len(groups), len(c.groups))]
	if e.p != p || e.n != len(groups) {
		e.p, e.n, e.json = p, len(groups), string(appendGroups(nil, groups))
	}
	return append(b, e.json...)
}

func appendGroups(b []byte, groups []string) []byte {
	b = append(b, '[')
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, g)
	}
	return append(b, ']')
}

// AppendJSON appends the event as one JSON object (no newline) to b.
func (e *Event) AppendJSON(b []byte, opts JSONOptions) []byte {
	b = append(b, `{"file":`...)
	if e.File == "" && e.Line == 0 {
		b = append(b, `null,"line":null`...)
	} else {
		b = opts.Cache.appendString(b, e.File)
		b = append(b, `,"line":`...)
		b = appendInt(b, int64(e.Line))
	}
	b = append(b, `,"time":`...)
	if e.Time.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = opts.Cache.appendTime(b, e.Time)
		b = append(b, '"')
	}
	b = append(b, `,"serial":`...)
	if e.HasSerial {
		b = appendUint(b, e.Serial)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"pid":`...)
	b = appendInt(b, int64(e.PID))
	b = appendID(append(b, `,"uid":`...), e.UID)
	b = appendID(append(b, `,"auid":`...), e.AUID)
	b = appendID(append(b, `,"gid":`...), e.GID)
	b = opts.Cache.appendString(append(b, `,"comm":`...), e.Comm)
	b = append(b, `,"exe":`...)
	if e.ExeUnknown {
		b = append(b, "null"...)
	} else {
		b = opts.Cache.appendString(b, e.Exe)
	}
	b = opts.Cache.appendString(append(b, `,"arch":`...), e.ArchLabel())
	b = appendInt(append(b, `,"syscall_nr":`...), int64(e.Syscall))
	name := e.SyscallName
	if name == "" {
		name = "unknown"
	}
	b = opts.Cache.appendString(append(b, `,"syscall":`...), name)
	b = strconv.AppendBool(append(b, `,"compat":`...), e.Compat)
	b = appendInt(append(b, `,"signal":`...), int64(e.Signal))
	b = opts.Cache.appendString(append(b, `,"action":`...), e.Action.String())
	b = appendInt(append(b, `,"errno":`...), int64(e.Errno))
	unit := e.Unit
	if unit == "" {
		unit = UnknownUnit
	}
	b = opts.Cache.appendString(append(b, `,"unit":`...), unit)
	b = opts.Cache.appendGroups(append(b, `,"groups":`...), e.Groups)
	b = append(b, `,"node":`...)
	if e.Node == "" {
		b = append(b, "null"...)
	} else {
		b = AppendString(b, e.Node)
	}
	if opts.Live {
		b = append(b, `,"machine":`...)
		if e.Machine == "" {
			b = append(b, "null"...)
		} else {
			b = AppendString(b, e.Machine)
		}
		b = append(b, `,"user_uid":`...)
		if e.UserUnit {
			b = strconv.AppendInt(b, int64(e.UserUID), 10)
		} else {
			b = append(b, "null"...)
		}
		attr := e.Method
		if e.Reason != "" {
			attr = "failed:" + e.Reason
		}
		b = AppendString(append(b, `,"attribution":`...), attr)
		b = append(b, `,"candidate_unit":`...)
		if e.CandidateUnit == "" {
			b = append(b, "null"...)
		} else {
			b = AppendString(b, e.CandidateUnit)
		}
		b = append(b, `,"verdict":`...)
		if e.Verdict == nil {
			b = append(b, "null"...)
		} else {
			b = AppendString(append(b, `{"kind":`...), e.Verdict.Kind)
			b = AppendString(append(b, `,"directive":`...), e.Verdict.Directive)
			b = AppendString(append(b, `,"source":`...), e.Verdict.Source)
			b = append(b, '}')
		}
	}
	return append(b, '}')
}

func appendID(b []byte, id auditstream.ID) []byte {
	if id.Name != "" {
		return AppendString(b, id.Name)
	}
	return appendUint(b, uint64(id.N))
}

// appendUint is strconv.AppendUint(b, v, 10), the digits written in
// place, two at a time (no buffer to copy from).
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	n := 2
	for x := v; x >= 100; x /= 10 {
		n++
	}
	l := len(b)
	b = slices.Grow(b, n)[:l+n]
	i := l + n
	for v >= 100 {
		q := v / 100
		d := (v - q*100) * 2
		i -= 2
		b[i], b[i+1] = digitPairs[d], digitPairs[d+1]
		v = q
	}
	if v >= 10 {
		b[i-2], b[i-1] = digitPairs[v*2], digitPairs[v*2+1]
	} else {
		b[i-1] = byte('0' + v)
	}
	return b
}

// appendInt is strconv.AppendInt(b, v, 10).
func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return strconv.AppendInt(b, v, 10)
	}
	return appendUint(b, uint64(v))
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string. Control characters, quotes,
// backslashes, U+2028/U+2029 and the HTML-sensitive <, >, & are escaped;
// invalid UTF-8 becomes U+FFFD, as encoding/json does.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plain[c] says that ASCII byte c stands for itself in a JSON string
// (AppendString escapes the others): one load per byte instead of seven
// comparisons.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c != 0x7f
	}
	return t
}()

// AppendTime appends t in UTC as the schema's time,
// 2006-01-02T15:04:05.000Z (what t.UTC().AppendFormat with that layout
// gives for years 0-9999, without parsing the layout for every record).
func AppendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	h, mi, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// MarshalJSON implements json.Marshaler with the live key set.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil, JSONOptions{Live: true}), nil
}

// ValidMachineName reports whether s is usable as a machine name the way
// systemd's machine_name_is_valid judges one: a hostname of at most 64
// characters from [A-Za-z0-9._-], not starting with a dot, and not "..".
// Anything else from a cgroup path is refused, never escaped, because the
// name becomes a directory under --out-dir and a label value.
func ValidMachineName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return !strings.Contains(s, "..")
}
