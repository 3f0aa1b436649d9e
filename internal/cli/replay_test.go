package cli

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/auditstream"
)

// TestReplayDefaultsToStdin: without a file, replay reads standard input
// when it is not a terminal, as `ausearch ... | seccompwatch replay` does.
func TestReplayDefaultsToStdin(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, string(data), "replay", "--systemd.table", "252")
	if code != 0 || strings.Count(out, "\n") != 11 || !strings.Contains(errs, "replay: 11 SECCOMP records in 33 lines") {
		t.Fatalf("exit %d, %d lines, stderr %q", code, strings.Count(out, "\n"), errs)
	}
}

// TestReplayTerminalStdin: on a terminal replay does not wait for typed
// input; it says what it needs (a real pseudo-terminal as stdin).
func TestReplayTerminalStdin(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	var out, errb bytes.Buffer
	code := Main([]string{"replay"}, pts, &out, &errb)
	if code != ExitUsage || errb.String() != "seccompwatch replay: replay needs an audit log to read: a FILE, or - for standard input\n" {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestReplayNotAnAuditLog: random bytes are no audit log, and replay says
// so instead of reporting 0 denials as if all were well.
func TestReplayNotAnAuditLog(t *testing.T) {
	junk := make([]byte, 8192)
	if _, err := rand.Read(junk); err != nil {
		t.Fatal(err)
	}
	// Not gzip's magic (then it would be a broken .gz), and no newline
	// at the end, so that the line count below is exact.
	junk[0], junk[len(junk)-1] = 'x', 'x'
	for _, args := range [][]string{{"replay", "-"}, {"suggest", "--replay", "-"}} {
		code, out, errs := run(t, string(junk), append(args, "--systemd.table", "252")...)
		if code != ExitError || out != "" || !strings.HasSuffix(errs, ": no audit records found in "+strconv.Itoa(bytes.Count(junk, []byte("\n"))+1)+" lines: is this an audit log?\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	// An audit log without SECCOMP records is an audit log.
	code, _, errs := run(t, "type=SERVICE_START msg=audit(1.000:1): pid=1 uid=0 msg='unit=a'\n", "replay", "--systemd.table", "252", "-")
	if code != 0 {
		t.Errorf("an audit log without denials: exit %d, %s", code, errs)
	}
}

// TestReplayNamesLongLine: a line too long to read is skipped by number,
// as the README promises for every skipped line.
func TestReplayNamesLongLine(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	in := "type=SECCOMP msg=audit(1.000:1): comm=\"" + strings.Repeat("x", auditstream.MaxLineLength) + "\"\n" + string(data)
	code, out, errs := run(t, in, "replay", "--systemd.table", "252", "-")
	want := "skipped -:1: line longer than " + strconv.Itoa(auditstream.MaxLineLength) + " bytes (line_too_long)\n"
	if code != 0 || strings.Count(out, "\n") != 11 || !strings.HasPrefix(errs, want) || !strings.Contains(errs, "skipped malformed: line_too_long 1") {
		t.Errorf("exit %d, stderr %q; want it to start %q", code, errs, want)
	}
}

// TestReplayBrokenGzip: a truncated or broken .gz is one sentence naming
// the file, without the reader's package and doubled context.
func TestReplayBrokenGzip(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	dir := t.TempDir()
	for name, content := range map[string][]byte{"trunc.log.gz": gz.Bytes()[:gz.Len()/2], "short.gz": {0x1f, 0x8b, 'x'}} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errs := run(t, "", "replay", "--systemd.table", "252", p)
		if want := "seccompwatch replay: cannot gunzip " + p + ": unexpected EOF\n"; code != ExitError || !strings.HasSuffix(errs, want) {
			t.Errorf("%s: exit %d, stderr %q; want it to end %q", name, code, errs, want)
		}
	}
}

// TestReplayOrderAcrossBatches: records are parsed by one goroutine and
// written by another in batches of replayBatch; the output keeps the
// input's order, and each malformed line is reported at its place, over
// many batches (and a writer error stops the reader).
func TestReplayOrderAcrossBatches(t *testing.T) {
	var in strings.Builder
	const n = 10*replayBatch + 17
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, "type=SECCOMP msg=audit(1613596317.%03d:%d): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=%d comm=\"ls\" exe=\"/bin/ls\" sig=0 arch=c000003e syscall=3 compat=0 ip=0x7f6cf8a8b1eb code=0x7ffc0000\n", i%1000, i, i)
		if i%(3*replayBatch) == 0 {
			fmt.Fprintf(&in, "type=SECCOMP msg=audit(1613596317.000:%d): pid=x\n", i)
		}
	}
	code, out, errs := run(t, in.String(), "replay", "--output", "jsonl", "--systemd.table", "252", "--root", t.TempDir(), "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d records, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`"serial":%d,`, i+1); !strings.Contains(l, want) {
			t.Fatalf("record %d is %s, want %s", i+1, l, want)
		}
	}
	var skipped []string
	for _, l := range strings.Split(errs, "\n") {
		if strings.HasPrefix(l, "skipped ") {
			skipped = append(skipped, l)
		}
	}
	if len(skipped) != n/(3*replayBatch) {
		t.Fatalf("skipped lines %q", skipped)
	}
	for k, l := range skipped {
		// the malformed line follows record i = 3*replayBatch*(k+1)
		at := 3*replayBatch*(k+1) + k + 1
		if !strings.Contains(l, fmt.Sprintf(":%d:", at)) {
			t.Errorf("skipped line %d is %q, want line %d", k, l, at)
		}
	}
	// a failing writer ends the replay with its error
	w := failAfter{n: 3}
	if code := Main([]string{"replay", "--output", "jsonl", "--systemd.table", "252", "-"}, strings.NewReader(in.String()), &w, io.Discard); code == 0 {
		t.Fatal("replay into a failing writer succeeded")
	}
}

// failAfter fails every Write after its first n.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}
