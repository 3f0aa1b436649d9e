package auditstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// ErrMalformed is matched (errors.Is) by every error the parsers return for
// input that looks like a SECCOMP record but cannot be decoded. The error is
// a *ParseError carrying the reason.
var ErrMalformed = errors.New("auditstream: malformed SECCOMP record")

// Reasons a SECCOMP record is malformed, as used in ParseError.Reason and the
// `seccompwatch_parse_errors_total{reason}` metric. The set is closed.
const (
	ReasonBadPrefix      = "bad_prefix"      // no audit(ts:serial) prefix
	ReasonBadTimestamp   = "bad_timestamp"   // the prefix's time or serial is not a number
	ReasonTruncated      = "truncated"       // unterminated quote or prefix
	ReasonMissingPID     = "missing_pid"     // no pid=
	ReasonMissingArch    = "missing_arch"    // no arch=
	ReasonMissingSyscall = "missing_syscall" // no syscall=
	ReasonMissingCode    = "missing_code"    // no code=
	ReasonBadNumber      = "bad_number"      // a numeric field is not a number
	ReasonBadHex         = "bad_hex"         // a hex-encoded comm/exe is not valid hex
	ReasonBadName        = "bad_name"        // an interpreted name (signal, code, arch, syscall) is not known, or a node= that is not a host name
	ReasonBadJSON        = "bad_json"        // a journalctl -o json line is not valid
	ReasonBadExport      = "bad_export"      // a journalctl -o export entry is not valid
	ReasonLineTooLong    = "line_too_long"   // a line longer than MaxLineLength
	ReasonDuplicateKey   = "duplicate_key"   // a key given twice (which value is the record's is a guess)
	ReasonBadQuote       = "bad_quote"       // a quote where a raw record cannot have one
	ReasonAmbiguous      = "ambiguous"       // a value only a guess could decode (see ParseError.Field)
)

