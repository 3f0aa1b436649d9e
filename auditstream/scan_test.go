package auditstream

import (
	"math/rand/v2"
	"testing"
)

// naive forms of the scans, a byte at a time.
func naiveKeyEnd(b []byte, i int) int {
	for ; i < len(b) && !isBlank(b[i]) && b[i] != '=' && b[i] != '"'; i++ {
	}
	return i
}

func naiveValueEnd(b []byte, i int) (int, bool) {
	q := false
	for ; i < len(b) && !isBlank(b[i]); i++ {
		q = q || b[i] == '"'
	}
	return i, q
}

func naiveQuotedEnd(b []byte, i int) int {
	for ; i < len(b) && b[i] != '"' && b[i] != enrichSep; i++ {
	}
	return i
}

func naiveSpaceEnd(b []byte, i int) int {
	for ; i < len(b) && b[i] != ' '; i++ {
	}
	return i
}

func naiveStampInterp(b []byte, i int) bool {
	for j := i; j < len(b) && b[j] != ')'; j++ {
		if b[j] == '/' || b[j] == ' ' || b[j] == '-' {
			return true
		}
	}
	return false
}

// checkScans compares the word-at-a-time scans with the naive ones from
// every start in b.
func checkScans(t *testing.T, b []byte) {
	t.Helper()
	for i := 0; i <= len(b); i++ {
		if got, want := keyEnd(b, i), naiveKeyEnd(b, i); got != want {
			t.Fatalf("keyEnd(%q, %d) = %d, want %d", b, i, got, want)
		}
		got, gq := valueEnd(b, i)
		want, wq := naiveValueEnd(b, i)
		if got != want || gq != wq {
			t.Fatalf("valueEnd(%q, %d) = %d, %v, want %d, %v", b, i, got, gq, want, wq)
		}
		if got, want := quotedEnd(b, i), naiveQuotedEnd(b, i); got != want {
			t.Fatalf("quotedEnd(%q, %d) = %d, want %d", b, i, got, want)
		}
		if got, want := spaceEnd(b, i), naiveSpaceEnd(b, i); got != want {
			t.Fatalf("spaceEnd(%q, %d) = %d, want %d", b, i, got, want)
		}
		if got, want := stampInterp(b, i), naiveStampInterp(b, i); got != want {
			t.Fatalf("stampInterp(%q, %d) = %v, want %v", b, i, got, want)
		}
	}
}

// TestScans: every byte value at every place of a word, after bytes that
// make the borrow of the word trick carry (0x00, 0x01, 0x20, 0x21, 0x80,
// 0xff, '=' and '"' neighbours), and random mixes of the bytes that
// matter.
func TestScans(t *testing.T) {
	fillers := []byte{'a', 0x00, 0x01, ' ', '!', '=', '>', '"', '#', enrichSep, 0x1e, 0x7f, 0x80, 0xff, ')', '(', '*', '/', '-', '.', '0'}
	for _, f := range fillers {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < 17; pos++ {
				b := make([]byte, 17)
				for i := range b {
					b[i] = 'x'
				}
				if pos > 0 {
					b[pos-1] = f
				}
				b[pos] = byte(c)
				checkScans(t, b)
			}
		}
	}
	alphabet := []byte{'a', 'Z', '0', ' ', '\t', '=', '"', enrichSep, 0x00, 0x21, 0x3c, 0x3e, 0x80, 0xa2, 0xbd, 0xff, ')', '/', '-', ':', '.'}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 2000; n++ {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		checkScans(t, b)
	}
}

func FuzzScans(f *testing.F) {
	f.Add([]byte(`auid=4294967295 uid=0 comm="a b" exe=2F62696E` + "\x1dAUID=\"unset\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 256 {
			b = b[:256]
		}
		checkScans(t, b)
	})
}
