package auditstream

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// openMapped returns a Reader of path that reads it from mappings of
// mapWindow bytes, as Open does for a regular file.
func openMapped(t testing.TB, path string) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	r := NewReader(bufio.NewReaderSize(f, readBufSize), "in")
	r.mm = newMapped(f)
	if r.mm == nil {
		if st, _ := f.Stat(); st.Size() > 0 {
			t.Fatal("not mapped")
		}
	}
	t.Cleanup(func() {
		if r.mm != nil {
			r.mm.unmap()
		}
	})
	return r
}

// sameAsRead checks that reading data from mappings of every window size
// gives what reading it with read(2) gives.
func sameAsRead(t *testing.T, data []byte) {
	t.Helper()
	want := drain(t, NewReader(bytes.NewReader(data), "in"))
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	defer func(w int64) { mapWindow = w }(mapWindow)
	for _, w := range []int64{readBufSize + page, readBufSize + 3*page, 8 << 20} {
		mapWindow = w
		got := drain(t, openMapped(t, path))
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("mapped in windows of %d bytes differs from read (-read +mapped):\n%s", w, d)
		}
	}
}

// TestMappedLikeRead: a file read from mappings hands out the records,
// line errors, line numbers and counts that read(2) does, for every
// sample input and at the edges mapped reading gives way to read(2):
// lines around the bufio buffer's size, lines too long, the last line
// without a newline, journal export entries, windows ending mid-line.
func TestMappedLikeRead(t *testing.T) {
	var all []byte
	for _, path := range testdataInputs(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) { sameAsRead(t, data) })
		all = append(all, data...)
	}
	t.Run("all", func(t *testing.T) { sameAsRead(t, bytes.Repeat(all, 20)) })

	for name, in := range mappedEdges() {
		t.Run(name, func(t *testing.T) { sameAsRead(t, []byte(in)) })
	}
}

// TestMappedTruncated: a file truncated while it is read from a mapping
// (its pages fault) ends the replay with a read error, not a crash.
func TestMappedTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte(strings.Repeat(seccompLine+"\n", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := openMapped(t, path)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; err == nil && i < 10000; i++ {
		_, err = r.Next()
	}
	if err == nil || !strings.Contains(err.Error(), "the file shrank while it was read") {
		t.Fatalf("after truncation: %v", err)
	}
	if r.mm != nil {
		t.Error("still mapped")
	}
}

// FuzzMappedLikeRead: any content reads the same from mappings as with
// read(2).
func FuzzMappedLikeRead(f *testing.F) {
	f.Add([]byte(seccompLine + "\n" + seccompLine))
	f.Add([]byte("__CURSOR=s\nMESSAGE\n\x02\x00\x00\x00\x00\x00\x00\x00ab\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		sameAsRead(t, bytes.Repeat(data, 1+(readBufSize+8192)/len(data)))
	})
}

// mappedEdges are the inputs at which mapped reading gives way to read(2):
// lines around the bufio buffer's size, lines too long, the last line
// without a newline, journal export entries, windows ending mid-line.
func mappedEdges() map[string]string {
	seccomp := seccompLine + "\n"
	other := "type=SYSCALL msg=audit(1763712000.003:1001): arch=c000003e syscall=101\n"
	// proctitle is a line of n bytes with its newline
	proctitle := func(n int) string {
		p := "type=PROCTITLE msg=audit(1.0:1): "
		return p + strings.Repeat("x", n-len(p)-1) + "\n"
	}
	export := "__CURSOR=s=1\n__REALTIME_TIMESTAMP=1763712000003000\n_TRANSPORT=audit\nMESSAGE=" + strings.TrimPrefix(seccomp, "type=SECCOMP msg=") +
		"BIN\n\x05\x00\x00\x00\x00\x00\x00\x00a\nb\nc\n\n"
	many := strings.Repeat(seccomp+other, 2000)
	return map[string]string{
		"no final newline":  many + strings.TrimSuffix(seccomp, "\n"),
		"crlf":              strings.ReplaceAll(many, "\n", "\r\n"),
		"buffer size -1":    many + proctitle(readBufSize-1) + many,
		"buffer size":       many + proctitle(readBufSize) + many,
		"buffer size +1":    many + proctitle(readBufSize+1) + many,
		"too long":          many + proctitle(MaxLineLength+10) + many,
		"long last line":    many + strings.TrimSuffix(proctitle(readBufSize+10), "\n"),
		"export":            many + "\n" + export + many,
		"one line":          seccomp,
		"one byte":          "\n",
		"only a long line":  proctitle(3 * readBufSize),
		"newline at window": strings.Repeat("a", readBufSize+os.Getpagesize()-1) + "\n" + many,
	}
}
