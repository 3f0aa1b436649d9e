package daemon

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/logging"
)

// syncBuffer is a bytes.Buffer safe for the logger's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHostileValuesInLog: a process picks its comm and exe (the kernel
// hex-encodes them in the record when they hold control bytes); the
// daemon's "new denial" line carries them, in both log formats, as one
// line of printable UTF-8: no terminal escape, no forged second line.
func TestHostileValuesInLog(t *testing.T) {
	exe := "/tmp/\x1b[31mred\n{\"level\":\"error\",\"msg\":\"forged\"}\x9b2J\xff"
	comm := "a\x1b]0;title\x07\r"
	line := "audit(1763775501.123:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=0 comm=" +
		strings.ToUpper(hex.EncodeToString([]byte(comm))) + " exe=" + strings.ToUpper(hex.EncodeToString([]byte(exe))) +
		" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0000001000 code=0x80000000"
	rec, err := auditstream.ParseKernel([]byte(line))
	if err != nil || rec.Exe != exe || rec.Comm != comm {
		t.Fatalf("record %+v %v: the kernel's hex encoding not decoded", rec, err)
	}
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var buf syncBuffer
			log, err := logging.NewTo(&buf, format, "info")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err := New(ctx, Config{DBusAddress: "none", DisableBPF: true, SystemdTable: "252", RecentDenials: 10, UnitsRoot: t.TempDir()}, log)
			if err != nil {
				t.Fatal(err)
			}
			defer d.attr.Close()
			d.handle(rec, nil)
			_ = log.Sync()
			out := buf.String()
			var denial []string
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if strings.Contains(l, "new denial") {
					denial = append(denial, l)
				}
				if strings.Contains(l, "forged") && !strings.Contains(l, "new denial") {
					t.Errorf("a line of its own from the exe: %q", l)
				}
				if !utf8.ValidString(l) {
					t.Errorf("invalid UTF-8: %q", l)
				}
				for _, r := range l {
					if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f {
						t.Errorf("control character %U in %q", r, l)
					}
				}
			}
			if len(denial) != 1 || !strings.Contains(denial[0], "red") {
				t.Errorf("want one new-denial line naming the exe, got %q", denial)
			}
		})
	}
}
