package auditstream

import (
	"encoding/binary"
	"math/bits"
)

// Scans of a record body eight bytes at a time (SWAR): a word's bytes
// that are below a value, or equal to one, are flagged in its mask's high
// bits. Flags above a true one may be false (a borrow carries into the
// next byte), but the lowest flag is always exact, and only the lowest
// is used.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// below flags the bytes of x less than n (n <= 0x80).
func below(x uint64, n byte) uint64 { return (x - ones*uint64(n)) & ^x & highs }

// equal flags the bytes of x equal to c.
func equal(x uint64, c byte) uint64 {
	y := x ^ ones*uint64(c)
	return (y - ones) & ^y & highs
}

// keyEnd returns the index of the first byte at or after i that ends a
// key ('=', a blank or a quote), or len(b).
func keyEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := below(x, ' '+1) | equal(x, '=') | equal(x, '"'); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; isBlank(c) || c == '=' || c == '"' {
			return i
		}
	}
	return len(b)
}

// valueEnd returns the index of the first blank at or after i, or len(b),
// and whether a quote comes before it.
func valueEnd(b []byte, i int) (int, bool) {
	quote := false
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		mb, mq := below(x, ' '+1), equal(x, '"')
		if mb != 0 {
			k := bits.TrailingZeros64(mb)
			if mq != 0 && bits.TrailingZeros64(mq) < k {
				quote = true
			}
			return i + k/8, quote
		}
		quote = quote || mq != 0
	}
	for ; i < len(b); i++ {
		c := b[i]
		if isBlank(c) {
			return i, quote
		}
		quote = quote || c == '"'
	}
	return len(b), quote
}

// quotedEnd returns the index of the first quote or enrichment separator
// at or after i, or len(b).
func quotedEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := equal(x, '"') | equal(x, enrichSep); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == enrichSep {
			return i
		}
	}
	return len(b)
}

// spaceEnd returns the index of the first space at or after i, or len(b).
func spaceEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := equal(binary.LittleEndian.Uint64(b[i:]), ' '); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == ' ' {
			return i
		}
	}
	return len(b)
}

// stampInterp reports whether a '/', ' ' or '-' comes at or after i
// before the first ')': the audit(...) stamp of an `ausearch -i` line
// ("08/09/2025 14:22:10.314:88"), not a raw one ("1613596317.899:6461").
func stampInterp(b []byte, i int) bool {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := equal(x, ')') | equal(x, '/') | equal(x, ' ') | equal(x, '-'); m != 0 {
			return b[i+bits.TrailingZeros64(m)/8] != ')'
		}
	}
	for ; i < len(b) && b[i] != ')'; i++ {
		if c := b[i]; c == '/' || c == ' ' || c == '-' {
			return true
		}
	}
	return false
}
