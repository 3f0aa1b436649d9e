package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

var update = flag.Bool("update", false, "update golden files")

const (
	sample = "../../auditstream/testdata/sample.log"
	root   = "../../testdata/sample-root"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update after checking the change):\n%s", name, path, got)
	}
}

// TestSample runs the bundled sample through the CLI, as the README's first
// command does, and compares every output form with its golden file.
func TestSample(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"replay-text", []string{"replay", "--root", root, "--systemd.table", "252", sample}},
		{"replay-jsonl", []string{"replay", "--root", root, "--systemd.table", "252", "--output", "jsonl", sample}},
		{"replay-unit-flag", []string{"replay", "--unit", "demo.service", "--systemd.table", "252", "--output", "jsonl", sample}},
		{"suggest-dropin", []string{"suggest", "--replay", sample, "--root", root, "--systemd.table", "252"}},
		// The checklist unit's real records (TestContainerVerdicts, systemd 252).
		{"suggest-checklist", []string{"suggest", "--replay", "../../testdata/checklist.log", "--root", "../../testdata/checklist-root", "--systemd.table", "252"}},
		{"suggest-checklist-allow", []string{"suggest", "--replay", "../../testdata/checklist.log", "--root", "../../testdata/checklist-root", "--systemd.table", "252",
			"--allow", "MemoryDenyWriteExecute", "--allow", "ProtectClock", "--allow-risky"}},
		{"why-checklist", []string{"why", "--replay", "../../testdata/checklist.log", "--root", "../../testdata/checklist-root", "--systemd.table", "252", "checklist"}},
		{"why-webapp-socket", []string{"why", "--replay", sample, "--root", root, "--systemd.table", "252", "webapp.service", "socket"}},
		{"suggest-diff", []string{"suggest", "--replay", sample, "--root", root, "--systemd.table", "252", "--format", "diff"}},
		{"suggest-json", []string{"suggest", "--replay", sample, "--root", root, "--systemd.table", "252", "--format", "json"}},
		{"suggest-allow-risky", []string{"suggest", "--replay", sample, "--root", root, "--systemd.table", "252", "--allow-risky"}},
		{"suggest-unattributed", []string{"suggest", "--replay", sample, "--root", t.TempDir(), "--systemd.table", "256"}},
		{"explain-socket", []string{"explain", "--systemd.table", "252", "--output", "json", "socket"}},
		{"explain-number", []string{"explain", "--systemd.table", "252", "x86_64", "165"}},
		{"explain-group", []string{"explain", "--systemd.table", "256", "@mount"}},
		{"explain-nested", []string{"explain", "--systemd.table", "252", "@System-Service"}},
		{"explain-several", []string{"explain", "--systemd.table", "252", "Socket", "bind", "x86_64", "165"}},
		{"explain-several-jsonl", []string{"explain", "--systemd.table", "252", "--output", "jsonl", "socket", "@mount"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr %s", code, errs)
			}
			golden(t, tc.name, out)
		})
	}
}

func TestReplayStdin(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, string(data), "replay", "--output", "jsonl", "--systemd.table", "252", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d records from stdin, want 11", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["file"] != "-" {
		t.Fatalf("first record %v (%v)", rec, err)
	}
	if !strings.Contains(errs, "replay: 11 SECCOMP records in 33 lines") {
		t.Errorf("summary missing: %q", errs)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"replay", "/nonexistent/audit.log"}, ExitError, "no such file"},
		{[]string{"explain", "nosuchcall"}, ExitUsage, "unknown syscall"},
		{[]string{"explain", "sockett"}, ExitUsage, `unknown syscall "sockett"; did you mean socket?`},
		{[]string{"explain", "--systemd.table", "252", "@mont"}, ExitUsage, `unknown group "@mont" in bundled systemd 252; did you mean @mount?`},
		{[]string{"explain", "socket", "bindd"}, ExitUsage, `unknown syscall "bindd"; did you mean bind?`},
		{[]string{"explain", "x86_64"}, ExitUsage, "x86_64 needs a syscall number after it"},
		{[]string{"explain", "vax", "1"}, ExitUsage, "unknown arch"},
		{[]string{"explain", "x86_64", "99999"}, ExitError, "no syscall number"},
		{[]string{"explain", "@nosuchgroup"}, ExitUsage, "unknown group"},
		{[]string{"suggest", "--replay", sample, "--unit", "../../etc/passwd"}, ExitUsage, "invalid unit name"},
		{[]string{"suggest", "--server", "http://127.0.0.1:1", "x.service"}, ExitError, "cannot reach the daemon at http://127.0.0.1:1 (connection refused)"},
		{[]string{"suggest", "--server", "127.0.0.1:1", "x.service"}, ExitUsage, `--server: "127.0.0.1:1" is not a URL such as http://127.0.0.1:9872`},
		{[]string{"denials", "--server", "http://127.0.0.1:1"}, ExitError, "cannot reach the daemon at http://127.0.0.1:1 (connection refused)"},
		{[]string{"denials", "--unit", "a/b"}, ExitUsage, `--unit: invalid unit name "a/b.service": character '/' is not allowed`},
		{[]string{"replay", "/nonexistent/audit.log"}, ExitError, "seccompwatch replay: cannot open /nonexistent/audit.log: no such file or directory\n"},
		{[]string{"replay", "."}, ExitError, "seccompwatch replay: cannot open .: is a directory\n"},
		{[]string{"replay", "--unit", "@x", "/dev/null"}, ExitUsage, `seccompwatch replay: --unit: invalid unit name "@x.service": it starts with '@'` + "\n"},
		{[]string{"bogus"}, ExitUsage, "expected command"},
		{[]string{"suggest", "--unit", "x.service"}, ExitUsage, "--unit works with --replay"},
		{[]string{"suggest", "--out-dir", "/tmp/x", "x.service"}, ExitUsage, "--out-dir works with --replay"},
		{[]string{"suggest", "--machine", "web"}, ExitUsage, "--machine needs a UNIT"},
		{[]string{"suggest", "--machine", "../x", "x.service"}, ExitUsage, "not a machine name"},
		{[]string{"explain", "--systemd.table", "1", "socket"}, ExitUsage, `seccompwatch explain: --systemd.table: no such systemd table "1" (choose auto, host or one of 252, 256)` + "\n"},
		{[]string{"replay", "--systemd.table", "999", "/dev/null"}, ExitUsage, "no such systemd table"},
		{[]string{"suggest", "--replay", "/dev/null", "--systemd.table", "x"}, ExitUsage, "no such systemd table"},
	} {
		code, _, errs := run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d containing %q", tc.args, code, errs, tc.code, tc.stderr)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") > 0 && tc.code != ExitOK {
			t.Errorf("%v: error is not one line: %q", tc.args, errs)
		}
	}
}

