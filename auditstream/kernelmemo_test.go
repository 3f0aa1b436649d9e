package auditstream

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// memoAgrees parses data with m and with ParseKernel and fails on any
// difference, record or error.
func memoAgrees(t testing.TB, m *kernelMemo, data []byte) Record {
	t.Helper()
	want, wantErr := ParseKernel(data)
	got, err := m.parse(data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: memo error %v, ParseKernel %v", data, err, wantErr)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%q: memo record differs from ParseKernel (-want +got):\n%s", data, d)
	}
	return got
}

// TestKernelMemo: a body seen before gives ParseKernel's record with the
// new prefix's time and serial; a body differing in one byte, a malformed
// body (never remembered) and more distinct bodies than the memo holds
// are parsed for what they are.
func TestKernelMemo(t *testing.T) {
	t.Parallel()
	body := ` auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=1234 comm="deny" exe="/usr/local/bin/deny" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0000001000 code=0x80000000`
	var m kernelMemo
	r1 := memoAgrees(t, &m, []byte("audit(1763775501.123:42):"+body))
	r2 := memoAgrees(t, &m, []byte("audit(1763775502.456:43):"+body))
	if r2.Serial != 43 || r2.Time.UnixMilli() != 1763775502456 || r1.Serial != 42 {
		t.Errorf("remembered body: serials %d, %d and time %v, want 42, 43 and the second prefix's", r1.Serial, r2.Serial, r2.Time)
	}
	if r2.PID != 1234 || r2.Exe != "/usr/local/bin/deny" {
		t.Errorf("remembered body: %+v", r2)
	}
	other := bytes.Replace([]byte(body), []byte("pid=1234"), []byte("pid=1235"), 1)
	if r := memoAgrees(t, &m, append([]byte("audit(1763775503.000:44):"), other...)); r.PID != 1235 {
		t.Errorf("a body one byte apart gave pid %d, want 1235", r.PID)
	}
	bad := []byte("audit(1763775504.000:45): pid=1 comm=\"x\"")
	for range 2 {
		if _, err := m.parse(bad); err == nil {
			t.Fatal("malformed body parsed")
		}
	}
	if _, err := m.parse([]byte("audit(x:1):" + body)); err == nil {
		t.Error("a remembered body behind a bad prefix parsed")
	}
	// More distinct bodies than the memo holds, cycled twice.
	for round := range 2 {
		for i := range 3 * memoSize {
			b := bytes.Replace([]byte(body), []byte("pid=1234"), fmt.Appendf(nil, "pid=%d", 2000+i), 1)
			r := memoAgrees(t, &m, fmt.Appendf(nil, "audit(1763775505.%03d:%d):%s", i, 100+round*100+i, b))
			if r.PID != 2000+i {
				t.Fatalf("round %d body %d: pid %d", round, i, r.PID)
			}
		}
	}
}

// TestKernelMemoCorpus: every line of the testdata inputs, as the body of
// a kernel datagram, parsed twice and interleaved with the others, gives
// what ParseKernel gives.
func TestKernelMemoCorpus(t *testing.T) {
	t.Parallel()
	var bodies [][]byte
	for _, l := range corpusLines(t) {
		if i := bytes.Index(l, []byte("audit(")); i >= 0 {
			bodies = append(bodies, trimRecord(l[i:]))
		}
	}
	ok := 0
	for _, b := range bodies {
		if _, err := ParseKernel(b); err == nil {
			ok++
		}
	}
	if len(bodies) < 50 || ok < 20 {
		t.Fatalf("only %d bodies in testdata, %d of them records", len(bodies), ok)
	}
	var m kernelMemo
	for round := range 2 {
		for i, b := range bodies {
			memoAgrees(t, &m, b)
			if i > 0 && round == 1 {
				memoAgrees(t, &m, bodies[i-1])
			}
		}
	}
}

// corpusLines returns every line of the testdata inputs.
func corpusLines(t *testing.T) [][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, p := range paths {
		if st, err := os.Stat(p); err != nil || st.IsDir() || filepath.Ext(p) == ".golden" || filepath.Ext(p) == ".md" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.Split(data, []byte("\n"))...)
	}
	return lines
}

// trimRecord trims trailing NULs and newlines as the read loop does.
func trimRecord(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

func FuzzKernelMemo(f *testing.F) {
	seedLines(f, func(l []byte) {
		if i := bytes.Index(l, []byte("audit(")); i >= 0 {
			f.Add(l[i:], l[i:])
		}
	})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		a, b = trimRecord(a), trimRecord(b)
		var m kernelMemo
		memoAgrees(t, &m, a)
		memoAgrees(t, &m, b)
		memoAgrees(t, &m, a)
		memoAgrees(t, &m, b)
	})
}
