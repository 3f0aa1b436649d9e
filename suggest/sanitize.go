package suggest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxValueLen is the default limit, in output bytes, of one sanitized value
// (an exe, a comm, a machine name) in rendered output.
const MaxValueLen = 256

// truncMarker is appended, with the number of input bytes left out, to a
// value cut at its limit.
const truncMarker = "...[+%d bytes]"

// minValueLen is the smallest limit Sanitize honours: room for a marker.
const minValueLen = 32

// Sanitize makes a value that a process controls (comm, exe, unit or machine
// name) safe to print on one line of a drop-in comment, a diff, a log line or
// a terminal. The result is valid UTF-8 of printable characters only:
//
//   - a backslash becomes `\\`, a percent sign `%%` (systemd's own escape,
//     so no specifier can be formed);
//   - ASCII control characters (newline, carriage return, ESC, DEL, ...) and
//     each byte of invalid UTF-8 become `\xNN`;
//   - other non-printable runes (C1 controls, bidirectional overrides,
//     zero-width and line/paragraph separators, non-ASCII spaces) become
//     `\u{XXXX}`;
//   - when the escaped value would exceed max bytes (max <= 0 means
//     MaxValueLen; limits below 32 are raised to 32), it is cut at an escape boundary and "...[+N bytes]" is
//     appended, N being the number of input bytes left out.
//
// Sanitize never splits an escape, and its result never ends in a
// backslash, so it cannot continue a systemd line onto the next.
func Sanitize(s string, max int) string {
	if max <= 0 {
		max = MaxValueLen
	}
	if max < minValueLen {
		max = minValueLen
	}
	if isPlain(s) && len(s) <= max {
		return s
	}
	fits := escapedLen(s) <= max
	// Keep room for the marker with the largest possible count.
	room := max - len(fmt.Sprintf(truncMarker, len(s)))
	var b strings.Builder
	var chunk [16]byte
	for i := 0; i < len(s); {
		piece, size := escapeRune(chunk[:0], s[i:])
		if !fits && b.Len()+len(piece) > room {
			fmt.Fprintf(&b, truncMarker, len(s)-i)
			return b.String()
		}
		b.Write(piece)
		i += size
	}
	return b.String()
}

// escapeRune appends the escaped form of the first rune of s to p and
// returns it with the number of input bytes consumed.
func escapeRune(p []byte, s string) ([]byte, int) {
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && size <= 1:
		p = appendHexByte(p, s[0])
	case r == '\\':
		p = append(p, '\\', '\\')
	case r == '%':
		p = append(p, '%', '%')
	case r < 0x20 || r == 0x7f:
		p = appendHexByte(p, byte(r))
	case r < utf8.RuneSelf || (unicode.IsPrint(r) && r != '\u00a0'):
		p = utf8.AppendRune(p, r)
	default:
		p = append(p, `\u{`...)
		p = strconv.AppendUint(p, uint64(r), 16)
		p = append(p, '}')
	}
	return p, size
}

// escapedLen returns the length of the escaped form of s.
func escapedLen(s string) int {
	n := 0
	var chunk [16]byte
	for i := 0; i < len(s); {
		piece, size := escapeRune(chunk[:0], s[i:])
		n += len(piece)
		i += size
	}
	return n
}

func appendHexByte(p []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	return append(p, '\\', 'x', hex[c>>4], hex[c&0xf])
}

// isPlain reports whether s needs no escaping at all.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '%' {
			return false
		}
	}
	return true
}

// quote returns Sanitize(s, max) in double quotes, with inner double quotes
// escaped: a rendered line then always ends at the closing quote.
func quote(s string, max int) string {
	return `"` + strings.ReplaceAll(Sanitize(s, max), `"`, `\"`) + `"`
}