// ParseError says why a SECCOMP record could not be decoded.
type ParseError struct {
	Reason string // one of the Reason* constants
	Field  string // the field concerned, if any
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Field != "" {
		return "auditstream: malformed SECCOMP record: " + e.Reason + " (" + e.Field + ")"
	}
	return "auditstream: malformed SECCOMP record: " + e.Reason
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// Preallocated errors keep the hot path allocation-free.
var (
	errBadPrefix      = &ParseError{Reason: ReasonBadPrefix}
	errBadTimestamp   = &ParseError{Reason: ReasonBadTimestamp}
	errTruncated      = &ParseError{Reason: ReasonTruncated}
	errMissingPID     = &ParseError{Reason: ReasonMissingPID}
	errMissingArch    = &ParseError{Reason: ReasonMissingArch}
	errMissingSyscall = &ParseError{Reason: ReasonMissingSyscall}
	errMissingCode    = &ParseError{Reason: ReasonMissingCode}
	errBadHex         = &ParseError{Reason: ReasonBadHex}
	errBadQuote       = &ParseError{Reason: ReasonBadQuote}
	errBadNode        = &ParseError{Reason: ReasonBadName, Field: "node"}

	errAmbiguousSyscall = &ParseError{Reason: ReasonAmbiguous, Field: "syscall"}
	errAmbiguousComm    = &ParseError{Reason: ReasonAmbiguous, Field: "comm"}
	errAmbiguousExe     = &ParseError{Reason: ReasonAmbiguous, Field: "exe"}
)

func duplicateKey(field string) error { return &ParseError{Reason: ReasonDuplicateKey, Field: field} }

func badNumber(field string) error { return &ParseError{Reason: ReasonBadNumber, Field: field} }
func badName(field string) error   { return &ParseError{Reason: ReasonBadName, Field: field} }

// enrichSep is the byte auditd 3.x writes before its interpreted tail
// (AUID="unset" UID="root" ...). Nothing after it is read.
const enrichSep = 0x1d

// ParseKernel decodes the body of a SECCOMP (type 1326) record as the kernel
// sends it over netlink:
//
//	audit(1763775501.123:42): auid=4294967295 uid=0 ... code=0x80000000
//
// Trailing NUL bytes and newlines are ignored. Errors match ErrMalformed. It
// allocates only for comm and exe.
func ParseKernel(data []byte) (Record, error) {
	for len(data) > 0 && (data[len(data)-1] == 0 || data[len(data)-1] == '\n') {
		data = data[:len(data)-1]
	}
	var r Record
	rest, err := parseRawPrefix(&r, data)
	if err != nil {
		return Record{}, err
	}
	if err := parseFields(&r, rest, false, nil); err != nil {
		return Record{}, err
	}
	return r, nil
}

// ParseSerial returns the serial of any audit record's `audit(ts:serial)`
// prefix (kernel netlink body, or an audit.log line). It does not allocate.
func ParseSerial(data []byte) (uint64, bool) {
	i := indexAudit(data)
	if i < 0 {
		return 0, false
	}
	p := data[i+len("audit("):]
	colon := -1
	for j := 0; j < len(p); j++ {
		c := p[j]
		if c == ':' {
			colon = j
		} else if c == ')' {
			if colon < 0 {
				return 0, false
			}
			return parseDec(p[colon+1 : j])
		}
	}
	return 0, false
}

// indexAudit returns the index of the first "audit(" in data, or -1.
func indexAudit(data []byte) int {
	for i := 0; i+6 <= len(data); i++ {
		if data[i] == 'a' && data[i+1] == 'u' && data[i+2] == 'd' && data[i+3] == 'i' && data[i+4] == 't' && data[i+5] == '(' {
			return i
		}
	}
	return -1
}

// parseRawPrefix reads "audit(SEC.MS:SERIAL):" at the start of data (after
// optional blanks) into r and returns what follows.
func parseRawPrefix(r *Record, data []byte) ([]byte, error) {
	data = trimLeft(data)
	if len(data) < 6 || string(data[:6]) != "audit(" {
		return nil, errBadPrefix
	}
	p := data[6:]
	end := -1
	for j := 0; j < len(p); j++ {
		if p[j] == ')' {
			end = j
			break
		}
	}
	if end < 0 {
		return nil, errTruncated
	}
	if err := parseEpochSerial(r, p[:end]); err != nil {
		return nil, err
	}
	rest := p[end+1:]
	if len(rest) > 0 && rest[0] == ':' {
		rest = rest[1:]
	}
	return rest, nil
}

// parseEpochSerial parses "1763775501.123:42".
func parseEpochSerial(r *Record, ts []byte) error {
	colon := -1
	for j := len(ts) - 1; j >= 0; j-- {
		if ts[j] == ':' {
			colon = j
			break
		}
	}
	if colon < 0 {
		return errBadTimestamp
	}
	serial, ok := parseDec(ts[colon+1:])
	if !ok {
		return errBadTimestamp
	}
	t := ts[:colon]
	dot := -1
	for j := 0; j < len(t); j++ {
		if t[j] == '.' {
			dot = j
			break
		}
	}
	secB, fracB := t, []byte(nil)
	if dot >= 0 {
		secB, fracB = t[:dot], t[dot+1:]
	}
	sec, ok := parseDec(secB)
	if !ok || sec > 1<<40 {
		return errBadTimestamp
	}
	var ms int64
	for j := 0; j < len(fracB); j++ {
		c := fracB[j]
		if c < '0' || c > '9' {
			return errBadTimestamp
		}
		if j < 3 {
			ms = ms*10 + int64(c-'0')
		}
	}
	for j := len(fracB); j < 3; j++ {
		ms *= 10
	}
	r.Time = time.Unix(int64(sec), ms*int64(time.Millisecond)).UTC()
	r.Serial = serial
	r.HasSerial = true
	return nil
}

// field presence bits for the mandatory fields.
const (
	havePID = 1 << iota
	haveArch
	haveSyscall
	haveCode
)

// interner returns a string for b, reusing an earlier equal one: logs
// repeat a few hundred comm, exe and user names, so a record's strings
// cost no allocation after their first. It holds at most maxInterned
// strings of at most maxInternLen bytes (then it starts afresh), and
// recentSlots more, so a log of endless distinct names keeps memory
// flat. A nil interner allocates every time.
type interner struct {
	m map[string]string
	// recent is a direct-mapped cache in front of m, slot chosen by
	// recentSlot: a hit costs one comparison, no hashing of the whole
	// name.
	recent *[recentSlots]string
}

const (
	maxInterned  = 4096
	maxInternLen = 256
	// recentSlots is the size of interner.recent (a power of two).
	recentSlots = 4096
)

// recentSlot picks b's slot in interner.recent from its length and its
// first and last (up to) eight bytes.
func recentSlot(b []byte) int {
	var v uint64
	if len(b) >= 8 {
		v = binary.LittleEndian.Uint64(b[len(b)-8:])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b)
	} else {
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
	}
	v = (v ^ uint64(len(b))) * 0xff51afd7ed558ccd
	return int(v >> (64 - 12))
}

