package auditstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

var update = flag.Bool("update", false, "update golden files")

// goldenRecord is the JSON form of a Record in golden files.
type goldenRecord struct {
	Line      int    `json:"line"`
	Node      string `json:"node,omitempty"`
	Time      string `json:"time,omitempty"`
	Serial    uint64 `json:"serial"`
	PID       int    `json:"pid"`
	UID       string `json:"uid"`
	AUID      string `json:"auid"`
	GID       string `json:"gid"`
	Ses       string `json:"ses"`
	Comm      string `json:"comm"`
	Exe       string `json:"exe"`
	ExeNull   bool   `json:"exe_null,omitempty"`
	AuditArch string `json:"audit_arch"`
	Arch      string `json:"arch"`
	Syscall   int    `json:"syscall_nr"`
	SyscallNm string `json:"syscall_name,omitempty"`
	Compat    bool   `json:"compat"`
	Signal    int    `json:"signal"`
	IP        uint64 `json:"ip"`
	Code      uint32 `json:"code"`
	Action    string `json:"action"`
	Errno     int    `json:"errno"`
}

func toGolden(r Record) goldenRecord {
	g := goldenRecord{
		Line: r.Line, Node: r.Node, Serial: r.Serial, PID: r.PID,
		UID: r.UID.String(), AUID: r.AUID.String(), GID: r.GID.String(), Ses: r.Ses.String(),
		Comm: r.Comm, Exe: r.Exe, ExeNull: r.ExeUnknown,
		AuditArch: fmt.Sprintf("%08x", r.AuditArch), Arch: r.Arch.String(),
		Syscall: r.Syscall, SyscallNm: r.SyscallNm, Compat: r.Compat, Signal: r.Signal,
		IP: r.IP, Code: r.Code, Action: r.Action.String(), Errno: r.Errno,
	}
	if !r.Time.IsZero() {
		g.Time = r.Time.Format("2006-01-02T15:04:05.000Z07:00")
	}
	return g
}

type goldenFile struct {
	Records []goldenRecord `json:"records"`
	Errors  []string       `json:"errors"`
	Stats   Stats          `json:"stats"`
}

// readAll replays one file with the real Reader, times in UTC (the
// ausearch -i samples were made with TZ=UTC).
func readAll(t testing.TB, path string) goldenFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, filepath.Base(path))
	r.SetLocation(time.UTC)
	var g goldenFile
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: %v", path, err)
			}
			g.Errors = append(g.Errors, err.Error())
			continue
		}
		if rec.File != filepath.Base(path) {
			t.Errorf("record File = %q", rec.File)
		}
		g.Records = append(g.Records, toGolden(rec))
	}
	g.Stats = r.Stats()
	return g
}

func testdataInputs(t testing.TB) []string {
	var out []string
	for _, pat := range []string{"*.log", "*.json", "*.export"} {
		m, err := filepath.Glob(filepath.Join("testdata", pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatal("no testdata")
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, path := range testdataInputs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, err := json.MarshalIndent(readAll(t, path), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs (-want +got), run with -update if intended:\n%s", golden, d)
			}
		})
	}
}

