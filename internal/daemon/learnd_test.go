package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/seccompwatch/seccompwatch/internal/testutil/bpfids"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// learnLoop starts, in a unit-shaped cgroup2 cgroup of its own, a loop of
// the calls helper making socket(AF_NETLINK), pkey_alloc and adjtimex,
// and returns the cgroup.
func learnLoop(t *testing.T) string {
	t.Helper()
	mount, err := observe.Cgroup2Mount()
	if err != nil {
		testutil.Unavailable(t, err.Error())
	}
	dirs, remove, err := denier.UnitCgroups(fmt.Sprintf("swlearnd-%d.slice", os.Getpid()), "loop.service")
	if err != nil {
		t.Fatal(err)
	}
	var cg string
	for _, d := range dirs {
		if strings.HasPrefix(d, mount+"/") {
			cg = d
		}
	}
	if cg == "" {
		remove()
		t.Fatalf("no cgroup2 directory among %v", dirs)
	}
	cli, _ := buildTestBinaries(t)
	calls := filepath.Join(filepath.Dir(cli), "calls")
	fd, err := syscall.Open(cg, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		remove()
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	loop := exec.Command("/bin/sh", "-c", "while :; do "+calls+" socket pkey_alloc adjtimex >/dev/null; sleep 0.05; done")
	loop.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := loop.Start(); err != nil {
		remove()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = loop.Process.Kill()
		_ = loop.Wait()
		// The loop's last child may still be exiting.
		for range 100 {
			b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
			if len(strings.TrimSpace(string(b))) == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		remove()
	})
	return cg
}

// runningLearn waits until the daemon runs exactly one learn and returns
// its kernel ids (live: the check that they go can fail).
func runningLearn(t *testing.T, d *Daemon) bpfids.IDs {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if obs := d.learns.observers(); len(obs) == 1 {
			p, l, ms, err := obs[0].IDs()
			if err != nil {
				t.Fatal(err)
			}
			ids := bpfids.IDs{Prog: p, Link: l, Maps: ms}
			if left := bpfids.InKernel(t, ids); len(left) != 2+len(ms) {
				t.Fatalf("a running learn's program, link and maps are not all in the kernel's listing: %v", left)
			}
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not start the learn")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// learnGone waits until the kernel has freed ids (after an RCU grace
// period) and no learn runs in the daemon.
func learnGone(t *testing.T, d *Daemon, ids bpfids.IDs) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := bpfids.InKernel(t, ids)
		if n := len(d.learns.observers()); n > 0 {
			left = append(left, fmt.Sprintf("%d learn(s) in the daemon", n))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still there 10 s after the learn ended: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLearnInDaemon: the daemon's learn endpoint, on its unix socket only,
// learns a real process in a real cgroup (what it called and with which
// arguments), bounds the window and the number of learns, and frees the
// program and maps (the kernel's own listing) when the client goes away
// and when the daemon stops mid-learn.
func TestLearnInDaemon(t *testing.T) {
	requireRoot(t)
	cg := learnLoop(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	r := start(t, Config{UnixSocket: sock, LearnEnable: true, LearnMaxDuration: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q := func(window string) url.Values { return url.Values{"for": {window}, "cgroup": {cg}} }

	t.Run("learns", func(t *testing.T) {
		t0 := time.Now()
		body, err := apply.Learn(ctx, sock, "loop.service", q("2s"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("a 2 s learn in the daemon answered after %s with %d bytes", time.Since(t0).Round(time.Millisecond), len(body))
		var got LearnReply
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		o := got.Observation
		if got.Unit != "loop.service" || got.Cgroup != cg || got.WindowSeconds != 2 || got.Interrupted != "" {
			t.Errorf("reply: unit %q cgroup %q window %v interrupted %q", got.Unit, got.Cgroup, got.WindowSeconds, got.Interrupted)
		}
		if o.Calls == 0 || o.Processes < 3 {
			t.Errorf("calls %d, processes %d: the loop (sh, calls, sleep) was not seen", o.Calls, o.Processes)
		}
		for _, want := range []string{"pkey_alloc", "socket", "adjtimex", "wait4"} {
			if !slices.Contains(o.Syscalls["x86_64"], want) {
				t.Errorf("%s not among the calls seen: %v", want, o.Syscalls["x86_64"])
			}
		}
		var netlink, adjtimex bool
		for _, e := range o.Events {
			netlink = netlink || (e.Kind == observe.KindFamily && e.Syscall == "socket" && e.Value == 16)
			adjtimex = adjtimex || (e.Kind == observe.KindCall && e.Syscall == "adjtimex" && e.Count > 0)
		}
		if !netlink || !adjtimex {
			t.Errorf("events: socket(AF_NETLINK) %v, adjtimex counted %v: %+v", netlink, adjtimex, o.Events)
		}
		if got.Stats.EventsLost != 0 || got.Stats.ProcsLost != 0 {
			t.Errorf("lost: %+v", got.Stats)
		}
		if got.Stats.HostCalls < o.Calls {
			t.Errorf("the program ran for %d calls of the host, fewer than the unit's %d", got.Stats.HostCalls, o.Calls)
		}
	})

	t.Run("refused over TCP", func(t *testing.T) {
		resp, err := http.Post(r.url+"/api/v1/learn/loop.service?for=1s&cgroup="+url.QueryEscape(cg), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "only on the daemon's unix socket") {
			t.Errorf("%s: %s", resp.Status, b)
		}
		if n := len(r.d.learns.observers()); n != 0 {
			t.Errorf("%d learns running after a TCP request", n)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		for window, want := range map[string]string{"2m": "longer than the daemon's --learn.max-duration", "0s": "positive duration", "x": "positive duration"} {
			_, err := apply.Learn(ctx, sock, "loop.service", q(window))
			if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), want) {
				t.Errorf("for=%s: %v, want 400 %q", window, err, want)
			}
		}
		_, err := apply.Learn(ctx, sock, "loop.service", url.Values{"for": {"1s"}, "cgroup": {"/etc"}})
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("cgroup=/etc: %v, want 400", err)
		}
	})

	t.Run("client goes away", func(t *testing.T) {
		lctx, lcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := apply.Learn(lctx, sock, "loop.service", q("1m"))
			done <- err
		}()
		ids := runningLearn(t, r.d)
		// One learn at a time (--learn.max-concurrent 1).
		if _, err := apply.Learn(ctx, sock, "loop.service", q("1s")); err == nil || !strings.Contains(err.Error(), "429") {
			t.Errorf("a second learn: %v, want 429", err)
		}
		lcancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled learn: %v", err)
		}
		learnGone(t, r.d, ids)
	})

	t.Run("daemon stops", func(t *testing.T) {
		done := make(chan []byte, 1)
		go func() {
			body, err := apply.Learn(ctx, sock, "loop.service", q("1m"))
			if err != nil {
				t.Errorf("learn while the daemon stopped: %v", err)
			}
			done <- body
		}()
		ids := runningLearn(t, r.d)
		time.Sleep(500 * time.Millisecond)
		r.stop(t)
		body := <-done
		var got LearnReply
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		// What was seen so far comes with the answer (its content is the
		// subject of "learns"; the window here is short).
		if got.Interrupted != "daemon stopping" || got.WindowSeconds <= 0 || got.WindowSeconds >= 60 || got.Unit != "loop.service" {
			t.Errorf("reply: %s", body)
		}
		// The loop runs through the window: a learn that saw none of it is
		// wrong (host_calls tells a blind program from a dead loop).
		if got.Observation.Calls == 0 {
			procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
			t.Errorf("interrupted after %.3f s: no call of the loop seen (the program ran for %d calls of the host; the loop's cgroup holds %q)", got.WindowSeconds, got.Stats.HostCalls, procs)
		}
		t.Logf("interrupted after %.3f s: %d calls from %d processes, %d calls of the host", got.WindowSeconds, got.Observation.Calls, got.Observation.Processes, got.Stats.HostCalls)
		learnGone(t, r.d, ids)
	})
}

// TestLearnInDaemonOff: without --learn.enable the unix socket refuses
// learning, and nothing is loaded.
func TestLearnInDaemonOff(t *testing.T) {
	requireRoot(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	r := start(t, Config{UnixSocket: sock})
	_, err := apply.Learn(context.Background(), sock, "loop.service", url.Values{"for": {"1s"}, "cgroup": {"/sys/fs/cgroup"}})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "--learn.enable") {
		t.Errorf("learn with the flag off: %v", err)
	}
	if n := len(r.d.learns.observers()); n != 0 {
		t.Errorf("%d learns running", n)
	}
}
