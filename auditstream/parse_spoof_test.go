package auditstream

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// spoofOutcome is what one input must give: a record with these fields, or
// (reason != "") a malformed record counted under reason, at line 1.
type spoofOutcome struct {
	reason, field string
	pid           int
	uid, comm     string
	exe           string
	sig           int
	nr            int
}

// readOne replays input with the real Reader and returns its one record or
// its one malformed line.
func readOne(t *testing.T, input string) (Record, *LineError, Stats) {
	t.Helper()
	rd := NewReader(strings.NewReader(input), "in")
	rd.SetLocation(time.UTC)
	var recs []Record
	var errs []*LineError
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			errs = append(errs, le)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs)+len(errs) != 1 {
		t.Fatalf("%d records %v and %d errors %v, want one of either", len(recs), recs, len(errs), errs)
	}
	if len(errs) == 1 {
		return Record{}, errs[0], rd.Stats()
	}
	return recs[0], nil, rd.Stats()
}

func checkOutcome(t *testing.T, input string, want spoofOutcome) {
	t.Helper()
	r, le, st := readOne(t, input)
	if want.reason != "" {
		if le == nil {
			t.Fatalf("got a record (pid %d uid %s comm %q exe %q sig %d nr %d), want malformed %s", r.PID, r.UID, r.Comm, r.Exe, r.Signal, r.Syscall, want.reason)
		}
		var pe *ParseError
		if !errors.As(le, &pe) || pe.Reason != want.reason || (want.field != "" && pe.Field != want.field) || !errors.Is(le, ErrMalformed) {
			t.Fatalf("error %v, want reason %s (%s)", le, want.reason, want.field)
		}
		if le.Line != 1 || le.File != "in" {
			t.Errorf("error names %s:%d, want in:1", le.File, le.Line)
		}
		if st.Malformed[want.reason] != 1 || st.Seccomp != 0 {
			t.Errorf("stats %+v: malformed not counted", st)
		}
		return
	}
	if le != nil {
		t.Fatalf("error %v, want a record", le)
	}
	if r.PID != want.pid || r.UID.String() != want.uid || r.Comm != want.comm || r.Exe != want.exe || r.Signal != want.sig || r.Syscall != want.nr {
		t.Errorf("got pid %d uid %s comm %q exe %q sig %d nr %d\nwant pid %d uid %s comm %q exe %q sig %d nr %d",
			r.PID, r.UID, r.Comm, r.Exe, r.Signal, r.Syscall, want.pid, want.uid, want.comm, want.exe, want.sig, want.nr)
	}
}