func (in *interner) get(b []byte) string {
	if in == nil || len(b) > maxInternLen {
		return string(b)
	}
	if in.recent == nil {
		in.recent = new([recentSlots]string)
	}
	slot := &in.recent[recentSlot(b)]
	if *slot == string(b) {
		return *slot
	}
	if s, ok := in.m[string(b)]; ok {
		*slot = s
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 64)
	}
	s := string(b)
	in.m[s] = s
	*slot = s
	return s
}

// canon replaces the strings of rec that a Parser interns by in's equal
// ones: the records of blocks parsed apart then share their strings, as
// those of one Parser do (what a cache keyed by a string's address, as
// event.JSONCache, relies on).
func (in *interner) canon(rec *Record) {
	for _, s := range [...]*string{&rec.Comm, &rec.Exe, &rec.SyscallNm, &rec.UID.Name, &rec.AUID.Name, &rec.GID.Name, &rec.Ses.Name} {
		if *s != "" {
			*s = in.get(unsafe.Slice(unsafe.StringData(*s), len(*s)))
		}
	}
}

// The fields of a SECCOMP record in the order the kernel writes them
// (kernel/auditsc.c: audit_log_task, then __audit_seccomp):
//
//	auid uid gid ses [subj] pid comm exe sig arch syscall compat ip code
const (
	fAUID = iota
	fUID
	fGID
	fSes
	fSubj
	fPID
	fComm
	fExe
	fSig
	fArch
	fSyscall
	fCompat
	fIP
	fCode
)

// fieldNames are the keys of the fields, indexed by f*.
var fieldNames = [...]string{"auid", "uid", "gid", "ses", "subj", "pid", "comm", "exe", "sig", "arch", "syscall", "compat", "ip", "code"}

// fieldIndex returns the f* index of a key, or -1 for a key the kernel
// does not write in a SECCOMP record.
func fieldIndex(key []byte) int {
	switch string(key) {
	case "auid":
		return fAUID
	case "uid":
		return fUID
	case "gid":
		return fGID
	case "ses":
		return fSes
	case "subj":
		return fSubj
	case "pid":
		return fPID
	case "comm":
		return fComm
	case "exe":
		return fExe
	case "sig":
		return fSig
	case "arch":
		return fArch
	case "syscall":
		return fSyscall
	case "compat":
		return fCompat
	case "ip":
		return fIP
	case "code":
		return fCode
	}
	return -1
}

// maxOtherKeys bounds the keys the kernel does not write (e.g. an LSM's
// subj_*) whose repetition parseFields checks; a body with more is not a
// kernel record, and the keys beyond are not compared.
const maxOtherKeys = 16

