package auditstream

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	want.File, want.Line, want.Node = "", 0, "" // the kernel body carries no node
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
			if strings.ContainsAny(r.Node, " =\"'\n;$/") || len(r.Node) > MaxNodeLength {
				t.Fatalf("node %q is not a host name", r.Node)
			}
		}
		// the same bytes through a Reader, split into lines, never panic
		rd := NewReader(bytes.NewReader(line), "fuzz")
		for i := 0; i < 1000; i++ {
			if _, err := rd.Next(); err != nil && !isMalformed(err) {
				break
			}
		}
		// and read in blocks (as files are), whatever the block size,
		// they give what line by line reading gives
		want := drain(t, NewReader(bytes.NewReader(line), "fuzz"))
		for _, size := range []int{1 + len(line)%61, 1 + len(line)/2, 4096} {
			got := drain(t, newBlockReader(bytes.NewReader(line), "fuzz", size))
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("blocks of %d differ from lines (-lines +blocks):\n%s", size, d)
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

// FuzzInterpretedValues renders a comm and an exe the way `ausearch -i`
// prints them (unquoted, control bytes as \ooo, backslashes as they are)
// around fixed true fields: the
// record read back has exactly that comm and exe and the true pid, uid,
// signal and syscall, or it is malformed. Never a value a comm or exe
// injected.
func FuzzInterpretedValues(f *testing.F) {
	for _, s := range [][2]string{
		{"a", "/usr/bin/a"}, {"a uid=root", "/x"}, {"a pid=1", "/x pid=1"}, {"a exe=/bin/sh", "/x"},
		{"x", "/tmp/x sig=SIGKILL arch=i386 syscall=mount"}, {`"hi" quote`, "/tmp/a dir/x\"y"},
		{"a comm=b", "/x comm=c exe=/y"}, {"", "/"}, {"sp ", "/x "}, {"code=kill", "/x code=kill"},
		{"a\nb", "/x\x1b[31m"}, {`a\012b`, `/x\033`}, {`a\b`, `/x\\y\9`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, comm, exe string) {
		if len(comm) > 15 || !strings.HasPrefix(exe, "/") {
			return // TASK_COMM_LEN; d_path is absolute
		}
		line := "type=SECCOMP msg=audit(11/24/26 08:20:15.744:12) : auid=alice uid=alice gid=alice ses=3 subj=unconfined pid=77 comm=" +
			ttyEscape(comm) + " exe=" + ttyEscape(exe) + " sig=SIGSYS arch=x86_64 syscall=getppid compat=0 ip=0x1 code=kill \n"
		p := NewParser(time.UTC)
		r, ok, err := p.ParseLine([]byte(line))
		if !ok {
			if !isMalformed(err) {
				t.Fatalf("%q: not a record and not malformed: %v", line, err)
			}
			return
		}
		if r.Comm != comm || r.Exe != exe || r.PID != 77 || r.UID.Name != "alice" || r.AUID.Name != "alice" ||
			r.Signal != 31 || r.Syscall != 110 || r.Action != ActionKill || r.Serial != 12 {
			t.Fatalf("%q: read comm %q exe %q pid %d uid %s auid %s sig %d nr %d action %v", line, r.Comm, r.Exe, r.PID, r.UID, r.AUID, r.Signal, r.Syscall, r.Action)
		}
	})
}

// FuzzTaggedComm renders a record the way journal viewers print it, with
// the record's comm as the tag ("10:39:55 COMM: SECCOMP ..."), and with a
// tag that is not its comm: the first reads back exactly or is malformed,
// the second never becomes a record.
func FuzzTaggedComm(f *testing.F) {
	for _, s := range []string{"nginx", "runc:[2:INIT]", "a: SECCOMP pid", ": SECCOMP pid=1", "with space", "x[1]", "audit"} {
		f.Add(s, "other")
	}
	f.Fuzz(func(t *testing.T, comm, tag string) {
		if len(comm) == 0 || len(comm) > 15 || strings.ContainsAny(comm+tag, "\n\r\x00") {
			return
		}
		enc := `"` + comm + `"`
		for i := 0; i < len(comm); i++ {
			if c := comm[i]; c == '"' || c < 0x21 || c > 0x7e {
				enc = hex.EncodeToString([]byte(comm)) // as the kernel does
				break
			}
		}
		body := "auid=1000 uid=1000 gid=1000 ses=3 pid=4242 comm=" + enc + ` exe="/usr/bin/app" sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7ffc0000`
		r, ok, err := NewParser(time.UTC).ParseLine([]byte("10:39:55 " + comm + ": SECCOMP " + body))
		if ok && (r.Comm != comm || r.PID != 4242 || r.UID.N != 1000 || r.Syscall != 110) {
			t.Fatalf("comm %q: read comm %q pid %d uid %d nr %d", comm, r.Comm, r.PID, r.UID.N, r.Syscall)
		}
		if !ok && err != nil && !isMalformed(err) {
			t.Fatalf("comm %q: %v", comm, err)
		}
		if strings.Contains(tag, comm) || strings.Contains(tag, "audit") || strings.Contains(tag, "SECCOMP") || strings.Contains(tag, "type=") {
			return // a tag that may rightly name the record
		}
		if r, ok, _ := NewParser(time.UTC).ParseLine([]byte("10:39:55 " + tag + ": SECCOMP " + body)); ok {
			t.Fatalf("tag %q is not comm %q but gave a record %+v", tag, comm, r)
		}
	})
}

// ttyEscape escapes s as auparse's tty escaping does (interpret.c
// tty_escape): bytes below 0x20 as a backslash and three octal digits,
// everything else, backslashes included, as it is.
func ttyEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// kernelOrderSeeds are SECCOMP bodies as the kernel writes them, and near
// misses.
var kernelOrderSeeds = []string{
	` auid=4294967295 uid=1004 gid=1004 ses=4294967295 subj=unconfined pid=18696 comm="auth-auth204" exe="/usr/lib/proxy/bin/auth-auth204" sig=31 arch=c000003e syscall=101 compat=0 ip=0x7f0ec0cecf8e code=0x0`,
	" auid=4294967295 uid=1004 gid=1004 ses=4294967295 subj=unconfined pid=18696 comm=\"a b\" exe=\"/usr/bin/a b\" sig=31 arch=c000003e syscall=101 compat=0 ip=0x7f0ec0cecf8e code=0x0\x1dAUID=\"unset\" UID=\"u\"",
	` auid=1000 uid=0 gid=0 ses=3 pid=1 comm=63616368652068656C706572 exe=2F6F70742F4D79 sig=0 arch=40000003 syscall=4 compat=1 ip=0x1 code=0x7ffc0000`,
	` auid=1000 uid=0 gid=0 ses=3 pid=1 comm="x" exe=(null) sig=0 arch=c000003e syscall=1073741825 compat=0 ip=0x1 code=0x50001`,
	` auid=1000 uid=0 gid=0 ses=3 pid=1 comm="x" exe="y" sig=0 arch=c000003e syscall=1 compat=0 ip=0x1 code=0x0AUID="unset"`,
	` auid=1000 uid=0 gid=0 ses=3 pid=1 comm="x" exe="y" sig=0 arch=c000003e syscall=1 compat=0 ip=0x1 code=0x0 pid=2`,
	` auid=1000 uid=0 gid=0 ses=3 subj=a subj=b pid=1 comm="x" exe="y" sig=0 arch=deadbeef syscall=1 compat=0 ip=0x1 code=0x0`,
	` auid=1000 uid=0 gid=0 ses=3 pid=1 comm="x"y exe="y" sig=0 arch=c000003e syscall=1 compat=0 ip=0x1 code=0x0`,
	` auid=1000 uid=0 gid=0 ses=3 pid=1 comm=abc exe="" sig=99999999999 arch=c000003e syscall=1 compat=2 ip=0x1 code=0x100000000`,
}

// FuzzKernelOrder: whenever parseFields's fast path for the kernel's own
// field order takes a body, the record and the error are what the
// general parser gives for it.
func FuzzKernelOrder(f *testing.F) {
	for _, s := range kernelOrderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow Record
		var in1, in2 interner
		ok, err := parseKernelOrder(&fast, body, &in1)
		if !ok {
			return
		}
		want := parseAnyOrder(&slow, body, false, &in2)
		if fmt.Sprint(err) != fmt.Sprint(want) {
			t.Fatalf("%q: fast path error %v, general %v", body, err, want)
		}
		if d := cmp.Diff(slow, fast); d != "" {
			t.Fatalf("%q: fast path differs (-general +fast):\n%s", body, d)
		}
	})
}

// TestKernelOrderTakes: the fast path takes the kernel's bodies (it is
// not a path never taken) and leaves the near misses to the general one.
func TestKernelOrderTakes(t *testing.T) {
	for i, s := range kernelOrderSeeds {
		var r Record
		var in interner
		ok, _ := parseKernelOrder(&r, []byte(s), &in)
		if ok != (i < 4) {
			t.Errorf("%q: taken %v", s, ok)
		}
	}
}
