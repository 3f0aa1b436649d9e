package auditstream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readerResult is everything a Reader hands out for an input.
type readerResult struct {
	Records []Record
	Errors  []string
	Final   string // the error that ended it
	Stats   Stats
}

// drain reads r to its end (or a read error).
func drain(t testing.TB, r *Reader) readerResult {
	t.Helper()
	r.SetLocation(time.UTC)
	var res readerResult
	for i := 0; ; i++ {
		if i > 1e6 {
			t.Fatal("Reader does not end")
		}
		rec, err := r.Next()
		var le *LineError
		switch {
		case err == nil:
			res.Records = append(res.Records, rec)
			continue
		case errors.As(err, &le):
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		res.Final = err.Error()
		break
	}
	res.Stats = r.Stats()
	return res
}

// sameAsLines checks that reading data in blocks of every size in sizes
// gives what reading it line by line gives.
func sameAsLines(t *testing.T, data []byte, sizes ...int) {
	t.Helper()
	want := drain(t, NewReader(bytes.NewReader(data), "in"))
	for _, size := range sizes {
		got := drain(t, newBlockReader(bytes.NewReader(data), "in", size))
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("blocks of %d bytes differ from line by line (-lines +blocks):\n%s", size, d)
		}
	}
}

// TestBlocksLikeLines: block reading (a regular file, parsed in parallel)
// hands out the records, line errors, line numbers and counts that line by
// line reading does, for every sample input (export entries and long
// lines included, which end block reading) and at block boundaries
// everywhere: blocks of 1 byte (every line longer than a block) to a whole
// file.
func TestBlocksLikeLines(t *testing.T) {
	var all []byte
	for _, path := range testdataInputs(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			sameAsLines(t, data, 1, 17, 100, 333, 4096, blockSize)
		})
		all = append(all, data...)
	}
	t.Run("all", func(t *testing.T) { sameAsLines(t, all, 64, 1000, 8192, blockSize) })
}

const seccompLine = `type=SECCOMP msg=audit(1763712000.003:1001): auid=4294967295 uid=1004 gid=1004 ses=4294967295 subj=unconfined pid=18696 comm="a" exe="/usr/bin/a" sig=31 arch=c000003e syscall=101 compat=0 ip=0x7f0ec0cecf8e code=0x0`

// TestBlocksEdges: the inputs where block reading must give way or
// carry a line across blocks.
func TestBlocksEdges(t *testing.T) {
	for name, in := range blockEdges() {
		t.Run(name, func(t *testing.T) { sameAsLines(t, []byte(in), 1, 50, 200, 1000, blockSize) })
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestBlocksReadError: a read error ends block reading as it ends line
// by line reading: the whole lines before it are read, then the error.
func TestBlocksReadError(t *testing.T) {
	data, err := os.ReadFile("testdata/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "type=SECCOMP msg=audit(17637"...) // cut short
	boom := errors.New("boom")
	want := drain(t, NewReader(&failingReader{data, boom}, "in"))
	if !strings.HasSuffix(want.Final, ": boom") || len(want.Records) == 0 {
		t.Fatalf("line by line: %q after %d records", want.Final, len(want.Records))
	}
	for _, size := range []int{1, 100, 1000, blockSize} {
		got := drain(t, newBlockReader(&failingReader{data, boom}, "in", size))
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("blocks of %d (-lines +blocks):\n%s", size, d)
		}
	}
}

// TestOpenReadsFilesInBlocks: Open reads a regular file in blocks (with
// mapBlockCPUs or more) and standard input line by line (a pipe's lines are
// handed out as they come, not when a block is full).
func TestOpenReadsFilesInBlocks(t *testing.T) {
	m, err := OpenWithStdin([]string{"testdata/raw.log", "-"}, strings.NewReader(seccompLine+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for {
		rec, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		blocks := m.r.blk != nil
		if rec.File == "-" && blocks {
			t.Error("standard input read in blocks")
		}
		if rec.File != "-" && blocks != (runtime.GOMAXPROCS(0) >= mapBlockCPUs) {
			t.Errorf("file read in blocks: %v with GOMAXPROCS %d", blocks, runtime.GOMAXPROCS(0))
		}
	}
}

// blockEdges are the inputs where block reading must give way or carry a
// line across blocks.
func blockEdges() map[string]string {
	seccomp := seccompLine + "\n"
	bad := "type=SECCOMP msg=audit(1763712000.003:1002): pid=1 comm=\"a\n"
	other := "type=SYSCALL msg=audit(1763712000.003:1001): arch=c000003e syscall=101\n"
	var manyTypes strings.Builder
	for i := 0; i < 3*maxTypes; i++ {
		manyTypes.WriteString("type=T" + strconv.Itoa(i) + " msg=audit(1.0:1): x=1\n")
		manyTypes.WriteString(seccomp)
	}
	export := "__CURSOR=s=1\n__REALTIME_TIMESTAMP=1763712000003000\n_TRANSPORT=audit\nMESSAGE=" + strings.TrimPrefix(seccomp, "type=SECCOMP msg=") + "\n"
	return map[string]string{
		"no final newline":   seccomp + other + strings.TrimSuffix(seccomp, "\n"),
		"crlf":               strings.ReplaceAll(seccomp+bad+other, "\n", "\r\n"),
		"malformed":          strings.Repeat(seccomp+bad+other, 50),
		"blank lines":        strings.Repeat("\n\n"+seccomp, 20),
		"more types":         manyTypes.String(),
		"export after lines": strings.Repeat(seccomp+other, 30) + "\n" + export + "\n" + strings.Repeat(seccomp, 10),
		"long line":          strings.Repeat(seccomp, 10) + "type=PROCTITLE msg=audit(1.0:1): " + strings.Repeat("x", 5000) + "\n" + strings.Repeat(seccomp, 10),
		"too long line":      seccomp + "type=PROCTITLE msg=audit(1.0:1): " + strings.Repeat("y", MaxLineLength+10) + "\n" + seccomp,
		"json":               strings.Repeat(`{"_TRANSPORT":"audit","MESSAGE":"`+strings.TrimSpace(strings.TrimPrefix(seccomp, "type=SECCOMP msg="))+`","_AUDIT_TYPE":"1326"}`+"\n"+other, 20),
		"empty":              "",
	}
}
