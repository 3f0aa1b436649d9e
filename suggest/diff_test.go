package suggest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

func TestDiffLines(t *testing.T) {
	tests := []struct {
		name, old, new string
	}{
		{"new file", "", "a\nb\n"},
		{"identical", "a\nb\n", "a\nb\n"},
		{"append", "a\nb\n", "a\nb\nc\n"},
		{"remove middle", "a\nb\nc\n", "a\nc\n"},
		{"no newline at end of old", "a\nb", "a\nb\n"},
		{"no newline at end of new", "a\nb\n", "a\nb"},
		{"two hunks", strings.Repeat("x\n", 3) + "a\n" + strings.Repeat("y\n", 10) + "b\n", strings.Repeat("x\n", 3) + "A\n" + strings.Repeat("y\n", 10) + "B\n"},
		{"replace all", "a\nb\nc\n", "d\ne\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			writeUnified(&out, "/etc/x.conf", tc.old, tc.new, tc.old != "")
			if tc.old == tc.new {
				if !strings.Contains(out.String(), "is up to date") {
					t.Errorf("identical files: got %q", out.String())
				}
				return
			}
			// The real patch(1) must turn old into new.
			dir := t.TempDir()
			file := filepath.Join(dir, "etc", "x.conf")
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.old != "" {
				if err := os.WriteFile(file, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("patch", "-p1", "-s", "-d", dir)
			cmd.Stdin = bytes.NewReader(out.Bytes())
			if msg, err := cmd.CombinedOutput(); err != nil {
				if _, lerr := exec.LookPath("patch"); lerr != nil {
					testutil.Unavailable(t, "patch(1) not installed (scripts/setup.sh installs it)")
				}
				t.Fatalf("patch: %v: %s\ndiff:\n%s", err, msg, out.String())
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.new {
				t.Errorf("patched file = %q, want %q\ndiff:\n%s", got, tc.new, out.String())
			}
		})
	}
}

func TestRenderDiffNotApplicable(t *testing.T) {
	s := Compute(aggregate(t, den("unknown", "socket", "kill_process")), nil, Options{Table: testTable(t)})
	var out bytes.Buffer
	if err := RenderDiff(&out, s, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "---") || !strings.HasPrefix(out.String(), "# ") {
		t.Errorf("diff of a pseudo-unit = %q, want one comment", out.String())
	}
}

func TestCarryOver(t *testing.T) {
	s := Compute(aggregate(t, den("app.service", "socket", "kill_process")), allowList("read"), Options{Table: testTable(t)})
	cur := map[string]string{s.Path: "[Service]\nSystemCallFilter=pkey_free\nSystemCallFilter=socket\n[Unit]\nDescription=x\n"}
	got := CarryOver(s, cur)
	if want := []string{"SystemCallFilter=pkey_free"}; strings.Join(got.Kept, "|") != strings.Join(want, "|") {
		t.Errorf("Kept = %q, want %q", got.Kept, want)
	}
	if !containsSub(got.Warnings, "[Unit] Description=x") {
		t.Errorf("warnings = %q, want one about [Unit]", got.Warnings)
	}
	// Idempotent: the API carries over, and RenderDiff does it again.
	if again := CarryOver(got, cur); !reflect.DeepEqual(again, got) {
		t.Errorf("CarryOver twice: Kept %q Warnings %q, once: Kept %q Warnings %q", again.Kept, again.Warnings, got.Kept, got.Warnings)
	}
	bad := map[string]string{s.Path: "[Service\n"}
	if once, twice := CarryOver(s, bad), CarryOver(CarryOver(s, bad), bad); len(once.Warnings) == len(s.Warnings) || !reflect.DeepEqual(once, twice) {
		t.Errorf("unparsable drop-in: warnings once %q, twice %q", once.Warnings, twice.Warnings)
	}
	var buf bytes.Buffer
	if err := RenderDropin(&buf, got); err != nil {
		t.Fatal(err)
	}
	opts, err := parseUnit(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	var d []string
	for _, o := range opts {
		d = append(d, o.Name+"="+o.Value)
	}
	if want := "SystemCallFilter=pkey_free|SystemCallFilter=socket"; strings.Join(d, "|") != want {
		t.Errorf("options = %q, want %q", d, want)
	}
}

// A user's unit that shares a system unit's name gets the user path, and
// the system unit's policy is not applied to it.
func TestComputeUserUnit(t *testing.T) {
	u := aggregate(t, den("app.service", "socket", "kill_process", func(d *Denial) { d.UserUnit, d.UID = true, 1000 }))
	s := Compute(u, allowList("socket"), Options{Table: testTable(t)})
	if s.Path != "/etc/systemd/user/app.service.d/50-seccompwatch.conf" || s.Mode != "unknown" || !s.UserUnit || s.UID != 1000 {
		t.Fatalf("path %q mode %q user %v uid %d", s.Path, s.Mode, s.UserUnit, s.UID)
	}
	// The system unit's allow-list must not swallow socket, and with the
	// user unit's own configuration unknown nothing is active.
	if len(s.Lines) != 1 || s.Lines[0].Included || !containsSub(s.Notes, "user unit of uid 1000") {
		t.Errorf("lines %+v notes %q: want socket, not active", s.Lines, s.Notes)
	}
	var buf bytes.Buffer
	if err := RenderDropin(&buf, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "# User manager: user@1000.service") {
		t.Errorf("drop-in header:\n%s", buf.String())
	}
	var js bytes.Buffer
	if err := RenderJSON(&js, []Suggestion{s}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"user_uid": 1000`) {
		t.Errorf("JSON lacks user_uid:\n%s", js.String())
	}
}

// TestCarryOverKeepsEvidence: a grant carried over from the current
// drop-in keeps the evidence comments written above it, unchanged through
// any number of rewrites, and a hostile comment stays one comment line.
func TestCarryOverKeepsEvidence(t *testing.T) {
	tb := testTable(t)
	first := Compute(aggregate(t, den("app.service", "getcpu", "kill_process")), allowList("read"), Options{Table: tb})
	var buf bytes.Buffer
	if err := RenderDropin(&buf, first); err != nil {
		t.Fatal(err)
	}
	text := buf.String() + "#\n# operator's note \x1b[2J\\\nSystemCallFilter=pkey_free\n"
	// Later, getcpu is allowed (no denial) and pkey_alloc is denied.
	next := Compute(aggregate(t, den("app.service", "pkey_alloc", "kill_process")), allowList("read", "getcpu", "pkey_free"), Options{Table: tb})
	cur := map[string]string{next.Path: text}
	got := CarryOver(next, cur)
	if ev := got.KeptEvidence["SystemCallFilter=getcpu"]; len(ev) < 3 || !strings.HasPrefix(ev[0], "getcpu: count 1 (kill_process 1)") {
		t.Fatalf("evidence of getcpu = %q", ev)
	}
	var out bytes.Buffer
	if err := RenderDropin(&out, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "# getcpu: count 1 (kill_process 1)") || !strings.Contains(out.String(), "\nSystemCallFilter=getcpu\n") {
		t.Errorf("rewritten drop-in lost getcpu's evidence:\n%s", out.String())
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("an escape sequence reached the drop-in:\n%q", out.String())
	}
	opts, err := parseUnit(out.String())
	if err != nil {
		t.Fatal(err)
	}
	var d []string
	for _, o := range opts {
		d = append(d, o.Name+"="+o.Value)
	}
	if want := "SystemCallFilter=getcpu|SystemCallFilter=pkey_free|SystemCallFilter=pkey_alloc"; strings.Join(d, "|") != want {
		t.Errorf("options = %q, want %q", d, want)
	}
	// A rewrite of the rewrite keeps the same text.
	again := CarryOver(Compute(aggregate(t, den("app.service", "pkey_alloc", "kill_process")), allowList("read", "getcpu", "pkey_free"), Options{Table: tb}),
		map[string]string{next.Path: out.String()})
	var out2 bytes.Buffer
	if err := RenderDropin(&out2, again); err != nil {
		t.Fatal(err)
	}
	if out2.String() != out.String() {
		t.Errorf("second rewrite differs:\n%s\n---\n%s", out.String(), out2.String())
	}
}