// TestSpoofedInterpreted: ausearch -i prints comm and exe unquoted, so a
// process that names itself "a uid=root" or runs "/tmp/x syscall=mount"
// writes text that looks like keys. Values the kernel writes before comm
// cannot come after it; a key that would come twice makes the record
// malformed, never one with either value.
func TestSpoofedInterpreted(t *testing.T) {
	const pfx = "type=SECCOMP msg=audit(11/24/26 08:20:15.744:12) : auid=alice uid=alice gid=alice ses=3 pid=77 "
	const tail = " sig=SIG0 arch=x86_64 syscall=getppid compat=0 ip=0x1 code=log \n"
	tests := []struct {
		name, line string
		want       spoofOutcome
	}{
		{"plain", pfx + "comm=a exe=/usr/bin/a" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "a", exe: "/usr/bin/a", nr: 110}},
		{"comm uid=root", pfx + "comm=a uid=root exe=/usr/bin/a" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "a uid=root", exe: "/usr/bin/a", nr: 110}},
		{"comm pid=1", pfx + "comm=a pid=1 exe=/usr/bin/a" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "a pid=1", exe: "/usr/bin/a", nr: 110}},
		{"comm auid gid ses subj", pfx + "comm=x auid=0 gid=0 exe=/usr/bin/a" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "x auid=0 gid=0", exe: "/usr/bin/a", nr: 110}},
		{"comm sig=", pfx + "comm=a sig=SIGSYS exe=/usr/bin/a" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "a sig=SIGSYS", exe: "/usr/bin/a", nr: 110}},
		{"comm syscall=", pfx + "comm=a syscall=mount exe=/usr/bin/a" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "a syscall=mount", exe: "/usr/bin/a", nr: 110}},
		{"exe uid=root", pfx + "comm=a exe=/tmp/x uid=root pid=1" + tail, spoofOutcome{pid: 77, uid: "alice", comm: "a", exe: "/tmp/x uid=root pid=1", nr: 110}},
		{"comm exe= twice", pfx + "comm=a exe=/usr/sbin/sshd exe=/tmp/evil" + tail, spoofOutcome{reason: ReasonDuplicateKey, field: "exe"}},
		{"exe syscall=", pfx + "comm=a exe=/tmp/x syscall=mount" + tail, spoofOutcome{reason: ReasonDuplicateKey, field: "syscall"}},
		{"exe sig=", pfx + "comm=a exe=/tmp/x sig=SIGSYS" + tail, spoofOutcome{reason: ReasonDuplicateKey, field: "sig"}},
		{"exe code=", pfx + "comm=a exe=/tmp/x code=kill" + tail, spoofOutcome{reason: ReasonDuplicateKey, field: "code"}},
		{"uid after comm, twice", pfx + "comm=a exe=/usr/bin/a sig=SIG0 uid=root arch=x86_64 syscall=getppid compat=0 ip=0x1 code=log \n", spoofOutcome{reason: ReasonDuplicateKey, field: "uid"}},
		{"pid after comm only", "type=SECCOMP msg=audit(11/24/26 08:20:15.744:12) : auid=alice uid=alice gid=alice ses=3 comm=a exe=/usr/bin/a sig=SIG0 pid=1 arch=x86_64 syscall=getppid compat=0 ip=0x1 code=log \n", spoofOutcome{reason: ReasonMissingPID}},
		{"duplicate uid before comm", "type=SECCOMP msg=audit(11/24/26 08:20:15.744:12) : auid=alice uid=root uid=alice gid=alice ses=3 pid=77 comm=a exe=/usr/bin/a" + tail, spoofOutcome{reason: ReasonDuplicateKey, field: "uid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkOutcome(t, tc.line, tc.want)
		})
	}
}