// enrichedStart is how auditd's enriched tail of a SECCOMP record begins
// (auditd 3.x upper-cases the record's uid, gid, arch and syscall fields in
// order, and the first is auid): where a copy lost the 0x1d separator, the
// kernel's code= value runs straight into it ("code=0x7ffc0000AUID=...").
// 'A' is a hex digit but 'U' is not, so the tail can start at one place
// only. A record without auid would begin its tail with UID= and could not
// be split: it stays malformed.
var enrichedStart = []byte("AUID=")

// isBlank reports whether c ends a value: space and control bytes (the
// enrichment separator included).
func isBlank(c byte) bool { return c <= ' ' }

// parseFields scans the key=value pairs of a SECCOMP record body once. In
// interp mode (ausearch -i) values are names and nothing is quoted. It stops
// at the auditd enrichment separator (or where a copy lost it).
//
// Every key may appear once: a body that repeats one is malformed
// (duplicate_key), whichever shape it came in, since either value could be
// the forged one. After comm, keys the kernel writes before comm are not
// the record's and are ignored (they can only come from a comm or exe
// value an ausearch -i line printed unquoted). In raw shapes a quote opens
// a value and closes it before a blank; any other quote is bad_quote.
func parseFields(r *Record, body []byte, interp bool, in *interner) error {
	if !interp {
		save := *r
		if ok, err := parseKernelOrder(r, body, in); ok {
			return err
		}
		*r = save
	}
	return parseAnyOrder(r, body, interp, in)
}