// TestInterpretedMatchesRaw compares genuine `ausearch -i` output with the
// raw records it was made from: every field ausearch keeps must decode to
// the same value. A comm or exe with a control byte, which auparse prints
// as \ooo and which a process could as well have written itself, is
// malformed (ambiguous), never decoded by guess.
func TestInterpretedMatchesRaw(t *testing.T) {
	raw := readAll(t, "testdata/raw.log").Records
	got := readAll(t, "testdata/ausearch_i.log")
	interp := map[uint64]goldenRecord{}
	for _, in := range got.Records {
		interp[in.Serial] = in
	}
	var wantErrs []string
	for i, r := range raw {
		in, ok := interp[r.Serial]
		if strings.ContainsFunc(r.Comm+r.Exe, func(c rune) bool { return c < 0x20 }) {
			field := "comm"
			if !strings.ContainsFunc(r.Comm, func(c rune) bool { return c < 0x20 }) {
				field = "exe"
			}
			wantErrs = append(wantErrs, fmt.Sprintf("ausearch_i.log:%d: auditstream: malformed SECCOMP record: ambiguous (%s)", 2*i+2, field))
			if ok {
				t.Errorf("serial %d: comm %q exe %q read from ausearch -i", r.Serial, in.Comm, in.Exe)
			}
			continue
		}
		if !ok {
			t.Errorf("serial %d: not read from ausearch -i", r.Serial)
			continue
		}
		want := r
		// what ausearch -i loses or renames
		want.Line, want.UID, want.GID = in.Line, "root", "root"
		want.Code, want.Errno = 0, 0
		if r.Action == "kill_process" || r.Action == "kill_thread" {
			want.Action = "kill" // auparse 3.0.x: ambiguous
		}
		if in.SyscallNm != "" {
			want.SyscallNm = in.SyscallNm
		}
		if d := cmp.Diff(want, in); d != "" {
			t.Errorf("record %d (serial %d): interpreted differs from raw (-raw +interp):\n%s", i, r.Serial, d)
		}
	}
	if len(wantErrs) == 0 || len(got.Records)+len(wantErrs) != len(raw) {
		t.Errorf("%d raw records, %d interpreted, %d ambiguous", len(raw), len(got.Records), len(wantErrs))
	}
	if d := cmp.Diff(wantErrs, got.Errors); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

// TestRawShapesAgree checks that the same kernel records read from dmesg,
// audit.log, ausearch --raw, ausearch's default output and the journal
// (json and export) decode identically.
func TestRawShapesAgree(t *testing.T) {
	base := readAll(t, "testdata/raw.log").Records
	for _, f := range []string{"dmesg.log", "ausearch_raw.log", "ausearch_default.log", "journal.json", "journal.export"} {
		got := readAll(t, filepath.Join("testdata", f)).Records
		if len(got) != len(base) {
			t.Errorf("%s: %d records, want %d", f, len(got), len(base))
			continue
		}
		for i := range got {
			g := got[i]
			g.Line = base[i].Line
			if d := cmp.Diff(base[i], g); d != "" {
				t.Errorf("%s record %d (-raw.log +%s):\n%s", f, i, f, d)
			}
		}
	}
}

// TestJournalShortAgrees checks journalctl's text output of the same
// journal (testdata/journal_short.log: seven -o short* renderings, one
// after the other) against the records of raw.log: only the time (the
// journal's reception time, in the forms that carry a date) and the serial
// (never printed) may differ.
func TestJournalShortAgrees(t *testing.T) {
	base := readAll(t, "testdata/raw.log").Records
	got := readAll(t, "testdata/journal_short.log").Records
	forms := []struct {
		name  string
		dated bool
	}{{"short", false}, {"short-iso", true}, {"short-precise", false}, {"short-iso-precise", true},
		{"short-unix", true}, {"short-monotonic", false}, {"short-iso without _PID", true}}
	if len(got) != len(forms)*len(base) {
		t.Fatalf("%d records, want %d", len(got), len(forms)*len(base))
	}
	for f, form := range forms {
		for i, b := range base {
			g := got[f*len(base)+i]
			if dated := g.Time != ""; dated != form.dated {
				t.Errorf("%s record %d: time %q, want a time: %v", form.name, i, g.Time, form.dated)
			} else if dated {
				// the journal received each record within a few ms
				// (short-iso and short-unix print whole seconds)
				gt, err1 := time.Parse(time.RFC3339, g.Time)
				bt, err2 := time.Parse(time.RFC3339, b.Time)
				if d := gt.Sub(bt.Truncate(time.Second)); err1 != nil || err2 != nil || d < 0 || d > time.Second+5*time.Millisecond {
					t.Errorf("%s record %d: time %s, record's %s", form.name, i, g.Time, b.Time)
				}
			}
			g.Line, g.Time, g.Serial = b.Line, b.Time, b.Serial
			if d := cmp.Diff(b, g); d != "" {
				t.Errorf("%s record %d (-raw.log +journal_short.log):\n%s", form.name, i, d)
			}
		}
	}
}

func TestParseKernel(t *testing.T) {
	const pfx = "audit(1763775501.123:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=1234 comm=\"deny\" exe=\"/usr/local/bin/deny\" "
	tests := []struct {
		name    string
		tail    string
		arch    syscalls.Arch
		action  Action
		errno   int
		nr      int
		wantErr string
	}{
		{"kill_process", "sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0000000001 code=0x80000000", syscalls.ArchX86_64, ActionKillProcess, 0, 110, ""},
		{"kill_thread", "sig=31 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x0", syscalls.ArchX86_64, ActionKillThread, 0, 110, ""},
		{"trap", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x30000", syscalls.ArchX86_64, ActionTrap, 0, 110, ""},
		{"errno", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x50000", syscalls.ArchX86_64, ActionErrno, 0, 110, ""},
		{"errno_data", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x50001", syscalls.ArchX86_64, ActionErrno, 1, 110, ""},
		{"user_notif", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7fc00000", syscalls.ArchX86_64, ActionUserNotif, 0, 110, ""},
		{"trace", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7ff00000", syscalls.ArchX86_64, ActionTrace, 0, 110, ""},
		{"log", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchX86_64, ActionLog, 0, 110, ""},
		{"allow", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7fff0000", syscalls.ArchX86_64, ActionAllow, 0, 110, ""},
		{"unknown_code", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x12340000", syscalls.ArchX86_64, ActionUnknown, 0, 110, ""},
		{"i386", "sig=0 arch=40000003 syscall=64 compat=1 ip=0x1 code=0x7ffc0000", syscalls.ArchI386, ActionLog, 0, 64, ""},
		{"x32", "sig=0 arch=c000003e syscall=1073741867 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchX32, ActionLog, 0, 1073741867, ""},
		{"aarch64", "sig=0 arch=c00000b7 syscall=198 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchAArch64, ActionLog, 0, 198, ""},
		{"arm", "sig=0 arch=40000028 syscall=281 compat=1 ip=0x1 code=0x7ffc0000", syscalls.ArchARM, ActionLog, 0, 281, ""},
		{"riscv64", "sig=0 arch=c00000f3 syscall=198 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchRISCV64, ActionLog, 0, 198, ""},
		{"ppc64le", "sig=0 arch=c0000015 syscall=326 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchPPC64LE, ActionLog, 0, 326, ""},
		{"s390x", "sig=0 arch=80000016 syscall=359 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchS390X, ActionLog, 0, 359, ""},
		{"unknown_arch", "sig=0 arch=c0000008 syscall=4183 compat=0 ip=0x1 code=0x7ffc0000", syscalls.ArchUnknown, ActionLog, 0, 4183, ""},
		{"no_code", "sig=0 arch=c000003e syscall=110 compat=0 ip=0x1", 0, 0, 0, 0, ReasonMissingCode},
		{"bad_arch", "sig=0 arch=x86_64 syscall=110 compat=0 ip=0x1 code=0x0", 0, 0, 0, 0, ReasonBadNumber},
		{"bad_syscall", "sig=0 arch=c000003e syscall=-1 compat=0 ip=0x1 code=0x0", 0, 0, 0, 0, ReasonBadNumber},
		{"huge_code", "sig=0 arch=c000003e syscall=1 compat=0 ip=0x1 code=0x100000000", 0, 0, 0, 0, ReasonBadNumber},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseKernel([]byte(pfx + tc.tail + "\x00"))
			if tc.wantErr != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Reason != tc.wantErr || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want reason %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Arch != tc.arch || r.Action != tc.action || r.Errno != tc.errno || r.Syscall != tc.nr {
				t.Errorf("got arch %v action %v errno %d nr %d", r.Arch, r.Action, r.Errno, r.Syscall)
			}
			want := time.Date(2025, 11, 22, 1, 38, 21, 123e6, time.UTC)
			if !r.Time.Equal(want) || r.Serial != 42 || !r.HasSerial || r.PID != 1234 ||
				r.Comm != "deny" || r.Exe != "/usr/local/bin/deny" || r.AUID.N != UnsetID || r.UID.N != 0 {
				t.Errorf("common fields wrong: %+v", r)
			}
		})
	}
}

func TestParseKernelHostile(t *testing.T) {
	t.Parallel()
	// hex-encoded comm/exe with newline, quote, [Service], ANSI escape and
	// invalid UTF-8 are decoded exactly
	comm := "ev\"il\n[Service]"
	exe := "/tmp/\x1b[31mred\xff dir/\"x\""
	body := "audit(1.5:7): auid=0 uid=0 gid=0 ses=1 pid=9 comm=" + hexUpper(comm) + " exe=" + hexUpper(exe) +
		" sig=0 arch=c000003e syscall=1 compat=0 ip=0x1 code=0x7ffc0000"
	r, err := ParseKernel([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Comm != comm || r.Exe != exe {
		t.Errorf("comm %q exe %q", r.Comm, r.Exe)
	}
	if r.Time != time.Unix(1, 500e6).UTC() {
		t.Errorf("time %v", r.Time)
	}
}

func hexUpper(s string) string {
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

func TestParseSerial(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"audit(1763775501.123:42): x=1", 42, true},
		{"type=SYSCALL msg=audit(1613596318.001:6464): arch=c000003e", 6464, true},
		{"audit(1763775501.123): x", 0, false},
		{"audit(1.2:18446744073709551615):", 18446744073709551615, true},
		{"audit(1.2:18446744073709551616):", 0, false},
		{"no prefix", 0, false},
		{"audit(1.2:3", 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseSerial([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseSerial(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseKernelAllocs(t *testing.T) {
	body := []byte(`audit(1763775501.123:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=1234 comm="deny" exe="/usr/local/bin/deny" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0011223344 code=0x80000000`)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseKernel(body) }); n > 2 {
		t.Errorf("ParseKernel: %v allocs, want <= 2 (comm, exe)", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseSerial(body) }); n != 0 {
		t.Errorf("ParseSerial: %v allocs", n)
	}
}

func TestInterpretedNames(t *testing.T) {
	const pfx = "type=SECCOMP msg=audit(08/09/2025 14:22:10.314:88) : auid=alice uid=www-data gid=www-data ses=unset pid=77 comm=a b exe=/usr/bin/a b "
	tests := []struct {
		tail   string
		action Action
		sig    int
		nr     int
		arch   syscalls.Arch
		code   uint32
	}{
		{"sig=SIGSYS arch=x86_64 syscall=socket compat=0 ip=0x1 code=kill", ActionKill, 31, 41, syscalls.ArchX86_64, 0},
		{"sig=SIGSYS arch=x86_64 syscall=socket compat=0 ip=0x1 code=kill-process", ActionKillProcess, 31, 41, syscalls.ArchX86_64, 0},
		{"sig=SIGSYS arch=x86_64 syscall=socket compat=0 ip=0x1 code=kill-thread", ActionKillThread, 31, 41, syscalls.ArchX86_64, 0},
		{"sig=SIG0 arch=i386 syscall=getppid compat=1 ip=0x1 code=trap", ActionTrap, 0, 64, syscalls.ArchI386, 0},
		{"sig=IGPWR arch=aarch64 syscall=getppid compat=0 ip=0x1 code=errno", ActionErrno, 30, 173, syscalls.ArchAArch64, 0},
		{"sig=unknown-signal(33) arch=x86_64 syscall=unknown-syscall(1073741863) compat=0 ip=0x1 code=user-notify", ActionUserNotif, 33, 1073741863, syscalls.ArchX32, 0},
		{"sig=SIG0 arch=armeb syscall=getppid compat=0 ip=0x1 code=trace", ActionTrace, 0, 64, syscalls.ArchARM, 0},
		{"sig=SIG0 arch=unknown-elf-type(c0000008) syscall=unknown-syscall(4183) compat=0 ip=0x1 code=allow", ActionAllow, 0, 4183, syscalls.ArchUnknown, 0},
		{"sig=SIG0 arch=x86_64 syscall=getppid compat=0 ip=0x1 code=unknown-seccomp-code(0x12340000)", ActionUnknown, 0, 110, syscalls.ArchX86_64, 0x12340000},
	}
	p := NewParser(time.UTC)
	r, ok, err := p.ParseLine([]byte("type=SECCOMP msg=audit(11/21/25 08:00:00.020:1005) : auid=unset uid=unknown(106) gid=unknown(106) ses=unset pid=1 comm=x exe=/x sig=SIG0 arch=x86_64 syscall=fadvise64 compat=0 ip=0x1 code=errno "))
	if !ok || err != nil || r.UID != (ID{N: 106}) || r.GID != (ID{N: 106}) {
		t.Errorf("unknown(106) ids: %+v %v", r, err)
	}
	for _, tc := range tests {
		p := NewParser(time.UTC)
		r, ok, err := p.ParseLine([]byte(pfx + tc.tail + " \n"))
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", tc.tail, ok, err)
		}
		if r.Action != tc.action || r.Signal != tc.sig || r.Syscall != tc.nr || r.Arch != tc.arch || r.Code != tc.code {
			t.Errorf("%s: got action %v sig %d nr %d arch %v code %#x", tc.tail, r.Action, r.Signal, r.Syscall, r.Arch, r.Code)
		}
		if r.AUID.Name != "alice" || r.UID.Name != "www-data" || r.Ses.N != UnsetID || r.Comm != "a b" || r.Exe != "/usr/bin/a b" {
			t.Errorf("%s: ids/comm wrong: %+v", tc.tail, r)
		}
		if want := time.Date(2025, 8, 9, 14, 22, 10, 314e6, time.UTC); !r.Time.Equal(want) || r.Serial != 88 {
			t.Errorf("time %v serial %d", r.Time, r.Serial)
		}
	}
}

func TestInterpretedLocalTime(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	p := NewParser(loc)
	r, ok, err := p.ParseLine([]byte("type=SECCOMP msg=audit(11/24/26 08:20:15.744:12) : auid=unset uid=root gid=root ses=unset pid=1 comm=x exe=/x sig=SIG0 arch=x86_64 syscall=getppid compat=0 ip=0x1 code=log "))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if want := time.Date(2026, 11, 24, 6, 20, 15, 744e6, time.UTC); !r.Time.Equal(want) || r.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v", r.Time, want)
	}
}

func TestLineTooLong(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("type=SECCOMP msg=audit(1.000:1): pid=1 comm=\"a\" exe=\"/a\" arch=c000003e syscall=1 code=0x0\n")
	b.WriteString("type=SECCOMP msg=audit(1.000:2): pid=2 comm=\"")
	b.Write(bytes.Repeat([]byte("x"), MaxLineLength+10))
	b.WriteString("\" arch=c000003e syscall=1 code=0x0\n")
	b.WriteString("type=SECCOMP msg=audit(1.000:3): pid=3 comm=\"" + strings.Repeat("y", 200000) + "\" arch=c000003e syscall=1 code=0x0\n")
	r := NewReader(&b, "big")
	var pids, lines, skipped []int
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		var pe *ParseError
		if errors.As(err, &le) && errors.As(err, &pe) && pe.Reason == ReasonLineTooLong && le.File == "big" {
			skipped = append(skipped, le.Line) // named, so that replay can say which
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, rec.PID)
		lines = append(lines, rec.Line)
	}
	if d := cmp.Diff([]int{2}, skipped); d != "" {
		t.Errorf("skipped lines: %s", d)
	}
	if d := cmp.Diff([]int{1, 3}, pids); d != "" {
		t.Errorf("pids: %s", d)
	}
	if d := cmp.Diff([]int{1, 3}, lines); d != "" {
		t.Errorf("lines: %s", d)
	}
	st := r.Stats()
	if st.Malformed[ReasonLineTooLong] != 1 || st.Lines != 3 || st.Seccomp != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestInterpretedBadDate: an ausearch -i date that does not exist is a
// bad timestamp, not silently moved to another day.
func TestInterpretedBadDate(t *testing.T) {
	for _, ts := range []string{"02/31/2025 14:22:10.314:88", "2025-04-31 00:00:00.000:1", "29.02.2025 00:00:00.000:1", "13/01/2025 00:00:00.000:1"} {
		p := NewParser(time.UTC)
		_, ok, err := p.ParseLine([]byte("type=SECCOMP msg=audit(" + ts + ") : pid=1 arch=x86_64 syscall=read code=kill"))
		var pe *ParseError
		if ok || !errors.As(err, &pe) || pe.Reason != ReasonBadTimestamp {
			t.Errorf("%s: ok=%v err=%v, want bad_timestamp", ts, ok, err)
		}
	}
	// a real leap day is fine
	p := NewParser(time.UTC)
	if _, ok, err := p.ParseLine([]byte("type=SECCOMP msg=audit(02/29/2024 00:00:00.000:1) : pid=1 arch=x86_64 syscall=read code=kill")); !ok || err != nil {
		t.Errorf("leap day: ok=%v err=%v", ok, err)
	}
}

// TestLineTooLongAtEOF: a too-long last line without a newline is still
// reported (by number), then the input ends.
func TestLineTooLongAtEOF(t *testing.T) {
	in := "x\n" + strings.Repeat("z", MaxLineLength+1)
	r := NewReader(strings.NewReader(in), "f")
	_, err := r.Next()
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, ErrMalformed) {
		t.Fatalf("first Next: %v, want line 2 too long", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("second Next: %v, want EOF", err)
	}
}

// TestParseDec: the 19-digit fast path and the checked path agree with
// strconv at the edges of uint64.
func TestParseDec(t *testing.T) {
	for _, in := range []string{"", "0", "7", "/", ":", "1a", "-1", "+1", " 1",
		"999999999999999999", "9999999999999999999", "10000000000000000000",
		"18446744073709551615", "18446744073709551616", "99999999999999999999", "000000000000000000001", "00000000000000000001"} {
		v, ok := parseDec([]byte(in))
		want, err := strconv.ParseUint(in, 10, 64)
		wantOK := err == nil && len(in) > 0 && in[0] != '+' && len(in) <= 20
		if ok != wantOK || ok && v != want {
			t.Errorf("parseDec(%q) = %d, %v; want %d, %v", in, v, ok, want, wantOK)
		}
	}
}

// TestCounter: counts per name match a map's, whatever the names' slots
// (many collide in 64) and lengths (found by their words up to 16
// bytes), past maxTypes (the rest are "other").
func TestCounter(t *testing.T) {
	var c counter
	want := map[string]uint64{}
	for i := 0; i < 5000; i++ {
		j := (i * 7919) % (maxTypes + 20)
		name := fmt.Sprintf("T%d", j) + strings.Repeat("_", j%19) // 2 to 21 bytes
		c.inc([]byte(name))
		if _, ok := want[name]; !ok && len(want) >= maxTypes {
			name = "other"
		}
		want[name]++
	}
	got := c.snapshot()
	if len(got) != len(want) {
		t.Fatalf("%d names, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d", k, got[k], v)
		}
	}
}
