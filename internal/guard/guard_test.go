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