// TestExplainNativeNumber: a number alone is one of the host's own ABI.
func TestExplainNativeNumber(t *testing.T) {
	arch := pipeline.NativeArch()
	code, alone, errs := run(t, "", "explain", "--systemd.table", "252", "41")
	if code != 0 {
		t.Fatalf("explain 41: exit %d: %s", code, errs)
	}
	_, pair, _ := run(t, "", "explain", "--systemd.table", "252", arch.String(), "41")
	if alone != pair || alone == "" {
		t.Errorf("explain 41:\n%s\nexplain %s 41:\n%s", alone, arch, pair)
	}
	name, _ := syscalls.Name(arch, 41)
	if !strings.HasPrefix(alone, name+"\n") {
		t.Errorf("explain 41 on %s is not %s:\n%s", arch, name, alone)
	}
}

func TestOutDir(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "", "suggest", "--replay", sample, "--root", root, "--systemd.table", "252", "--out-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "etc/systemd/system/nginx.service.d/50-seccompwatch.conf"))
	if err != nil {
		t.Fatalf("%v; stdout %s", err, out)
	}
	if !strings.Contains(string(b), "\nSystemCallFilter=accept4\n") {
		t.Errorf("drop-in:\n%s", b)
	}
	// Nothing to install for journald (clone3 is noise): no file.
	if _, err := os.Stat(filepath.Join(dir, "etc/systemd/system/systemd-journald.service.d")); err == nil {
		t.Errorf("a drop-in was written for a unit with nothing to install")
	}
	if !strings.Contains(errs, "not written: systemd-journald.service (nothing to install") {
		t.Errorf("stderr: %s", errs)
	}
}

func TestHelpTeachesByExample(t *testing.T) {
	for _, cmd := range []string{"replay", "suggest", "explain", "run", "denials"} {
		code, out, _ := run(t, "", "help", cmd)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "seccompwatch "+cmd) {
			t.Errorf("help %s: exit %d, no examples:\n%s", cmd, code, out)
		}
	}
	code, out, _ := run(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "seccompwatch ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestReplayTextHostile: every value of a hostile record reaches the
// terminal escaped, also an interpreted syscall name (ausearch -i prints
// names; a forged log can hold any bytes there).
func TestReplayTextHostile(t *testing.T) {
	const in = "type=SECCOMP msg=audit(08/09/2025 14:22:10.314:88) : auid=unset uid=root gid=root ses=unset pid=1 comm=x exe=/x sig=SIGSYS arch=x86_64 syscall=a\xc2\x9b31m\x7f\x9b2J compat=0 ip=0x1 code=kill\n"
	code, out, errs := run(t, in, "replay", "--systemd.table", "252", "--unit", "a.service", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !utf8.ValidString(out) {
		t.Errorf("invalid UTF-8 in %q", out)
	}
	for _, r := range strings.TrimSuffix(out, "\n") {
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			t.Errorf("control character %U in %q", r, out)
		}
	}
}

// TestSuggestKeepsEarlierGrants: the unit already has a drop-in from an
// earlier suggestion at the proposed path. Every output that can be
// installed there (the drop-in text, --out-dir, the JSON "dropin") keeps its
// grants, as the diff does; installing it must not revoke them.
func TestSuggestKeepsEarlierGrants(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(dir, "etc/systemd/system/nginx.service.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "50-seccompwatch.conf"), []byte("[Service]\nSystemCallFilter=getrandom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"suggest", "--replay", sample, "--root", dir, "--systemd.table", "252", "--unit", "nginx.service"}
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		file string
	}{
		{"dropin", nil, ""},
		{"diff", []string{"--format", "diff"}, ""},
		{"json", []string{"--format", "json"}, ""},
		{"out-dir", []string{"--out-dir", out}, filepath.Join(out, "etc/systemd/system/nginx.service.d/50-seccompwatch.conf")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, errs := run(t, "", append(append([]string(nil), base...), tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			got := stdout
			if tc.file != "" {
				b, err := os.ReadFile(tc.file)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if tc.name == "json" {
				var doc struct{ Suggestions []struct{ Dropin string } }
				if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Suggestions) != 1 {
					t.Fatalf("json: %v", err)
				}
				got = doc.Suggestions[0].Dropin
			}
			wants := []string{"\nSystemCallFilter=getrandom\n", "\nSystemCallFilter=accept4\n"}
			if tc.name == "diff" {
				wants = []string{"\n SystemCallFilter=getrandom\n", "\n+SystemCallFilter=accept4\n"}
			}
			for _, want := range wants {
				if strings.Count(got, want) != 1 {
					t.Errorf("%q not exactly once in:\n%s", want, got)
				}
			}
		})
	}
}
