package guard

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGoRunsHooksOnPanic runs a panicking goroutine in a child process
// (the panic ends it) and checks the hook ran before the process died and
// the original panic was still printed.
func TestGoRunsHooksOnPanic(t *testing.T) {
	if os.Getenv("GUARD_CHILD") == "1" {
		OnPanic(func() { os.Stdout.WriteString("hook ran\n") })
		removed := OnPanic(func() { os.Stdout.WriteString("removed hook ran\n") })
		removed()
		OnPanic(func() { panic("a hook that panics") })
		Go(func() { panic("boom in a goroutine") })
		time.Sleep(10 * time.Second)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoRunsHooksOnPanic$")
	cmd.Env = append(os.Environ(), "GUARD_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child did not die of its panic:\n%s", out)
	}
	s := string(out)
	if !strings.Contains(s, "hook ran\n") {
		t.Errorf("hook did not run:\n%s", s)
	}
	if strings.Contains(s, "removed hook ran") {
		t.Errorf("a removed hook ran:\n%s", s)
	}
	if !strings.Contains(s, "panic: boom in a goroutine") {
		t.Errorf("original panic not printed:\n%s", s)
	}
}

func TestRecoverWithoutPanicIsQuiet(t *testing.T) {
	ran := false
	defer OnPanic(func() { ran = true })()
	func() {
		defer Recover()
	}()
	if ran {
		t.Fatal("hook ran without a panic")
	}
}

func TestFailpoint(t *testing.T) {
	old := failpoint
	defer func() { failpoint = old }()
	failpoint = "panic-in-x"
	Failpoint("panic-in-y") // not this one
	defer func() {
		if r := recover(); r != "failpoint panic-in-x" {
			t.Fatalf("recovered %v", r)
		}
	}()
	Failpoint("panic-in-x")
	t.Fatal("no panic")
}

// TestRecordFailpoint: with $SECCOMPWATCH_FAILPOINT_EXE set, a record
// failpoint fires only at a record of that binary (the test's helper),
// not at another process's denial on the same host.
func TestRecordFailpoint(t *testing.T) {
	defer func(fp, exe string) { failpoint, failpointExe = fp, exe }(failpoint, failpointExe)
	for _, tc := range []struct {
		failpoint, only, exe string
		want                 bool
	}{
		{"", "", "/bin/x", false},
		{"panic-on-record", "", "/bin/x", true},
		{"panic-on-record", "/tmp/helper", "/tmp/helper", true},
		{"panic-on-record", "/tmp/helper", "/usr/bin/neighbour", false},
		{"", "/tmp/helper", "/tmp/helper", false},
	} {
		failpoint, failpointExe = tc.failpoint, tc.only
		if got := RecordFailpoint(tc.exe); got != tc.want {
			t.Errorf("failpoint %q exe %q, record of %q: %v, want %v", tc.failpoint, tc.only, tc.exe, got, tc.want)
		}
	}
}