// parseAnyOrder is parseFields for any body.
func parseAnyOrder(r *Record, body []byte, interp bool, in *interner) error {
	var have int
	var seen uint32
	var other [maxOtherKeys][]byte
	nOther := 0
	afterComm := false
	var archName []byte
	i := 0
	n := len(body)
	for i < n {
		c := body[i]
		if c == enrichSep {
			break
		}
		if isBlank(c) {
			i++
			continue
		}
		// key
		ks := i
		for {
			i = keyEnd(body, i)
			if i >= n || body[i] != '"' {
				break
			}
			if !interp {
				return errBadQuote
			}
			i++ // ausearch -i prints what it likes
		}
		if i >= n || body[i] != '=' {
			// a bare word (e.g. ausearch's ":" separator, or the
			// rest of an AppArmor subj with a space): skip it
			continue
		}
		key := body[ks:i]
		i++ // '='
		fi := fieldIndex(key)
		if fi >= 0 {
			if seen&(1<<fi) != 0 {
				return duplicateKey(fieldNames[fi])
			}
			seen |= 1 << fi
		} else {
			for k := 0; k < nOther; k++ {
				if string(other[k]) == string(key) {
					return duplicateKey("other")
				}
			}
			if nOther < len(other) {
				other[nOther] = key
				nOther++
			}
		}
		var val []byte
		quoted := false
		stop := false
		switch {
		case !interp && i < n && body[i] == '"':
			quoted = true
			vs := i + 1
			j := quotedEnd(body, vs)
			if j >= n || body[j] != '"' {
				return errTruncated
			}
			val = body[vs:j]
			i = j + 1
			if i < n && !isBlank(body[i]) {
				return errBadQuote
			}
		case interp && fi == fComm:
			e := interpCommEnd(body, i)
			val, i = body[i:e], e
		case interp && fi == fExe:
			e := interpValueEnd(body, i)
			val, i = body[i:e], e
			if bytes.Contains(val, []byte(" exe=")) {
				// "comm=a exe=/x exe=/y": which exe= is the key
				// depends on what comm was
				return duplicateKey("exe")
			}
		default:
			vs := i
			var q bool // a quote inside
			i, q = valueEnd(body, i)
			val = body[vs:i]
			if !interp && fi == fCode && seen&(1<<fAUID) != 0 {
				// the tail's AUID may be quoted or hex-encoded
				if k := bytes.Index(val, enrichedStart); k > 0 {
					val, stop, q = val[:k], true, false
				}
			}
			if q && !interp {
				return errBadQuote
			}
		}
		if fi == fComm {
			afterComm = true
		} else if afterComm && fi >= 0 && fi < fComm {
			continue
		}
		switch fi {
		case fPID:
			v, ok := parseDec(val)
			if !ok || v > 1<<31-1 {
				return badNumber("pid")
			}
			r.PID = int(v)
			have |= havePID
		case fUID:
			id, err := parseID(val, interp, "uid", in)
			if err != nil {
				return err
			}
			r.UID = id
		case fAUID:
			id, err := parseID(val, interp, "auid", in)
			if err != nil {
				return err
			}
			r.AUID = id
		case fGID:
			id, err := parseID(val, interp, "gid", in)
			if err != nil {
				return err
			}
			r.GID = id
		case fSes:
			id, err := parseID(val, interp, "ses", in)
			if err != nil {
				return err
			}
			r.Ses = id
		case fComm:
			s, err := decodeUntrusted(val, quoted, interp, in, errAmbiguousComm)
			if err != nil {
				return err
			}
			r.Comm = s
		case fExe:
			if !quoted && string(val) == "(null)" {
				r.Exe = ""
				r.ExeUnknown = true
				break
			}
			s, err := decodeUntrusted(val, quoted, interp, in, errAmbiguousExe)
			if err != nil {
				return err
			}
			r.Exe = s
			r.ExeUnknown = false
		case fSig:
			v, ok := parseDec(val)
			if !ok && interp {
				v, ok = signalNumber(val)
			}
			if !ok || v > 1<<31-1 {
				return badNumber("sig")
			}
			r.Signal = int(v)
		case fArch:
			if interp && !isHex(val) {
				archName = val
			} else {
				v, ok := parseHex(val)
				if !ok || v > 0xffffffff {
					return badNumber("arch")
				}
				r.AuditArch = uint32(v)
			}
			have |= haveArch
		case fSyscall:
			v, ok := parseDec(val)
			switch {
			case ok && v <= 1<<31-1:
				r.Syscall = int(v)
			case ok:
				return badNumber("syscall")
			case interp && len(val) > 0:
				if inner, isUnknown := unwrap(val, "unknown-syscall("); isUnknown {
					v, ok := parseDec(inner)
					if !ok || v > 1<<31-1 {
						return badNumber("syscall")
					}
					r.Syscall = int(v)
					break
				}
				for j, c := range val {
					if c == '(' && j > 0 { // socketcall(socket)
						val = val[:j]
						break
					}
				}
				r.SyscallNm = in.get(val)
				r.Syscall = -1
			default:
				return badNumber("syscall")
			}
			have |= haveSyscall
		case fCompat:
			v, ok := parseDec(val)
			if !ok || v > 1 {
				return badNumber("compat")
			}
			r.Compat = v == 1
		case fIP:
			v, ok := parseHex(val)
			if !ok {
				return badNumber("ip")
			}
			r.IP = v
		case fCode:
			v, ok := parseHex(val)
			if ok && v <= 0xffffffff && (!interp || hasHexPrefix(val)) {
				r.Code = uint32(v)
				r.Action, r.Errno = DecodeCode(r.Code)
			} else if interp {
				a, code, ok := actionByName(val)
				if !ok {
					return badName("code")
				}
				r.Action, r.Code = a, code
				if code != 0 {
					_, r.Errno = DecodeCode(code)
				}
			} else {
				return badNumber("code")
			}
			have |= haveCode
		}
		if stop {
			break
		}
	}
	switch {
	case have&havePID == 0:
		return errMissingPID
	case have&haveArch == 0:
		return errMissingArch
	case have&haveSyscall == 0:
		return errMissingSyscall
	case have&haveCode == 0:
		return errMissingCode
	}
	return resolveArch(r, archName)
}

