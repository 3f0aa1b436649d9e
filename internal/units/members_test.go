package units

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

func TestParseStatusUID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"Name:\tsleep\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n", 1000, true},
		{"Uid:\t4294967294\t4294967294\t4294967294\t4294967294", 4294967294, true},
		{"Name:\tx\nGid:\t0\t0\t0\t0\n", 0, false},
		{"Uid:\t1000\t0\t0\n", 0, false},
		{"Uid:\t-1\t0\t0\t0\n", 0, false},
		{"Uid:\t4294967296\t0\t0\t0\n", 0, false},
		{"", 0, false},
	} {
		got, err := ParseStatusUID([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseStatusUID(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseStatusUID(f *testing.F) {
	f.Add([]byte("Name:\tsleep\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n"))
	f.Add([]byte("Uid:\t1\t2\t3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		uid, err := ParseStatusUID(b)
		if err != nil && uid != 0 {
			t.Fatalf("error %v with uid %d", err, uid)
		}
		if err == nil && !strings.Contains(string(b), "Uid:") {
			t.Fatalf("uid %d from %q without a Uid line", uid, b)
		}
	})
}

// TestUnitProcesses: a process in a system unit's cgroup, running as
// another user than the test, is listed with its real uid and login uid.
func TestUnitProcesses(t *testing.T) {
	slice := "swtestmem-" + strconv.Itoa(os.Getpid()) + ".slice"
	unit := fmt.Sprintf("sw-mem-%d.service", os.Getpid())
	cgs := unitCgroups(t, slice, unit)
	a, err := New(context.Background(), Options{DisableBPF: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cmd, err := denier.Command(denier.Spec{Syscall: "swapoff", Action: "errno", Exec: "/bin/sleep", Args: []string{"30"},
		Cgroups: dirsOf(cgs, unit), UID: 65534})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var got []Process
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = a.UnitProcesses(unit); err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].UID == 65534 {
			break
		}
	}
	self, err := os.ReadFile("/proc/self/loginuid")
	if err != nil {
		t.Fatal(err)
	}
	auid, _ := strconv.ParseUint(strings.TrimSpace(string(self)), 10, 32)
	if want := (Process{PID: cmd.Process.Pid, UID: 65534, AUID: uint32(auid)}); len(got) != 1 || got[0] != want {
		t.Fatalf("processes of %s: %+v, want [%+v]", unit, got, want)
	}
}

// BenchmarkUnitProcesses measures one look-up of a unit's processes (the
// exe fallback asks at most once a second per unit): the index walk and
// /proc reads of the unit's own processes only.
func BenchmarkUnitProcesses(b *testing.B) {
	slice := "swtestmemb-" + strconv.Itoa(os.Getpid()) + ".slice"
	unit := fmt.Sprintf("sw-memb-%d.service", os.Getpid())
	cgs := unitCgroups(b, slice, unit)
	a, err := New(context.Background(), Options{DisableBPF: true})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	cmd, err := denier.Command(denier.Spec{Syscall: "swapoff", Action: "errno", Exec: "/bin/sleep", Args: []string{"30"}, Cgroups: dirsOf(cgs, unit)})
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for range 500 {
		if p, _ := a.UnitProcesses(unit); len(p) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p, err := a.UnitProcesses(unit); err != nil || len(p) != 1 {
			b.Fatal(p, err)
		}
	}
}
