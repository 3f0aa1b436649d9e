package daemon

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// BenchmarkScrape measures one /metrics gathering of a daemon holding
// 10,000 unit × syscall pairs (100 binaries without a unit × 100
// syscalls) while denials keep arriving (one between scrapes), as in
// bench/daemon.sh's latency run, which scrapes every 5 ms.
func BenchmarkScrape(b *testing.B) {
	d := newOfflineTB(b, 10000, 0)
	now := time.Now().Truncate(time.Millisecond).UTC()
	rec := func(exe, nr int) auditstream.Record {
		return auditstream.Record{Time: now, Serial: 1, HasSerial: true, PID: os.Getpid(), Comm: "x",
			Exe: fmt.Sprintf("/usr/bin/x%d", exe), AuditArch: 0xc000003e, Arch: syscalls.ArchX86_64,
			Syscall: nr, Code: 0x50001, Action: auditstream.ActionErrno, Errno: 1}
	}
	time.Sleep(2 * time.Millisecond)
	for e := range 100 {
		for n := range 100 {
			d.handle(rec(e, n), nil)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.handle(rec(i%100, i%100), nil)
		if _, err := d.reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
