package daemon

import (
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/unitprops"
)

// TestMatchMainPID: the ExecMainPID fallback's decision over what systemd
// reports (the D-Bus side runs for real in the VM suite, scenario
// 75-loop-mainpid: here the pids of a container's systemd are not the
// records' pids, so the services are given as data).
func TestMatchMainPID(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	killed := func(unit string, pid int, exit time.Duration) unitprops.MainProcess {
		return unitprops.MainProcess{Unit: unit, PID: pid, Code: unitprops.CLDKilled, Status: 31, Exit: at.Add(exit)}
	}
	dumped := killed("a.service", 42, 3*time.Millisecond)
	dumped.Code = unitprops.CLDDumped
	exited := killed("a.service", 42, time.Millisecond)
	exited.Code, exited.Status = unitprops.CLDExited, 31 // exit(31), not SIGSYS
	term := killed("a.service", 42, time.Millisecond)
	term.Status = 15
	running := unitprops.MainProcess{Unit: "a.service", PID: 42}
	for _, tc := range []struct {
		name string
		ms   []unitprops.MainProcess
		at   time.Time
		want string
	}{
		{"killed by SIGSYS just after the record", []unitprops.MainProcess{killed("a.service", 42, 2*time.Millisecond)}, at, "a.service"},
		{"core dumped", []unitprops.MainProcess{dumped}, at, "a.service"},
		{"exit seen within the clock slack before", []unitprops.MainProcess{killed("a.service", 42, -500*time.Millisecond)}, at, "a.service"},
		{"nothing", nil, at, ""},
		{"another pid", []unitprops.MainProcess{killed("a.service", 43, time.Millisecond)}, at, ""},
		{"exited with status 31", []unitprops.MainProcess{exited}, at, ""},
		{"killed by another signal", []unitprops.MainProcess{term}, at, ""},
		{"still running", []unitprops.MainProcess{running}, at, ""},
		{"an older exit: a reused pid", []unitprops.MainProcess{killed("a.service", 42, -time.Minute)}, at, ""},
		{"an exit long after the record", []unitprops.MainProcess{killed("a.service", 42, time.Minute)}, at, ""},
		{"two services: a guess", []unitprops.MainProcess{killed("a.service", 42, time.Millisecond), killed("b.service", 42, 2*time.Millisecond)}, at, ""},
		{"one of two fits", []unitprops.MainProcess{killed("a.service", 42, -time.Hour), killed("b.service", 42, 2*time.Millisecond)}, at, "b.service"},
		{"a record without time", []unitprops.MainProcess{killed("a.service", 42, time.Millisecond)}, time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := matchMainPID(tc.ms, 42, tc.at)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("matchMainPID = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
