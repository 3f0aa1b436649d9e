package auditstream

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// benchLines is a mix of 10% SECCOMP and 90% SYSCALL/CWD/PATH/PROCTITLE
// lines, as in a busy audit.log.
func benchLines(b *testing.B) [][]byte {
	b.Helper()
	seccompLine := []byte(`type=SECCOMP msg=audit(1763712000.123:4101): auid=4294967295 uid=33 gid=33 ses=4294967295 subj=unconfined pid=815 comm="nginx" exe="/usr/sbin/nginx" sig=31 arch=c000003e syscall=288 compat=0 ip=0x7f3a2c91e5bd code=0x80000000`)
	noise := [][]byte{
		[]byte(`type=SYSCALL msg=audit(1763712000.100:4100): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd2a1c a2=80000 a3=0 items=1 ppid=1 pid=812 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="nginx" exe="/usr/sbin/nginx" subj=unconfined key="config-read"`),
		[]byte(`type=CWD msg=audit(1763712000.100:4100): cwd="/"`),
		[]byte(`type=PATH msg=audit(1763712000.100:4100): item=0 name="/etc/nginx/nginx.conf" inode=1310722 dev=fd:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`),
		[]byte(`type=PROCTITLE msg=audit(1763712000.100:4100): proctitle=6E67696E783A206D61737465722070726F63657373`),
	}
	var lines [][]byte
	for i := 0; i < 100; i++ {
		if i%10 == 0 {
			lines = append(lines, seccompLine)
		} else {
			lines = append(lines, noise[i%len(noise)])
		}
	}
	return lines
}

func BenchmarkParseLine(b *testing.B) {
	lines := benchLines(b)
	p := NewParser(time.UTC)
	var bytesPerRound int
	for _, l := range lines {
		bytesPerRound += len(l) + 1
	}
	b.SetBytes(int64(bytesPerRound) / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if _, ok, err := p.ParseLine(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		} else if ok {
			n++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	// allocations per SECCOMP record, measured separately
	sec := lines[0]
	allocs := testing.AllocsPerRun(1000, func() { _, _, _ = p.ParseLine(sec) })
	b.ReportMetric(allocs, "allocs/seccomp")
	_ = n
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
	path := os.Getenv("SECCOMPWATCH_BENCH_LOG")
	if path == "" {
		path = filepath.Join(b.TempDir(), "audit.log")
		cmd := exec.Command("go", "run", "../bench/genlog", "-n", "1000000", "-o", path)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Skipf("genlog: %v\n%s", err, out)
		}
	}
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
