package auditstream

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// openMapBlocks returns a Reader of path in mapped blocks, or nil for an
// empty file.
func openMapBlocks(t testing.TB, path string) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	r := newMapBlockReader(f, "in")
	t.Cleanup(func() {
		if r != nil && r.blk != nil {
			r.blk.close()
		}
	})
	return r
}

// sameInMapBlocks checks that reading data in mapped blocks of every size
// gives what reading it line by line gives, and that no block is left
// mapped at the end.
func sameInMapBlocks(t *testing.T, data []byte, sizes ...int64) {
	t.Helper()
	want := drain(t, NewReader(bytes.NewReader(data), "in"))
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(s int64) { mapBlockSize = s }(mapBlockSize)
	for _, size := range sizes {
		mapBlockSize = size
		r := openMapBlocks(t, path)
		if r == nil {
			if len(data) > 0 {
				t.Fatal("not read in mapped blocks")
			}
			continue
		}
		got := drain(t, r)
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("mapped blocks of %d bytes differ from line by line (-lines +blocks):\n%s", size, d)
		}
		if r.blk != nil {
			t.Fatalf("blocks of %d: still reading blocks at the end", size)
		}
	}
}

var mapBlockSizes = []int64{1, 17, 100, 333, 4096, readBufSize + 4096, 1 << 20}

// TestMapBlocksLikeLines: mapped block reading hands out the records, line
// errors, line numbers and counts that line by line reading does, for
// every sample input and at every edge of block and mapped reading:
// blocks of 1 byte (no block holds a whole line: read(2) from the start)
// to larger than the file.
func TestMapBlocksLikeLines(t *testing.T) {
	var all []byte
	for _, path := range testdataInputs(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) { sameInMapBlocks(t, data, mapBlockSizes...) })
		all = append(all, data...)
	}
	t.Run("all", func(t *testing.T) { sameInMapBlocks(t, bytes.Repeat(all, 20), 4096, 65536, 1<<20) })
	for name, in := range blockEdges() {
		t.Run("blocks/"+name, func(t *testing.T) { sameInMapBlocks(t, []byte(in), mapBlockSizes...) })
	}
	for name, in := range mappedEdges() {
		t.Run("mapped/"+name, func(t *testing.T) { sameInMapBlocks(t, []byte(in), 4096, readBufSize+4096, 1<<20) })
	}
}

// TestMapBlocksAppended: what is appended to the file after reading began
// is read too (with read(2), after the blocks of what was there), as line
// by line reading reads it.
func TestMapBlocksAppended(t *testing.T) {
	first := strings.Repeat(seccompLine+"\n", 3000)
	more := strings.Repeat(strings.Replace(seccompLine, "pid=18696", "pid=7", 1)+"\n", 10)
	want := drain(t, NewReader(strings.NewReader(first+more), "in"))
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(s int64) { mapBlockSize = s }(mapBlockSize)
	mapBlockSize = 8192
	r := openMapBlocks(t, path)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(more); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	got := drain(t, r)
	got.Records = append(want.Records[:1:1], got.Records...)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-lines +blocks):\n%s", d)
	}
}

// TestMapBlocksTruncated: a file truncated while read in mapped blocks
// (pages fault, in a parsing goroutine or in the reader's) ends reading
// with a read error, not a crash, and leaves nothing mapped.
func TestMapBlocksTruncated(t *testing.T) {
	defer func(s int64) { mapBlockSize = s }(mapBlockSize)
	for _, size := range []int64{4096, 65536} {
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, []byte(strings.Repeat(seccompLine+"\n", 5000)), 0o600); err != nil {
			t.Fatal(err)
		}
		mapBlockSize = size
		r := openMapBlocks(t, path)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		var err error
		n := 1
		for ; err == nil && n < 10000; n++ {
			_, err = r.Next()
		}
		if err == nil || !strings.Contains(err.Error(), "the file shrank while it was read") {
			t.Fatalf("blocks of %d, after truncation: %v after %d records", size, err, n)
		}
		if r.blk != nil {
			t.Errorf("blocks of %d: still mapped", size)
		}
	}
}

// TestRegularReader: a regular uncompressed file is read in mapped blocks
// with mapBlockCPUs or more, from one mapping with fewer; a compressed
// one never from a mapping.
func TestRegularReader(t *testing.T) {
	m, err := OpenWithStdin([]string{"testdata/raw.log"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Next(); err != nil {
		t.Fatal(err)
	}
	mapped := m.r.blk != nil && m.r.blk.mf != nil
	if want := runtime.GOMAXPROCS(0) >= mapBlockCPUs; mapped != want {
		t.Errorf("read in mapped blocks: %v with GOMAXPROCS %d", mapped, runtime.GOMAXPROCS(0))
	}
	if !mapped && m.r.mm == nil {
		t.Error("neither in mapped blocks nor from a mapping")
	}
}

// FuzzMapBlocksLikeLines: any content reads the same in mapped blocks as
// line by line.
func FuzzMapBlocksLikeLines(f *testing.F) {
	f.Add([]byte(seccompLine + "\n" + seccompLine))
	f.Add([]byte("__CURSOR=s\nMESSAGE\n\x02\x00\x00\x00\x00\x00\x00\x00ab\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameInMapBlocks(t, data, 1, 64, 4096)
	})
}