// TestDuplicateKeysEveryShape: in every shape, a SECCOMP record with a key
// twice or a broken quote is malformed (counted, named, skipped).
func TestDuplicateKeysEveryShape(t *testing.T) {
	const body = `auid=1000 uid=1000 gid=1000 ses=3 pid=4242 comm="app" exe="/usr/bin/app" sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7ffc0000`
	ok := spoofOutcome{pid: 4242, uid: "1000", comm: "app", exe: "/usr/bin/app", nr: 110}
	bodies := []struct {
		name string
		body string
		want spoofOutcome
	}{
		{"clean", body, ok},
		{"pid twice", body + " pid=1", spoofOutcome{reason: ReasonDuplicateKey, field: "pid"}},
		{"uid twice", strings.Replace(body, "uid=1000 gid", "uid=0 uid=1000 gid", 1), spoofOutcome{reason: ReasonDuplicateKey, field: "uid"}},
		{"code twice", body + " code=0x80000000", spoofOutcome{reason: ReasonDuplicateKey, field: "code"}},
		{"comm twice", strings.Replace(body, `comm="app"`, `comm="sshd" comm="app"`, 1), spoofOutcome{reason: ReasonDuplicateKey, field: "comm"}},
		{"subj twice", strings.Replace(body, "pid=", "subj=a subj=b pid=", 1), spoofOutcome{reason: ReasonDuplicateKey, field: "subj"}},
		{"unknown key twice", strings.Replace(body, "pid=", "x_y=1 x_y=2 pid=", 1), spoofOutcome{reason: ReasonDuplicateKey, field: "other"}},
		{"quote not followed by blank", strings.Replace(body, `comm="app"`, `comm="app"x`, 1), spoofOutcome{reason: ReasonBadQuote}},
		{"quote closed by the next value", strings.Replace(body, `comm="app" exe="/usr/bin/app"`, `comm="app exe="/usr/bin/app"`, 1), spoofOutcome{reason: ReasonBadQuote}},
		{"quote inside a value", strings.Replace(body, "pid=", `subj=un"confined pid=`, 1), spoofOutcome{reason: ReasonBadQuote}},
		{"stray quote", strings.Replace(body, "pid=", `" pid=`, 1), spoofOutcome{reason: ReasonBadQuote}},
		{"unterminated quote", strings.Replace(body, `exe="/usr/bin/app"`, `exe="/usr/bin/app`, 1), spoofOutcome{reason: ReasonTruncated}},
	}
	jsonStr := func(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }
	shapes := []struct {
		name string
		wrap func(body string) string
	}{
		{"audit.log", func(b string) string { return "type=SECCOMP msg=audit(1700000000.006:106): " + b + "\n" }},
		{"enriched", func(b string) string {
			return "type=SECCOMP msg=audit(1700000000.006:106): " + b + "\x1dAUID=\"alice\" UID=\"alice\" GID=\"alice\" ARCH=x86_64 SYSCALL=getppid\n"
		}},
		{"ausearch --raw with node", func(b string) string { return "node=web1 type=SECCOMP msg=audit(1700000000.006:106): " + b + "\n" }},
		{"dmesg", func(b string) string { return "[  644.074588] audit: type=1326 audit(1700000000.006:106): " + b + "\n" }},
		{"syslog", func(b string) string {
			return "Nov 24 08:20:15 host kernel: [  644.074588] audit: type=1326 audit(1700000000.006:106): " + b + "\n"
		}},
		{"journal text", func(b string) string { return "Nov 24 08:20:15 host audit[4242]: SECCOMP " + b + "\n" }},
		{"journal viewer, comm as tag", func(b string) string { return "10:39:55 app: SECCOMP " + b + "\n" }},
		{"journalctl -o cat", func(b string) string { return "SECCOMP " + b + "\n" }},
		{"journal json", func(b string) string {
			return `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1326","_AUDIT_ID":"106","MESSAGE":"SECCOMP ` + jsonStr(b) + `"}` + "\n"
		}},
		{"journal export", func(b string) string {
			return "__CURSOR=s=1\n_TRANSPORT=audit\n_AUDIT_TYPE=1326\n_AUDIT_ID=106\nMESSAGE=SECCOMP " + b + "\n\n"
		}},
	}
	for _, sh := range shapes {
		for _, b := range bodies {
			t.Run(sh.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				checkOutcome(t, sh.wrap(b.body), b.want)
			})
		}
	}
	// the netlink body
	for _, b := range bodies {
		t.Run("netlink/"+b.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseKernel([]byte("audit(1700000000.006:106): " + b.body))
			if b.want.reason == "" {
				if err != nil || r.PID != b.want.pid || r.Comm != b.want.comm {
					t.Fatalf("%+v %v", r, err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != b.want.reason {
				t.Fatalf("got %+v, %v; want reason %s", r, err, b.want.reason)
			}
		})
	}
}

// TestDuplicateJournalFields: journalctl writes a field once (several
// values as one array); an entry with a field it reads given twice is a
// malformed SECCOMP record, whichever value the decoder would keep.
func TestDuplicateJournalFields(t *testing.T) {
	const msg = `SECCOMP auid=1000 uid=1000 gid=1000 ses=3 pid=4242 comm=\"app\" exe=\"/usr/bin/app\" sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7ffc0000`
	const evil = `SECCOMP auid=0 uid=0 gid=0 ses=3 pid=1 comm=\"sshd\" exe=\"/usr/sbin/sshd\" sig=0 arch=c000003e syscall=165 compat=0 ip=0x1 code=0x80000000`
	const exportMsg = "MESSAGE=SECCOMP auid=1000 uid=1000 gid=1000 ses=3 pid=4242 comm=\"app\" exe=\"/usr/bin/app\" sig=0 arch=c000003e syscall=110 compat=0 ip=0x1 code=0x7ffc0000\n"
	tests := []struct {
		name, input string
		want        spoofOutcome
	}{
		{"json clean", `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1326","MESSAGE":"` + msg + `"}`, spoofOutcome{pid: 4242, uid: "1000", comm: "app", exe: "/usr/bin/app", nr: 110}},
		{"json MESSAGE key twice", `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1326","MESSAGE":"` + msg + `","MESSAGE":"` + evil + `"}`, spoofOutcome{reason: ReasonDuplicateKey, field: "MESSAGE"}},
		{"json MESSAGE two values", `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1326","MESSAGE":["` + msg + `","` + evil + `"]}`, spoofOutcome{reason: ReasonDuplicateKey, field: "MESSAGE"}},
		{"json _AUDIT_ID key twice", `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1326","_AUDIT_ID":"1","_AUDIT_ID":"2","MESSAGE":"` + msg + `"}`, spoofOutcome{reason: ReasonDuplicateKey, field: "_AUDIT_ID"}},
		{"json _TRANSPORT two values", `{"_TRANSPORT":["journal","audit"],"_AUDIT_TYPE":"1326","MESSAGE":"` + msg + `"}`, spoofOutcome{reason: ReasonDuplicateKey, field: "_TRANSPORT"}},
		{"json _AUDIT_TYPE key twice", `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1326","_AUDIT_TYPE":"1300","MESSAGE":"` + msg + `"}`, spoofOutcome{reason: ReasonDuplicateKey, field: "_AUDIT_TYPE"}},
		{"json other key twice", `{"_TRANSPORT":"audit","_HOSTNAME":"a","_HOSTNAME":"b","_AUDIT_TYPE":"1326","MESSAGE":"` + msg + `"}`, spoofOutcome{reason: ReasonDuplicateKey, field: "other"}},
		{"export clean", "__CURSOR=s=1\n_TRANSPORT=audit\n_AUDIT_TYPE=1326\n" + exportMsg + "\n", spoofOutcome{pid: 4242, uid: "1000", comm: "app", exe: "/usr/bin/app", nr: 110}},
		{"export MESSAGE twice", "__CURSOR=s=1\n_TRANSPORT=audit\n_AUDIT_TYPE=1326\n" + exportMsg + strings.ReplaceAll("MESSAGE="+evil, `\"`, `"`) + "\n\n", spoofOutcome{reason: ReasonDuplicateKey, field: "MESSAGE"}},
		{"export _AUDIT_TYPE twice", "__CURSOR=s=1\n_TRANSPORT=audit\n_AUDIT_TYPE=1300\n_AUDIT_TYPE=1326\n" + exportMsg + "\n", spoofOutcome{reason: ReasonDuplicateKey, field: "_AUDIT_TYPE"}},
		{"export _TRANSPORT twice", "__CURSOR=s=1\n_TRANSPORT=audit\n_TRANSPORT=journal\n_AUDIT_TYPE=1326\n" + exportMsg + "\n", spoofOutcome{reason: ReasonDuplicateKey, field: "_TRANSPORT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.input
			if !strings.HasSuffix(in, "\n") {
				in += "\n"
			}
			checkOutcome(t, in, tc.want)
		})
	}
}

// TestHostileInterpretedMatchesRaw reads genuine `ausearch -i` output
// (auditd 3.0.9) of records whose comm and exe look like keys, and of
// riscv64 records, against the raw records it was made from: what it reads
// is what the kernel wrote, and what it cannot read without a guess is
// malformed, by reason.
func TestHostileInterpretedMatchesRaw(t *testing.T) {
	raw := readAll(t, "testdata/hostile_raw.log")
	interp := readAll(t, "testdata/ausearch_i_hostile.log")
	if len(raw.Errors) != 0 || len(raw.Records) != 10 {
		t.Fatalf("raw: %d records, errors %v", len(raw.Records), raw.Errors)
	}
	bySerial := map[uint64]goldenRecord{}
	for _, r := range raw.Records {
		bySerial[r.Serial] = r
	}
	for _, in := range interp.Records {
		r, ok := bySerial[in.Serial]
		if !ok {
			t.Errorf("interpreted serial %d not in raw", in.Serial)
			continue
		}
		if in.PID != r.PID || in.Comm != r.Comm || in.Exe != r.Exe || in.Arch != r.Arch || in.Syscall != r.Syscall || in.Signal != r.Signal || in.Time != r.Time {
			t.Errorf("serial %d: interpreted %+v\nraw %+v", in.Serial, in, r)
		}
	}
	want := []string{
		"ausearch_i_hostile.log:10: auditstream: malformed SECCOMP record: duplicate_key (syscall)", // exe "/tmp/x syscall=mount"
		"ausearch_i_hostile.log:12: auditstream: malformed SECCOMP record: duplicate_key (exe)",     // comm "x exe=/bin/sh"
		"ausearch_i_hostile.log:16: auditstream: malformed SECCOMP record: ambiguous (syscall)",     // riscv64 173 printed as x86_64's ioperm
		"ausearch_i_hostile.log:20: auditstream: malformed SECCOMP record: ambiguous (syscall)",     // riscv64 63 printed as x86_64's uname
	}
	if d := cmp.Diff(want, interp.Errors); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	if len(interp.Records)+len(want) != len(raw.Records) {
		t.Errorf("%d records + %d errors, want %d", len(interp.Records), len(want), len(raw.Records))
	}
}

// TestInterpretedUnknownMachine: where auparse did not know the machine it
// prints unknown-elf-type(ARCH); a number (unknown-syscall(N), or the bare
// number auparse prints on a machine it does not know either) is exact, a
// name is from ausearch's host table and is ambiguous.
func TestInterpretedUnknownMachine(t *testing.T) {
	const pfx = "type=SECCOMP msg=audit(11/24/26 08:20:15.744:12) : auid=unset uid=root gid=root ses=unset pid=1 comm=x exe=/x sig=SIG0 arch=unknown-elf-type(c00000f3) "
	tests := []struct {
		tail   string
		nr     int
		reason string
	}{
		{"syscall=173 compat=0 ip=0x1 code=log", 173, ""},
		{"syscall=unknown-syscall(600) compat=0 ip=0x1 code=log", 600, ""},
		{"syscall=ioperm compat=0 ip=0x1 code=log", 0, ReasonAmbiguous},
		{"syscall=getppid compat=0 ip=0x1 code=log", 0, ReasonAmbiguous},
	}
	for _, tc := range tests {
		r, ok, err := NewParser(time.UTC).ParseLine([]byte(pfx + tc.tail))
		if tc.reason != "" {
			var pe *ParseError
			if ok || !errors.As(err, &pe) || pe.Reason != tc.reason || pe.Field != "syscall" {
				t.Errorf("%s: ok=%v err=%v, want %s", tc.tail, ok, err, tc.reason)
			}
			continue
		}
		if !ok || err != nil || r.Arch != syscalls.ArchRISCV64 || r.Syscall != tc.nr || r.AuditArch != 0xc00000f3 {
			t.Errorf("%s: ok=%v err=%v arch %v nr %d", tc.tail, ok, err, r.Arch, r.Syscall)
		}
	}
}
