package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// TestNewDenialLogged runs the real daemon (multicast), makes real denials
// of two syscalls, three times each, in a unit-shaped cgroup, and reads its
// JSON log: one info line "new denial" per unit × syscall pair, not one
// per denial.
func TestNewDenialLogged(t *testing.T) {
	testutil.RequireRoot(t, "audit multicast, cgroups")
	port := freePort(t)
	cmd := command(t, nil, "run", "--web.listen-address=127.0.0.1:"+port, "--state.dir=", "--dbus.address=none",
		"--units.root="+t.TempDir(), "--log.level=info", "--log.format=json", "--systemd.table=252")
	logf := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	defer stop()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://127.0.0.1:" + port + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 15*time.Second {
			b, _ := os.ReadFile(logf)
			t.Fatalf("daemon not healthy within 15s:\n%s", b)
		}
	}
	unit := "sw-newlog.service"
	cgs, remove, err := denier.UnitCgroups(fmt.Sprintf("swtest-l%d.slice", os.Getpid()), unit)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	c, err := denier.Command(denier.Spec{Syscall: "getcpu", More: []string{"sched_getattr"}, Action: "errno", Log: true, Count: 3, Cgroups: cgs})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	count := func() map[string]int {
		b, _ := os.Open(logf)
		defer b.Close()
		got := map[string]int{}
		sc := bufio.NewScanner(b)
		for sc.Scan() {
			var l struct{ Level, Msg, Unit, Syscall, Action string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "new denial" && l.Unit == unit {
				if l.Level != "info" || l.Action != "errno" {
					t.Errorf("line %s", sc.Bytes())
				}
				got[l.Syscall]++
			}
		}
		return got
	}
	// All six records arrive, in order: wait for the /api/v1/denials ring.
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://127.0.0.1:" + port + "/api/v1/denials?unit=" + unit)
		if err != nil {
			continue
		}
		var doc struct{ Denials []json.RawMessage }
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if len(doc.Denials) >= 6 {
			break
		}
	}
	stop()
	if got := count(); got["getcpu"] != 1 || got["sched_getattr"] != 1 || len(got) != 2 {
		b, _ := os.ReadFile(logf)
		t.Errorf("new-denial lines per syscall = %v, want getcpu 1, sched_getattr 1\n%s", got, b)
	}
}
