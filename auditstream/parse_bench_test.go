package auditstream

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// genLog writes n lines of bench/genlog's audit.log (about 10% SECCOMP from
// 400 distinct binaries, the rest SYSCALL/CWD/PATH/PROCTITLE) to a
// temporary file, or returns $SECCOMPWATCH_BENCH_LOG.
func genLog(b *testing.B, n int) string {
	b.Helper()
	if path := os.Getenv("SECCOMPWATCH_BENCH_LOG"); path != "" {
		return path
	}
	path := filepath.Join(b.TempDir(), "audit.log")
	cmd := exec.Command("go", "run", "../bench/genlog", "-n", strconv.Itoa(n), "-o", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("genlog: %v\n%s", err, out)
	}
	return path
}

// BenchmarkParseLine parses a realistic mix: genlog's lines, whose SECCOMP
// records come from 400 binaries picked uniformly, so that the Parser's
// cache of recent comm/exe strings (16 entries) rarely hits and the
// allocations per record are the real ones, not those of one repeated
// line.
func BenchmarkParseLine(b *testing.B) {
	data, err := os.ReadFile(genLog(b, 200000))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	p := NewParser(time.UTC)
	b.SetBytes(int64(len(data)) / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := p.ParseLine(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	// allocations per SECCOMP record over one pass of the whole mix
	var seccomp [][]byte
	for _, l := range lines {
		if bytes.HasPrefix(l, []byte("type=SECCOMP ")) {
			seccomp = append(seccomp, l)
		}
	}
	q := NewParser(time.UTC)
	allocs := testing.AllocsPerRun(1, func() {
		for _, l := range seccomp {
			if _, ok, err := q.ParseLine(l); !ok || err != nil {
				b.Fatalf("%q: %v", l, err)
			}
		}
	})
	b.ReportMetric(allocs/float64(len(seccomp)), "allocs/seccomp")
}

func BenchmarkParseKernel(b *testing.B) {
	body := []byte(`audit(1763775501.123:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=1234 comm="deny" exe="/usr/local/bin/deny" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0011223344 code=0x80000000`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseKernel(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReplayFile replays a generated 1,000,000-line audit.log (see
// bench/genlog) through the Reader: file read, line split and parse.
// Set SECCOMPWATCH_BENCH_LOG to use an existing file.
func BenchmarkReplayFile(b *testing.B) {
	path := genLog(b, 1000000)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), "audit.log")
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
