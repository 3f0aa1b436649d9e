package auditstream

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedLines adds every line of the testdata inputs to f.
func seedLines(f *testing.F, add func(line []byte)) {
	paths, _ := filepath.Glob("testdata/*")
	for _, p := range paths {
		if st, err := os.Stat(p); err != nil || st.IsDir() || filepath.Ext(p) == ".golden" || filepath.Ext(p) == ".md" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, MaxLineLength)
		for sc.Scan() {
			add(append([]byte(nil), sc.Bytes()...))
		}
	}
}

// formatKernel renders r back into the kernel's body format, when r came
// from numeric input (not ausearch -i names); ok is false otherwise.
func formatKernel(r Record) (string, bool) {
	if r.UID.Name != "" || r.AUID.Name != "" || r.GID.Name != "" || r.Ses.Name != "" ||
		r.SyscallNm != "" || !r.HasSerial || r.Time.IsZero() || r.Time.Unix() < 0 {
		return "", false
	}
	if a, errno := DecodeCode(r.Code); a != r.Action || errno != r.Errno {
		return "", false
	}
	exe := hex.EncodeToString([]byte(r.Exe))
	if r.ExeUnknown {
		exe = "(null)"
	}
	compat := 0
	if r.Compat {
		compat = 1
	}
	ms := r.Time.UnixMilli()
	return fmt.Sprintf("audit(%d.%03d:%d): auid=%d uid=%d gid=%d ses=%d pid=%d comm=%s exe=%s sig=%d arch=%x syscall=%d compat=%d ip=0x%x code=0x%x",
		ms/1000, ms%1000, r.Serial, r.AUID.N, r.UID.N, r.GID.N, r.Ses.N, r.PID,
		hex.EncodeToString([]byte(r.Comm)), exe, r.Signal, r.AuditArch, r.Syscall, compat, r.IP, r.Code), true
}

// checkRoundTrip re-parses a formatted record and compares.
func checkRoundTrip(t *testing.T, r Record) {
	if r.Time.Location() != time.UTC && !r.Time.IsZero() {
		t.Fatalf("time not UTC: %v", r.Time)
	}
	body, ok := formatKernel(r)
	if !ok {
		return
	}
	got, err := ParseKernel([]byte(body))
	if err != nil {
		t.Fatalf("re-parse %q: %v", body, err)
	}
	want := r
	want.File, want.Line = "", 0
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("round trip of %q (-want +got):\n%s", body, d)
	}
}

func FuzzParseLine(f *testing.F) {
	seedLines(f, func(l []byte) { f.Add(l) })
	f.Fuzz(func(t *testing.T, line []byte) {
		p := NewParser(time.UTC)
		r, ok, err := p.ParseLine(line)
		if ok && err != nil {
			t.Fatal("ok with error")
		}
		if ok {
			checkRoundTrip(t, r)
		}
		// the same bytes through a Reader, split into lines, never panic
		rd := NewReader(bytes.NewReader(line), "fuzz")
		for i := 0; i < 1000; i++ {
			if _, err := rd.Next(); err != nil && !isMalformed(err) {
				break
			}
		}
	})
}

func FuzzParseKernel(f *testing.F) {
	seedLines(f, func(l []byte) {
		if i := bytes.Index(l, []byte("audit(")); i >= 0 {
			f.Add(l[i:])
		}
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseKernel(body)
		if err != nil {
			if !isMalformed(err) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if s, ok := ParseSerial(body); !ok || s != r.Serial {
			t.Fatalf("ParseSerial = %d, %v; record serial %d", s, ok, r.Serial)
		}
		checkRoundTrip(t, r)
	})
}

func isMalformed(err error) bool { return errors.Is(err, ErrMalformed) }
