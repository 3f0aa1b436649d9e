package denier

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	MaybeRun()
	os.Exit(m.Run())
}

// TestKillProcess checks that a child with a kill_process filter really dies
// of SIGSYS at its denied call.
func TestKillProcess(t *testing.T) {
	cmd, err := Command(Spec{Syscall: "swapoff", Action: "kill_process"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child did not fail: %v, %s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child ended with %v, want SIGSYS; output %s", ws, out)
	}
}

// TestExecKilled checks the exec mode: the program is killed by the filter
// installed before exec.
func TestExecKilled(t *testing.T) {
	cmd, err := Command(Spec{Syscall: "arch_prctl", Action: "kill_process", Exec: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGSYS {
		t.Fatalf("exec'd program not killed by SIGSYS: %v", err)
	}
}

// TestLogSurvives checks that a log action lets the child finish.
func TestLogSurvives(t *testing.T) {
	cmd, err := Command(Spec{Syscall: "getcpu", Action: "log", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child failed: %v %s", err, out)
	}
}