// parseKernelOrder is parseFields's fast path for a raw body exactly as
// the kernel writes it (audit_log_task, __audit_seccomp):
//
//	" auid=N uid=N gid=N ses=N[ subj=S] pid=N comm=C exe=E sig=N arch=H syscall=N compat=N ip=0xH code=0xH"
//
// with single spaces, unquoted values without quotes, comm and exe quoted
// or hex, nothing after code but the end or auditd's enrichment separator.
// The values are decoded by the functions parseAnyOrder uses. It returns
// false, having changed r, for any other body and any value those
// functions refuse: parseAnyOrder then reads it (and says what is wrong).
// For every body it takes, the record and the error are parseAnyOrder's
// (FuzzKernelOrder).
func parseKernelOrder(r *Record, body []byte, in *interner) (bool, error) {
	i := 0
	// word expects " key=" at i and returns the unquoted value after it,
	// which must end in a space (or, last, at the end or the separator).
	word := func(key string, last bool) ([]byte, bool) {
		if !hasPrefix(body[i:], key) {
			return nil, false
		}
		vs := i + len(key)
		e, q := valueEnd(body, vs)
		if q || e == vs {
			return nil, false
		}
		if last {
			if e < len(body) && body[e] != enrichSep {
				return nil, false
			}
		} else if e >= len(body) || body[e] != ' ' {
			return nil, false
		}
		i = e
		return body[vs:e], true
	}
	id := func(key string) (ID, bool) {
		v, ok := word(key, false)
		if !ok {
			return ID{}, false
		}
		n, ok := parseDec(v)
		return ID{N: uint32(n)}, ok && n <= 0xffffffff
	}
	// untrusted expects " key=" and a quoted or hex value (comm, exe).
	untrusted := func(key string) (val []byte, quoted, ok bool) {
		if !hasPrefix(body[i:], key) {
			return nil, false, false
		}
		vs := i + len(key)
		if vs < len(body) && body[vs] == '"' {
			j := quotedEnd(body, vs+1)
			if j+1 >= len(body) || body[j] != '"' || body[j+1] != ' ' {
				return nil, false, false
			}
			i = j + 1
			return body[vs+1 : j], true, true
		}
		val, ok = word(key, false)
		return val, false, ok
	}
	var ok bool
	if r.AUID, ok = id(" auid="); !ok {
		return false, nil
	}
	if r.UID, ok = id(" uid="); !ok {
		return false, nil
	}
	if r.GID, ok = id(" gid="); !ok {
		return false, nil
	}
	if r.Ses, ok = id(" ses="); !ok {
		return false, nil
	}
	if hasPrefix(body[i:], " subj=") {
		if _, ok := word(" subj=", false); !ok {
			return false, nil
		}
	}
	v, ok := word(" pid=", false)
	pid, okn := parseDec(v)
	if !ok || !okn || pid > 1<<31-1 {
		return false, nil
	}
	r.PID = int(pid)
	val, quoted, ok := untrusted(" comm=")
	if !ok {
		return false, nil
	}
	var err error
	if r.Comm, err = decodeUntrusted(val, quoted, false, in, errAmbiguousComm); err != nil {
		return false, nil
	}
	if val, quoted, ok = untrusted(" exe="); !ok {
		return false, nil
	}
	if !quoted && string(val) == "(null)" {
		r.ExeUnknown = true
	} else if r.Exe, err = decodeUntrusted(val, quoted, false, in, errAmbiguousExe); err != nil {
		return false, nil
	}
	v, ok = word(" sig=", false)
	sig, okn := parseDec(v)
	if !ok || !okn || sig > 1<<31-1 {
		return false, nil
	}
	r.Signal = int(sig)
	v, ok = word(" arch=", false)
	arch, okn := parseHex(v)
	if !ok || !okn || arch > 0xffffffff {
		return false, nil
	}
	r.AuditArch = uint32(arch)
	v, ok = word(" syscall=", false)
	nr, okn := parseDec(v)
	if !ok || !okn || nr > 1<<31-1 {
		return false, nil
	}
	r.Syscall = int(nr)
	v, ok = word(" compat=", false)
	compat, okn := parseDec(v)
	if !ok || !okn || compat > 1 {
		return false, nil
	}
	r.Compat = compat == 1
	v, ok = word(" ip=", false)
	if r.IP, okn = parseHex(v); !ok || !okn {
		return false, nil
	}
	v, ok = word(" code=", true)
	code, okn := parseHex(v)
	if !ok || !okn || code > 0xffffffff {
		return false, nil
	}
	r.Code = uint32(code)
	r.Action, r.Errno = DecodeCode(r.Code)
	return true, resolveArch(r, nil)
}

