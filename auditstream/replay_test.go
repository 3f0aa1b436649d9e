package auditstream

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOrderRotated(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"audit.log", "audit.log.1", "audit.log.2.gz"}, []string{"audit.log.2.gz", "audit.log.1", "audit.log"}},
		{[]string{"audit.log.1", "audit.log", "audit.log.10", "audit.log.2"}, []string{"audit.log.10", "audit.log.2", "audit.log.1", "audit.log"}},
		{[]string{"b.log", "/var/log/audit/audit.log", "b.log.1", "/var/log/audit/audit.log.3.gz"}, []string{"b.log.1", "b.log", "/var/log/audit/audit.log.3.gz", "/var/log/audit/audit.log"}},
		{[]string{"-", "x.json"}, []string{"-", "x.json"}},
		{[]string{"v1.2/log"}, []string{"v1.2/log"}},
	}
	for _, tc := range tests {
		if d := cmp.Diff(tc.want, OrderRotated(tc.in)); d != "" {
			t.Errorf("OrderRotated(%q): %s", tc.in, d)
		}
	}
}

// TestOpenRotatedGzip replays a rotated set in which one member is
// compressed without a .gz suffix and one has a .gz suffix: records come
// oldest first, File/Line point at their source.
func TestOpenRotatedGzip(t *testing.T) {
	src, err := os.ReadFile("testdata/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	dir := t.TempDir()
	write := func(name string, data string, gz bool) string {
		p := filepath.Join(dir, name)
		b := []byte(data)
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(b)
			_ = zw.Close()
			b = buf.Bytes()
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldest := write("audit.log.2.gz", strings.Join(lines[0:4], ""), true)
	middle := write("audit.log.1", strings.Join(lines[4:8], ""), true) // gzip without suffix
	newest := write("audit.log", strings.Join(lines[8:], ""), false)
	m, err := Open([]string{newest, oldest, middle})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var serials []uint64
	var where []string
	for {
		r, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		serials = append(serials, r.Serial)
		if r.Line == 1 {
			where = append(where, filepath.Base(r.File))
		}
	}
	want := []uint64{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
	if d := cmp.Diff(want, serials); d != "" {
		t.Errorf("serials: %s", d)
	}
	if d := cmp.Diff([]string{"audit.log.2.gz", "audit.log.1", "audit.log"}, where); d != "" {
		t.Errorf("files: %s", d)
	}
	st := m.Stats()
	if st.Seccomp != 13 || st.Lines != 13 || st.Records["SECCOMP"] != 13 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open([]string{filepath.Join(dir, "missing.log")}); !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open([]string{dir}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Open(nil); err == nil {
		t.Error("no files: no error")
	}
	bad := filepath.Join(dir, "bad.gz")
	if err := os.WriteFile(bad, []byte{0x1f, 0x8b, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open([]string{bad})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Next(); err == nil || err == io.EOF || errors.Is(err, ErrMalformed) {
		t.Errorf("corrupt gzip: %v", err)
	}
}

// TestReaderLineErrorContinues: a malformed line is reported with its place
// and reading goes on.
func TestReaderLineErrorContinues(t *testing.T) {
	f, err := os.Open("testdata/malformed.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, "m.log")
	var le *LineError
	_, err = r.Next()
	if !errors.As(err, &le) || le.File != "m.log" || le.Line != 1 || !errors.Is(err, ErrMalformed) {
		t.Fatalf("first: %v", err)
	}
	var got Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			got = rec
		}
	}
	if got.Comm != "ok" || got.Line != 14 {
		t.Errorf("last good record: %+v", got)
	}
}

// TestReaderLineErrorLocation: a malformed record is reported at the line
// where it starts, in every shape (a journal export entry spans lines).
func TestReaderLineErrorLocation(t *testing.T) {
	const good = "type=SECCOMP msg=audit(1.2:3): pid=1 arch=c000003e syscall=1 code=0x0\n"
	tests := []struct {
		name, in string
		want     int
	}{
		{"raw", "\n" + "type=SECCOMP msg=audit(1.2:3): pid=x arch=c000003e syscall=1 code=0x0\n" + good, 2},
		{"json", "\n{\"_TRANSPORT\":\"audit\",\"_AUDIT_TYPE\":\"1326\",\"MESSAGE\":\"SECCOMP uid=0\"}\n" + good, 2},
		{"export", "\n__CURSOR=a\n_TRANSPORT=audit\n_AUDIT_TYPE=1326\nMESSAGE=SECCOMP uid=0\n\n" + good, 2},
		{"export at EOF", "\n__CURSOR=a\n_TRANSPORT=audit\n_AUDIT_TYPE=1326\nMESSAGE=SECCOMP uid=0\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), "x")
			var lines []int
			for {
				_, err := r.Next()
				if err == io.EOF {
					break
				}
				var le *LineError
				if errors.As(err, &le) {
					lines = append(lines, le.Line)
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if d := cmp.Diff([]int{tc.want}, lines); d != "" {
				t.Errorf("error lines: %s", d)
			}
		})
	}
}

// TestExportLargeFieldOtherEntry: a journal export entry that is not an
// audit record (e.g. a coredump with a binary COREDUMP= field beyond
// MaxLineLength) is skipped, not reported as a malformed SECCOMP record.
func TestExportLargeFieldOtherEntry(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("__CURSOR=a\n_TRANSPORT=journal\nCOREDUMP\n")
	big := bytes.Repeat([]byte("x\n"), MaxLineLength)
	var sz [8]byte
	for i, n := 0, uint64(len(big)); i < 8; i++ {
		sz[i] = byte(n >> (8 * i))
	}
	b.Write(sz[:])
	b.Write(big)
	b.WriteString("\nMESSAGE=Process 1 (x) dumped core.\n\n")
	b.WriteString("__CURSOR=b\n_TRANSPORT=audit\n_AUDIT_TYPE=1326\nMESSAGE=SECCOMP pid=1 arch=c000003e syscall=1 code=0x0\n\n")
	r := NewReader(&b, "x")
	var got []int
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		got = append(got, rec.Line)
	}
	if want := []int{4 + MaxLineLength + 1 + 2}; !cmp.Equal(got, want) {
		t.Errorf("record lines %v, want %v", got, want)
	}
	if st := r.Stats(); len(st.Malformed) != 0 {
		t.Errorf("malformed counted: %v", st.Malformed)
	}
}
