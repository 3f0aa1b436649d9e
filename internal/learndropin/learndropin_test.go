package learndropin

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// deadOwner returns the owner line of a process that has exited (a child
// that ran and was reaped), as a crashed learn's file would name it.
func deadOwner(t *testing.T) Owner {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, err := startTime(pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		start = 1 // exited before it was read: any start time is dead too
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	return Owner{PID: pid, Start: start, Boot: self.Boot}
}

func TestParse(t *testing.T) {
	o := Owner{PID: 42, Start: 123456, Boot: "0b1c-d"}
	good := Content("app.service", o)
	for _, tc := range []struct {
		name, unit, content string
		ok                  bool
	}{
		{"exact", "app.service", good, true},
		{"another unit's content", "other.service", good, false},
		{"edited after", "app.service", good + "Environment=X=1\n", false},
		{"edited directive", "app.service", strings.Replace(good, "~@system-service", "~@mount", 1), false},
		{"marker only", "app.service", Marker + "\n[Service]\nSystemCallFilter=\n", false},
		{"v1 marker", "app.service", strings.Replace(good, "v2", "v1", 1), false},
		{"bad pid", "app.service", strings.Replace(good, "pid 42", "pid -1", 1), false},
		{"empty", "app.service", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse(tc.unit, tc.content)
			if ok != tc.ok {
				t.Fatalf("Parse: ok %v, want %v", ok, tc.ok)
			}
			if ok && got != o {
				t.Errorf("owner %+v, want %+v", got, o)
			}
		})
	}
}

func TestAlive(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if !self.Alive() {
		t.Error("this process is not alive")
	}
	for name, o := range map[string]Owner{
		"exited":      deadOwner(t),
		"pid reused":  {PID: self.PID, Start: self.Start + 1, Boot: self.Boot},
		"other boot":  {PID: self.PID, Start: self.Start, Boot: "not-this-boot"},
		"no such pid": {PID: 1 << 30, Start: 1, Boot: self.Boot},
	} {
		if o.Alive() {
			t.Errorf("%s: %+v alive", name, o)
		}
	}
}

// TestClean: only exact learning drop-ins whose learn is gone are removed
// (their directory too when empty); a running learn's, a hand-edited one
// and other files stay.
func TestClean(t *testing.T) {
	root := t.TempDir()
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := deadOwner(t)
	files := map[string]string{
		"crashed.service.d/zz-seccompwatch-learn.conf":   Content("crashed.service", dead),
		"crashed2.service.d/zzz-seccompwatch-learn.conf": Content("crashed2.service", dead),
		"crashed2.service.d/10-other.conf":               "[Service]\nEnvironment=A=1\n",
		"running.service.d/zz-seccompwatch-learn.conf":   Content("running.service", self),
		"edited.service.d/zz-seccompwatch-learn.conf":    Content("edited.service", dead) + "Nice=5\n",
		"moved.service.d/zz-seccompwatch-learn.conf":     Content("other.service", dead),
	}
	for p, c := range files {
		path := filepath.Join(root, Dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	found := Clean(root)
	removed := Removed(found)
	want := []string{
		filepath.Join(root, Dir, "crashed.service.d/zz-seccompwatch-learn.conf"),
		filepath.Join(root, Dir, "crashed2.service.d/zzz-seccompwatch-learn.conf"),
	}
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if len(found) != 3 {
		t.Errorf("found %d learning drop-ins, want 3 (two leftovers, one running): %+v", len(found), found)
	}
	for p := range files {
		_, err := os.Stat(filepath.Join(root, Dir, p))
		gone := err != nil
		if gone != slices.Contains(want, filepath.Join(root, Dir, p)) {
			t.Errorf("%s: gone %v", p, gone)
		}
	}
	if _, err := os.Stat(filepath.Join(root, Dir, "crashed.service.d")); err == nil {
		t.Error("crashed.service.d is left empty")
	}
	if _, err := os.Stat(filepath.Join(root, Dir, "crashed2.service.d/10-other.conf")); err != nil {
		t.Error("another drop-in in the same directory was removed")
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		dropIns []string
		want    string
	}{
		{nil, "zz-seccompwatch-learn.conf"},
		{[]string{"/etc/systemd/system/a.service.d/10-x.conf"}, "zz-seccompwatch-learn.conf"},
		{[]string{"/etc/systemd/system/a.service.d/zz-z.conf"}, "zzz-seccompwatch-learn.conf"},
		{[]string{"/run/systemd/system/a.service.d/zz-seccompwatch-learn.conf"}, "zz-seccompwatch-learn.conf"},
	} {
		if got := Name(tc.dropIns); got != tc.want {
			t.Errorf("Name(%v) = %s, want %s", tc.dropIns, got, tc.want)
		}
	}
}