// resolveArch fills r.Arch (and, for a syscall given by name, the number)
// once all fields are known. archName is the interpreted arch= value, nil
// when the record carried the AUDIT_ARCH number.
func resolveArch(r *Record, archName []byte) error {
	if archName != nil {
		a, ok := archByName(archName)
		switch {
		case ok:
			r.AuditArch = a.AuditValue()
		default:
			if inner, isUnknown := unwrap(archName, "unknown-elf-type("); isUnknown {
				v, ok := parseHex(inner)
				if !ok || v > 0xffffffff {
					return badNumber("arch")
				}
				if r.SyscallNm != "" {
					// auparse did not know the machine (3.0.9:
					// riscv64) and named the number from the
					// table of the host ausearch ran on, which
					// the line does not say
					return errAmbiguousSyscall
				}
				r.AuditArch = uint32(v)
			}
			// another machine auparse knows and seccompwatch has no
			// table for (ppc64, s390, riscv32, ...): ArchUnknown
		}
	}
	if r.SyscallNm != "" {
		a, _ := syscalls.FromAudit(r.AuditArch, 0)
		if archName != nil {
			a, _ = archByName(archName)
		}
		r.Arch = a
		if nr, ok := syscalls.Number(a, r.SyscallNm); ok {
			r.Syscall = nr
		}
		return nil
	}
	r.Arch, _ = syscalls.FromAudit(r.AuditArch, r.Syscall)
	return nil
}

// archByName maps an interpreted arch= value (auparse's machine names) to
// an ABI.
func archByName(v []byte) (syscalls.Arch, bool) {
	switch string(v) {
	case "armv5tejl", "armv5tel", "armv6l":
		return syscalls.ArchARM, true
	case "armv8l":
		return syscalls.ArchAArch64, true
	case "x86_64":
		return syscalls.ArchX86_64, true
	}
	if isHex(v) {
		return syscalls.ArchUnknown, false
	}
	return syscalls.ParseArch(string(v))
}

// interpCommEnd finds the end of an ausearch -i comm value, printed
// unquoted (spaces, quotes and "key=" text included): the kernel writes exe
// right after comm, so comm runs up to the first " exe="; without one, up
// to the first key the kernel writes after exe.
func interpCommEnd(body []byte, vs int) int {
	if k := bytes.Index(body[vs:], []byte(" exe=")); k >= 0 {
		if s := bytes.IndexByte(body[vs:vs+k], enrichSep); s >= 0 {
			return vs + s
		}
		return vs + k
	}
	return interpValueEnd(body, vs)
}

// interpValueEnd finds the end of an ausearch -i exe value (or a comm
// without exe), printed unquoted: it runs up to the next " key=" whose key
// is one the kernel writes after exe. Keys it writes before (uid=, pid=,
// ...) are part of the value.
func interpValueEnd(body []byte, vs int) int {
	n := len(body)
	for j := vs; j < n; j++ {
		c := body[j]
		if c == enrichSep {
			return j
		}
		if c != ' ' {
			continue
		}
		k := j + 1
		for k < n && body[k] >= 'a' && body[k] <= 'z' {
			k++
		}
		if k < n && body[k] == '=' {
			if fi := fieldIndex(body[j+1 : k]); fi > fExe {
				return j
			}
		}
	}
	return n
}

