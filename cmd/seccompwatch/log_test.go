package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
	// On a busy host (more than 10 new pairs a second of other units),
	// the logger's sampler may drop a line: that is the rate limit, and
	// it is counted.
	sampled := ""
	if resp, err := http.Get("http://127.0.0.1:" + port + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := regexp.MustCompile(`(?m)^seccompwatch_log_lines_sampled_out_total (\S+)$`).FindStringSubmatch(string(b)); m != nil {
			sampled = m[1]
		}
	}
	stop()
	got := count()
	for _, sc := range []string{"getcpu", "sched_getattr"} {
		if n := got[sc]; n > 1 || n == 0 && (sampled == "0" || sampled == "") {
			b, _ := os.ReadFile(logf)
			t.Errorf("%d new-denial lines for %s (log lines sampled out: %s), want 1\n%s", n, sc, sampled, b)
		}
	}
	if len(got) > 2 {
		t.Errorf("new-denial lines for other syscalls of the unit: %v", got)
	}
}

// TestRuntimeSettings: `run` puts the daemon's Go code on one CPU
// (--runtime.procs=1) and collects at 25% heap growth
// (--memory.gc-percent=25) under a 24 MiB memory limit at start
// (--memory.limit, which follows the live heap: internal/memlimit), as
// its "starting" line says from the runtime itself, unless GOMAXPROCS,
// GOGC or GOMEMLIMIT is set, which wins.
func TestRuntimeSettings(t *testing.T) {
	type settings struct{ Gomaxprocs, Gogc, Gomemlimit uint64 }
	const dflt = 24 << 20
	none := uint64(1<<63 - 1) // the runtime's "no limit"
	for _, tc := range []struct {
		env, flag string
		want      settings
	}{
		{"", "", settings{1, 25, dflt}},
		{"GOMAXPROCS=3", "", settings{3, 25, dflt}},
		{"GOGC=50", "--runtime.procs=2", settings{2, 50, dflt}},
		{"", "--memory.limit=64MiB", settings{1, 25, 64 << 20}},
		{"", "--memory.limit=0", settings{1, 25, none}},
		{"GOMEMLIMIT=32MiB", "--memory.gc-percent=40", settings{1, 40, 32 << 20}},
	} {
		args := []string{"run", "--web.listen-address=127.0.0.1:0", "--state.dir=", "--dbus.address=none",
			"--units.root=" + t.TempDir(), "--log.format=json", "--systemd.table=252"}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		cmd := command(t, nil, args...)
		// The test's own settings, if any, are not the daemon's.
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
			return strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=")
		})
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var got *settings
		for sc.Scan() {
			var l struct {
				Msg string
				settings
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "starting" {
				got = &l.settings
				break
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		go io.Copy(io.Discard, out)
		_ = cmd.Wait()
		if got == nil || *got != tc.want {
			t.Errorf("env %q, flag %q: %+v, want %+v", tc.env, tc.flag, got, tc.want)
		}
	}
}