// parseID decodes uid/gid/auid/ses: a number, or in interp mode a name
// ("unset" is UnsetID).
func parseID(val []byte, interp bool, field string, in *interner) (ID, error) {
	if v, ok := parseDec(val); ok && v <= 0xffffffff {
		return ID{N: uint32(v)}, nil
	}
	if !interp || len(val) == 0 {
		return ID{}, badNumber(field)
	}
	if string(val) == "unset" {
		return ID{N: UnsetID}, nil
	}
	if inner, ok := unwrap(val, "unknown("); ok { // an id without a name on the machine that ran ausearch
		if v, ok := parseDec(inner); ok && v <= 0xffffffff {
			return ID{N: uint32(v)}, nil
		}
	}
	return ID{Name: in.get(val)}, nil
}

// decodeUntrusted decodes a comm/exe value: quoted values are literal,
// unquoted ones are hex (kernel) or literal (ausearch -i, where one that
// may hold an escaped control byte is ambiguous).
func decodeUntrusted(val []byte, quoted, interp bool, in *interner, ambiguous error) (string, error) {
	if quoted {
		return in.get(val), nil
	}
	if interp {
		if hasTTYEscape(val) {
			return "", ambiguous
		}
		return in.get(val), nil
	}
	if len(val)%2 != 0 {
		return "", errBadHex
	}
	var buf [256]byte
	var dst []byte
	if len(val)/2 <= len(buf) {
		dst = buf[:len(val)/2]
	} else {
		dst = make([]byte, len(val)/2)
	}
	var bad byte
	for i := range dst {
		hi, lo := hexValue[val[2*i]], hexValue[val[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0xf
	}
	if bad >= 16 {
		return "", errBadHex
	}
	return in.get(dst), nil
}

func unhex(c byte) (byte, bool) {
	d := hexValue[c]
	return d, d < 16
}

// hexValue is the value of a hex digit, 0xff for any other byte.
var hexValue = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// parseDec parses an unsigned decimal number without allocating.
func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	if len(b) <= 19 { // at most 9999999999999999999: cannot overflow
		for _, c := range b {
			d := uint64(c - '0')
			if d > 9 {
				return 0, false
			}
			v = v*10 + d
		}
		return v, true
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func hasHexPrefix(b []byte) bool {
	return len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X')
}

func isHex(b []byte) bool {
	if hasHexPrefix(b) {
		b = b[2:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if _, ok := unhex(c); !ok {
			return false
		}
	}
	return true
}

// parseHex parses a hexadecimal number with optional 0x prefix.
func parseHex(b []byte) (uint64, bool) {
	if hasHexPrefix(b) {
		b = b[2:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	var bad byte
	for _, c := range b {
		d := hexValue[c]
		bad |= d
		v = v<<4 | uint64(d&0xf)
	}
	return v, bad < 16
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// hasTTYEscape reports whether an ausearch -i value holds what auparse's
// tty escaping prints for a control byte: a backslash and three octal
// digits (\000 to \037). auparse leaves a backslash itself as it is (3.0.9
// to 4.2), so the same text may also be the process's own: which one it was
// is a guess.
func hasTTYEscape(val []byte) bool {
	for i := 0; i+3 < len(val); i++ {
		if val[i] == '\\' && isTTYEscape(val[i+1:i+4]) {
			return true
		}
	}
	return false
}

// isTTYEscape reports whether d is the octal form of a byte below 0x20.
func isTTYEscape(d []byte) bool {
	return d[0] == '0' && d[1] >= '0' && d[1] <= '3' && d[2] >= '0' && d[2] <= '7'
}
