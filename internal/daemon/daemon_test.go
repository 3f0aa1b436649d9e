package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/logging"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

func TestMain(m *testing.M) {
	denier.MaybeRun()
	code := m.Run()
	if testBinaries.dir != "" {
		os.RemoveAll(testBinaries.dir)
	}
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "audit netlink (CAP_AUDIT_READ), cgroups, seccomp helper")
}

// unitCgroups creates a unit-shaped cgroup in every hierarchy this host
// has and removes it after the test.
func unitCgroups(t *testing.T, slice, unit string) []string {
	t.Helper()
	dirs, remove, err := denier.UnitCgroups(slice, unit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	return dirs
}

type running struct {
	d      *Daemon
	url    string
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	keep    func(*event.Event) bool // which events mine keeps (watch)
	mine    []event.Event
	tooMany bool
}

// maxKept bounds what a watch keeps: a filter matching more is too wide.
const maxKept = 100000

// watch keeps, from now on, every event the daemon publishes that keep
// matches (the test's own: its units, its pids), however many other
// denials the host makes meanwhile: the recent ring holds the last 1000
// of everyone's, and a neighbour's burst pushes a test's records out.
func (r *running) watch(keep func(*event.Event) bool) {
	r.mu.Lock()
	r.keep = keep
	r.mu.Unlock()
}

func (r *running) tap(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keep == nil || !r.keep(&e) {
		return
	}
	if len(r.mine) >= maxKept {
		r.tooMany = true
		return
	}
	r.mine = append(r.mine, e)
}

// kept returns the watched events that match, oldest first.
func (r *running) kept(t *testing.T, match func(*event.Event) bool) []event.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tooMany {
		t.Fatalf("the watch kept more than %d events: its filter matches other processes' denials", maxKept)
	}
	var out []event.Event
	for i := range r.mine {
		if match(&r.mine[i]) {
			out = append(out, r.mine[i])
		}
	}
	return out
}

// waitKept waits until the watched events hold n that match and returns
// them.
func (r *running) waitKept(t *testing.T, n int, match func(*event.Event) bool) []event.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.kept(t, match)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d watched events within 10s", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	cfg.UnitsRoot = t.TempDir()
	return startWithRoot(t, cfg)
}

// startWithRoot starts a daemon whose unit files are under cfg.UnitsRoot.
func startWithRoot(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = "127.0.0.1:0"
	}
	if cfg.AuditMode == "" {
		cfg.AuditMode = auditstream.ModeMulticast
	}
	if cfg.DBusAddress == "" {
		cfg.DBusAddress = "none"
	}
	cfg.SystemdTable = "252"
	cfg.RecentDenials = 1000
	log, err := logging.New("console", "warn")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	d.tap = r.tap
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if a := d.Addr(); a != "" {
			r.url = "http://" + a
			if resp, err := http.Get(r.url + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return r
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("daemon did not become healthy")
	return nil
}

func (r *running) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("daemon did not stop within 10s")
	}
}

func (r *running) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitMetric polls /metrics until a line starts with prefix and returns it.
func (r *running) waitMetric(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(r.get(t, "/metrics"), "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no metric %s within 10s; denials seen:\n%s", prefix, grep(r.get(t, "/metrics"), "seccompwatch_denials_total"))
	return ""
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// deny runs a denier helper in the unit's cgroups and waits for it.
func deny(t *testing.T, spec denier.Spec) *os.ProcessState {
	t.Helper()
	cmd, err := denier.Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("helper: %v %s", err, out)
	}
	if cmd.ProcessState.ExitCode() == 3 {
		t.Fatalf("helper could not set up: %s", out)
	}
	return cmd.ProcessState
}

type denialCase struct {
	name, action, syscall string
	spec                  denier.Spec
	count                 int
	risky                 bool
	signaled              bool
}

var cases = []denialCase{
	{name: "kill-process", action: "kill_process", syscall: "swapoff", risky: true, count: 1, signaled: true,
		spec: denier.Spec{Syscall: "swapoff", Action: "kill_process"}},
	{name: "kill-thread", action: "kill_thread", syscall: "arch_prctl", count: 1, signaled: true,
		spec: denier.Spec{Syscall: "arch_prctl", Action: "kill_thread", Exec: "/bin/true"}},
	{name: "errno", action: "errno", syscall: "getcpu", count: 3,
		spec: denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: 3}},
	{name: "log", action: "log", syscall: "sysinfo", count: 2,
		spec: denier.Spec{Syscall: "sysinfo", Action: "log", Count: 2}},
	{name: "trap", action: "trap", syscall: "arch_prctl", count: 1, signaled: true,
		spec: denier.Spec{Syscall: "arch_prctl", Action: "trap", Log: true, Exec: "/bin/true"}},
}

// TestLiveDenials makes real denials of every action in unit-shaped
// cgroups and checks them through the public surfaces: /metrics, the API
// and the event stream, each attributed to the right unit.
func TestLiveDenials(t *testing.T) {
	requireRoot(t)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	r := start(t, Config{EventsFile: events})
	slice := fmt.Sprintf("swtest-%d.slice", os.Getpid())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			unit := "sw-" + c.name + ".service"
			spec := c.spec
			spec.Cgroups = unitCgroups(t, slice, unit)
			ps := deny(t, spec)
			exited := time.Now()
			if ws := ps.Sys().(syscall.WaitStatus); c.signaled != (ws.Signaled() && ws.Signal() == syscall.SIGSYS) {
				t.Fatalf("helper ended with %v", ws)
			}
			want := fmt.Sprintf(`seccompwatch_denials_total{action=%q,arch="x86_64",machine="",risky="%t",syscall=%q,unit=%q} %d`,
				c.action, c.risky, c.syscall, unit, c.count)
			// The records of one helper arrive one by one: wait for the
			// count, not for the first.
			got := r.waitMetric(t, want[:strings.LastIndexByte(want, ' ')])
			for deadline := time.Now().Add(5 * time.Second); got != want && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				got = r.waitMetric(t, want[:strings.LastIndexByte(want, ' ')])
			}
			if got != want {
				t.Fatalf("metric = %s, want %s", got, want)
			}
			t.Logf("%s visible in /metrics %v after the helper exited", c.name, time.Since(exited))

			var doc struct {
				Suggestions []struct {
					Unit  string `json:"unit"`
					Lines []struct {
						Syscalls []string `json:"syscalls"`
						Included bool     `json:"included"`
						Risky    bool     `json:"risky"`
					} `json:"lines"`
				} `json:"suggestions"`
			}
			body := r.get(t, "/api/v1/suggestions/"+unit)
			if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Suggestions) != 1 {
				t.Fatalf("suggestion JSON: %v: %s", err, body)
			}
			sugg := doc.Suggestions
			found := false
			for _, l := range sugg[0].Lines {
				for _, s := range l.Syscalls {
					if s == c.syscall {
						found = true
						// The unit has no unit file: its configuration
						// is unknown, so no line is active.
						if l.Risky != c.risky || l.Included {
							t.Errorf("line %+v: risky/included wrong", l)
						}
					}
				}
			}
			if !found {
				t.Errorf("suggestion for %s lacks %s: %s", unit, c.syscall, body)
			}
			dropin := r.get(t, "/api/v1/suggestions/"+unit+"?format=dropin")
			directive := "\n# SystemCallFilter=" + c.syscall + "\n"
			if !strings.Contains(dropin, directive) {
				t.Errorf("drop-in lacks %q:\n%s", directive, dropin)
			}
		})
	}
	problems, err := promlint.New(strings.NewReader(r.get(t, "/metrics"))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "seccompwatch_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	r.stop(t)
	// The event stream has every record, each with its unit.
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Unit, Syscall, Action, Attribution string
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		if strings.HasPrefix(e.Unit, "sw-") {
			seen[e.Unit+" "+e.Action+" "+e.Syscall]++
			if e.Attribution != "bpf" {
				t.Errorf("event %+v attributed by %q, want bpf", e, e.Attribution)
			}
		}
	}
	for _, c := range cases {
		k := "sw-" + c.name + ".service " + c.action + " " + c.syscall
		if seen[k] != c.count {
			t.Errorf("events for %s: %d, want %d", k, seen[k], c.count)
		}
	}
}

// TestUnicastRestoresAuditState runs the daemon as the audit daemon, sees a
// denial, stops, and checks the kernel audit state is what it was.
func TestUnicastRestoresAuditState(t *testing.T) {
	requireRoot(t)
	before, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if before.PID != 0 {
		testutil.Unavailable(t, fmt.Sprintf("an audit daemon (pid %d) is registered: unicast would be refused", before.PID))
	}
	r := start(t, Config{AuditMode: auditstream.ModeUnicast, BacklogLimit: 4321})
	during, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if during.PID != uint32(os.Getpid()) || during.BacklogLimit != 4321 {
		t.Fatalf("unicast not registered: %+v", during)
	}
	unit := "sw-unicast.service"
	deny(t, denier.Spec{Syscall: "swapoff", Action: "kill_process", Cgroups: unitCgroups(t, fmt.Sprintf("swtest-u%d.slice", os.Getpid()), unit)})
	r.waitMetric(t, fmt.Sprintf(`seccompwatch_denials_total{action="kill_process",arch="x86_64",machine="",risky="true",syscall="swapoff",unit=%q}`, unit))
	r.stop(t)
	after, err := auditstream.ReadAuditState()
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("audit state after = %+v, before = %+v", after, before)
	}
}

// TestFallbackWithoutBPF checks that with BPF disabled the daemon says so
// (healthz, metric), attributes every denial of a process that still runs
// by /proc, and never names a wrong unit for one that is gone.
func TestFallbackWithoutBPF(t *testing.T) {
	requireRoot(t)
	r := start(t, Config{DisableBPF: true})
	if got := r.waitMetric(t, `seccompwatch_attribution_mode{mode="proc"}`); !strings.HasSuffix(got, " 1") {
		t.Fatalf("attribution mode metric: %s", got)
	}
	if h := r.get(t, "/healthz"); !strings.Contains(h, `"status": "proc"`) {
		t.Fatalf("healthz does not report the fallback: %s", h)
	}
	slice := fmt.Sprintf("swtest-f%d.slice", os.Getpid())
	// Alive while its records are read: each one is the unit's, by proc.
	live := fmt.Sprintf("sw-fallback-live-%d.service", os.Getpid())
	gone := fmt.Sprintf("sw-fallback-gone-%d.service", os.Getpid())
	self, _ := os.Executable()
	truePath, _ := filepath.EvalSymlinks("/bin/true") // as the kernel reports it
	// The helpers' records, whatever unit they were given.
	r.watch(func(e *event.Event) bool {
		return e.Unit == live || e.Unit == gone ||
			(e.Exe == self && e.SyscallName == "getcpu") || (e.Exe == truePath && e.SyscallName == "arch_prctl")
	})
	cmd, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: 5, Linger: 30 * time.Second,
		Cgroups: unitCgroups(t, slice, live)})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	want := fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q} 5`, live)
	got := r.waitMetric(t, want[:strings.LastIndexByte(want, ' ')])
	for deadline := time.Now().Add(10 * time.Second); got != want && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = r.waitMetric(t, want[:strings.LastIndexByte(want, ' ')])
	}
	if got != want {
		t.Errorf("metric %s, want %s", got, want)
	}
	helper := func(e *event.Event) bool { return e.PID == cmd.Process.Pid }
	r.waitKept(t, 5, helper)
	for _, e := range r.kept(t, helper) {
		if e.Unit != live || e.Method != "proc" {
			t.Errorf("denial of the running helper: unit %q method %q reason %q, want %s by proc", e.Unit, e.Method, e.Reason, live)
		}
	}
	if n := len(r.kept(t, helper)); n != 5 {
		t.Errorf("%d denials of the running helper, want 5", n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// Killed at once: its unit, or unknown, never another unit.
	ps := deny(t, denier.Spec{Syscall: "arch_prctl", Action: "kill_process", Exec: "/bin/true", Cgroups: unitCgroups(t, slice, gone)})
	pid := ps.Pid()
	for _, e := range r.waitKept(t, 1, func(e *event.Event) bool { return e.PID == pid && e.SyscallName == "arch_prctl" }) {
		if e.Unit != gone && e.Unit != event.UnknownUnit {
			t.Errorf("denial of a reaped helper attributed to %q (%s)", e.Unit, e.Method)
		}
		t.Logf("reaped helper: unit %q, attribution %q%s", e.Unit, e.Method, e.Reason)
	}
}

// TestStateSurvivesRestart checks that aggregated denials are persisted on
// stop and restored on start.
func TestStateSurvivesRestart(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	r := start(t, Config{StateDir: dir})
	unit := "sw-state.service"
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: 1,
		Cgroups: unitCgroups(t, fmt.Sprintf("swtest-s%d.slice", os.Getpid()), unit)})
	r.waitMetric(t, fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q}`, unit))
	r.stop(t)
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		t.Fatalf("no state file: %v", err)
	}
	r2 := start(t, Config{StateDir: dir})
	if body := r2.get(t, "/api/v1/suggestions/"+unit+"?format=dropin"); !strings.Contains(body, "SystemCallFilter=getcpu") {
		t.Fatalf("restored suggestion lacks getcpu:\n%s", body)
	}
}

// TestServiceProtocol runs the daemon under a real notify socket, as
// systemd would with Type=notify and WatchdogSec=, and checks READY=1,
// STATUS= and WATCHDOG=1.
func TestServiceProtocol(t *testing.T) {
	requireRoot(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "400000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	start(t, Config{})
	seen := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) && (seen["READY"] == "" || seen["STATUS"] == "" || seen["WATCHDOG"] == "") {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				seen[k] = v
			}
		}
	}
	if seen["READY"] != "1" || seen["WATCHDOG"] != "1" || !strings.HasPrefix(seen["STATUS"], "multicast: ") {
		t.Fatalf("notifications: %v", seen)
	}
}

// TestEventsReopenOnSIGHUP rotates the event file as logrotate would and
// checks that the daemon writes to the new file after SIGHUP.
func TestEventsReopenOnSIGHUP(t *testing.T) {
	requireRoot(t)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	r := start(t, Config{EventsFile: events})
	slice := fmt.Sprintf("swtest-h%d.slice", os.Getpid())
	unit := "sw-hup.service"
	cgs := unitCgroups(t, slice, unit)
	metric := fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q}`, unit)
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: cgs})
	r.waitMetric(t, metric+" 1")
	if err := os.Rename(events, events+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(events); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("event file not reopened after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: cgs})
	r.waitMetric(t, metric+" 2")
	r.stop(t)
	for path, want := range map[string]int{events + ".1": 1, events: 1} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(b), `"unit":"`+unit+`"`); got != want {
			t.Errorf("%s has %d events of %s, want %d", path, got, unit, want)
		}
	}
}

// TestExeFallback: a record of a process nothing knows about (reaped, BPF
// off) is attributed by exe only when exactly one unit runs that binary
// and that unit confirms it: it has a live process with the record's uid
// and auid. A real denial by another user running the unit's binary stays
// unknown, with the unit as candidate_unit; two units running the exe
// give no candidate; and a known fact ("not in a unit") is never
// overridden by the exe.
func TestExeFallback(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	dir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	write := func(name, exe string) {
		body := "[Service]\nExecStart=" + exe + " --serve\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	truePath, _ := filepath.EvalSymlinks("/bin/true") // as the kernel reports it
	only := fmt.Sprintf("sw-only-%d.service", os.Getpid())
	write(only, truePath)
	write("one.service", self)
	write("two.service", self)
	cfg := Config{DisableBPF: true}
	cfg.UnitsRoot = root
	r := startWithRoot(t, cfg)
	slice := fmt.Sprintf("swtest-x%d.slice", os.Getpid())
	// A cgroup that is no unit's: the helpers' "outside every unit",
	// whatever cgroup the test itself runs in (on a login host a
	// session-N.scope, which is a unit).
	plain := unitCgroups(t, slice, "not-a-unit")

	// sleeper starts /bin/sleep in cgroups and waits until it runs there.
	sleeper := func(cgroups []string, where string) *exec.Cmd {
		t.Helper()
		cmd, err := denier.Command(denier.Spec{Syscall: "swapoff", Action: "errno", Exec: "/bin/sleep", Args: []string{"30"}, Cgroups: cgroups})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
			c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
			if strings.HasPrefix(string(b), "/bin/sleep") && strings.Contains(string(c), where) {
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("/bin/sleep not running in %s", where)
			}
		}
	}
	// The unit runs: a process of it as root (the test's uid and auid).
	sleeper(unitCgroups(t, slice, only), only)
	// A live process in no unit.
	outside := sleeper(plain, "not-a-unit")

	// realDenial makes /bin/true be killed for arch_prctl as uid, outside
	// every unit, and returns its event once the daemon has it (the
	// process is reaped by then). Its record is kept by pid: other
	// processes' denials meanwhile neither push it out nor are taken for it.
	r.watch(func(e *event.Event) bool { return e.Exe == truePath && e.SyscallName == "arch_prctl" })
	realDenial := func(uid int) event.Event {
		t.Helper()
		cmd, err := denier.Command(denier.Spec{Syscall: "arch_prctl", Action: "kill_process", Exec: truePath, UID: uid, Cgroups: plain})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := cmd.CombinedOutput(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() == 3 {
			t.Fatalf("helper: %v %s", err, out)
		}
		e := r.waitKept(t, 1, func(e *event.Event) bool { return e.PID == cmd.Process.Pid })[0]
		if e.UID.N != uint32(uid) || e.Exe != truePath {
			t.Fatalf("record uid %v exe %q, want %d %s", e.UID, e.Exe, uid, truePath)
		}
		// Live, the daemon saw it alive (not in a unit) or gone.
		if e.Unit != event.UnknownUnit && (uid != 0 || e.Unit != only) {
			t.Errorf("uid %d: live event attributed to %q (%s)", uid, e.Unit, e.Method)
		}
		return e
	}
	other, same := realDenial(65534), realDenial(0)

	// A daemon that never saw those processes alive (no /proc history):
	// all it has is the records. It is not Run, so that no read loop
	// handles other denials of the host while the test calls attribute:
	// the exe caches belong to one goroutine (the loop's, or here the
	// test's), and calling attribute beside a running loop raced on them.
	idle := newIdle(t, cfg)
	gone := exec.Command("/bin/true") // a pid that is gone: a child that ran and was reaped
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		rec               auditstream.Record
		unit, method      string
		reason, candidate string
	}{
		{"gone, another user ran the unit's exe", other.Record, "unknown", "", "pid_gone", only},
		{"gone, the unit's user ran its exe", same.Record, only, MethodExe, "", ""},
		{"gone, two units run the exe", auditstream.Record{PID: gone.Process.Pid, Exe: self}, "unknown", "", "pid_gone", ""},
		{"gone, exe unknown", auditstream.Record{PID: gone.Process.Pid, ExeUnknown: true}, "unknown", "", "pid_gone", ""},
		{"alive and not in a unit", auditstream.Record{PID: outside.Process.Pid, Exe: truePath}, "unknown", "", "not_in_unit", ""},
	} {
		ev := event.Event{Unit: event.UnknownUnit}
		idle.attribute(&ev, &tc.rec)
		if ev.Unit != tc.unit || ev.Method != tc.method || ev.Reason != tc.reason || ev.CandidateUnit != tc.candidate {
			t.Errorf("%s: unit %q method %q reason %q candidate %q, want %q %q %q %q", tc.name,
				ev.Unit, ev.Method, ev.Reason, ev.CandidateUnit, tc.unit, tc.method, tc.reason, tc.candidate)
		}
	}
	if got := gathered(t, idle, "seccompwatch_attributions_total", `method="exe"`); got != 1 {
		t.Errorf("exe attributions: %v, want 1", got)
	}
}

// newIdle returns a daemon made by New and never Run: no read loop, no
// server; Close is the test's cleanup.
func newIdle(t *testing.T, cfg Config) *Daemon {
	t.Helper()
	cfg.DBusAddress, cfg.SystemdTable = "none", "252"
	log, err := logging.New("console", "warn")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.attr.Close() })
	return d
}

// gathered returns the value of the series of name whose labels include
// label (k="v"), from the daemon's registry as /metrics would serve it.
func gathered(t *testing.T, d *Daemon, name, label string) float64 {
	t.Helper()
	k, v, _ := strings.Cut(label, "=")
	v = strings.Trim(v, `"`)
	mfs, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

// TestUnattributedExes: denials from two binaries in a cgroup that is not
// a unit's become two pseudo-units, which /metrics reports as one "unknown"
// series (two would make the scrape fail) and the API lists apart.
func TestUnattributedExes(t *testing.T) {
	requireRoot(t)
	r := start(t, Config{DisableBPF: true})
	plain := unitCgroups(t, fmt.Sprintf("swtest-%d.slice", os.Getpid()), "not-a-unit")
	self, _ := os.Executable()
	truePath, _ := filepath.EvalSymlinks("/bin/true")
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: plain})
	deny(t, denier.Spec{Syscall: "arch_prctl", Action: "kill_thread", Exec: "/bin/true", Cgroups: plain})
	for _, sc := range []string{"getcpu", "arch_prctl"} {
		r.waitMetric(t, fmt.Sprintf(`seccompwatch_denials_total{action=%q,arch="x86_64",machine="",risky="false",syscall=%q,unit="unknown"}`,
			map[string]string{"getcpu": "errno", "arch_prctl": "kill_thread"}[sc], sc))
	}
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	var lines, last []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, `seccompwatch_suggested_syscalls{machine="",unit="unknown"} `) {
			lines = append(lines, l)
		}
		if strings.HasPrefix(l, `seccompwatch_last_denial_timestamp_seconds{machine="",unit="unknown"} `) {
			last = append(last, l)
		}
	}
	// One series for both pseudo-units; a pseudo-unit's suggestion is
	// never applicable, so it adds nothing (0).
	if len(lines) != 1 || !strings.HasSuffix(lines[0], " 0") || len(last) != 1 {
		t.Errorf("unknown gauges: %q %q, want one series each, suggesting 0", lines, last)
	}
	api := r.get(t, "/api/v1/suggestions")
	for _, exe := range []string{self, truePath} {
		if !strings.Contains(api, `"unit": "unattributed:`+exe+`"`) {
			t.Errorf("suggestions lack unattributed:%s:\n%s", exe, api)
		}
	}
}

// TestSuggestionKeepsCurrentDropin: what the API serves may replace the
// unit's 50-seccompwatch.conf, so it keeps the grants already there (they
// no longer show up as denials) in every format, not only in the diff.
func TestSuggestionKeepsCurrentDropin(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	unit := fmt.Sprintf("sw-carry-%d.service", os.Getpid())
	dir := filepath.Join(root, "etc/systemd/system")
	self, _ := os.Executable()
	for name, body := range map[string]string{
		unit:                             "[Service]\nExecStart=" + self + "\nSystemCallFilter=read write\nSystemCallErrorNumber=EPERM\n",
		unit + ".d/50-seccompwatch.conf": "[Service]\nSystemCallFilter=sysinfo\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := startWithRoot(t, Config{UnitsRoot: root})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: unitCgroups(t, fmt.Sprintf("swtest-%d.slice", os.Getpid()), unit)})
	r.waitMetric(t, fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q}`, unit))

	dropin := r.get(t, "/api/v1/suggestions/"+unit+"?format=dropin")
	var active []string
	for _, l := range strings.Split(dropin, "\n") {
		if strings.HasPrefix(l, "SystemCallFilter=") {
			active = append(active, l)
		}
	}
	if strings.Join(active, "|") != "SystemCallFilter=sysinfo|SystemCallFilter=getcpu" {
		t.Errorf("drop-in directives %q, want the current sysinfo kept and getcpu added:\n%s", active, dropin)
	}
	for _, path := range []string{"/api/v1/suggestions/" + unit, "/api/v1/suggestions"} {
		if body := r.get(t, path); !strings.Contains(body, `"SystemCallFilter=sysinfo"`) {
			t.Errorf("%s does not keep SystemCallFilter=sysinfo:\n%s", path, body)
		}
	}
	diff := r.get(t, "/api/v1/suggestions/"+unit+"?format=diff")
	if strings.Count(diff, "SystemCallFilter=sysinfo") != 1 || !strings.Contains(diff, "+SystemCallFilter=getcpu") {
		t.Errorf("diff:\n%s", diff)
	}
}

// removeParents removes, when the test ends, the directories of path
// (relative to each cgroup mount) that do not exist yet: unitCgroups
// creates them and removes only the slice and the unit.
func removeParents(t *testing.T, path string) {
	var made []string
	for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"} {
		for p := path; p != "."; p = filepath.Dir(p) {
			if _, err := os.Stat(filepath.Join(root, p)); os.IsNotExist(err) {
				made = append(made, filepath.Join(root, p)) // deepest first
			}
		}
	}
	// Registered before unitCgroups' cleanup: runs after it.
	t.Cleanup(func() {
		for _, d := range made {
			_ = os.Remove(d)
		}
	})
}

// TestForgedContainerUnit: anyone with a delegated cgroup subtree can
// build payload/system.slice/sshd.service in it, the shape of a
// container's unit. Only machine.slice holds containers: the denial is the
// subtree owner's, never the system's sshd.service, in /metrics, the API
// and the event stream.
func TestForgedContainerUnit(t *testing.T) {
	requireRoot(t)
	const uid = 4243
	pid := os.Getpid()
	for _, tc := range []struct {
		name, slice, unit   string
		wantUnit, wantLabel string
	}{
		{"user manager", fmt.Sprintf("user.slice/user-%d.slice/user@%d.service/x%d/payload/system.slice", uid, uid, pid), "sshd.service",
			fmt.Sprintf("user@%d.service", uid), fmt.Sprintf("user@%d.service", uid)},
		{"user unit", fmt.Sprintf("user.slice/user-%d.slice/user@%d.service/app.slice/own%d.service/payload/system.slice", uid, uid, pid), "sshd.service",
			fmt.Sprintf("user@%d.service/own%d.service", uid, pid), fmt.Sprintf("user@%d.service/own%d.service", uid, pid)},
		{"delegated service", fmt.Sprintf("swtest-%d.slice/build.service/payload/system.slice", pid), "sshd.service",
			"build.service", "build.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			removeParents(t, tc.slice)
			r := start(t, Config{})
			// By reference (a user's unit as user@UID.service/NAME), as
			// /api/v1/denials?unit= matches it.
			mine := func(e *event.Event) bool {
				return metricUnit(e.Unit, e.UserUnit, e.UserUID) == tc.wantUnit || e.Unit == tc.unit
			}
			r.watch(mine)
			deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: unitCgroups(t, tc.slice, tc.unit)})
			want := fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q} 1`, tc.wantLabel)
			if got := r.waitMetric(t, want[:strings.LastIndexByte(want, ' ')]); got != want {
				t.Errorf("metric %s, want %s", got, want)
			}
			m := r.get(t, "/metrics")
			if strings.Contains(m, `unit="sshd.service"`) {
				t.Errorf("a forged sshd.service in /metrics:\n%s", grep(m, `unit="sshd.service"`))
			}
			// Its event, kept by the watch: the recent ring behind
			// /api/v1/denials holds everyone's last 1000, which other
			// processes' denials on a busy host push it out of.
			for _, e := range r.waitKept(t, 1, mine) {
				if ref := metricUnit(e.Unit, e.UserUnit, e.UserUID); ref != tc.wantUnit || e.Machine != "" {
					t.Errorf("denial of unit %q machine %q, want %s on the host", ref, e.Machine, tc.wantUnit)
				}
			}
		})
	}
}

// TestUserUnitIsNotTheSystemUnit: a user's unit may carry a system unit's
// name (anyone can create user@UID.service/app.slice/sshd.service in their
// own subtree). Its denials must not count, alert or suggest for the
// system unit.
func TestUserUnitIsNotTheSystemUnit(t *testing.T) {
	requireRoot(t)
	const uid = 4242
	unit := fmt.Sprintf("sw-user-%d.service", os.Getpid())
	userSlice := fmt.Sprintf("user.slice/user-%d.slice/user@%d.service/app.slice", uid, uid)
	removeParents(t, userSlice)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	r := start(t, Config{EventsFile: events})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: unitCgroups(t, userSlice, unit)})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Cgroups: unitCgroups(t, fmt.Sprintf("swtest-%d.slice", os.Getpid()), unit)})

	for _, label := range []string{unit, fmt.Sprintf("user@%d.service/%s", uid, unit)} {
		want := fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q} 1`, label)
		if got := r.waitMetric(t, want[:strings.LastIndexByte(want, ' ')]); got != want {
			t.Errorf("metric %s, want %s", got, want)
		}
	}
	var doc struct {
		Suggestions []struct {
			Unit    string  `json:"unit"`
			UserUID *int    `json:"user_uid"`
			Path    *string `json:"path"`
		} `json:"suggestions"`
	}
	body := r.get(t, "/api/v1/suggestions")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	var system, user int
	for _, s := range doc.Suggestions {
		switch {
		case s.Unit != unit:
		case s.UserUID == nil && s.Path != nil && *s.Path == "/etc/systemd/system/"+unit+".d/50-seccompwatch.conf":
			system++
		case s.UserUID != nil && *s.UserUID == uid && s.Path != nil && *s.Path == "/etc/systemd/user/"+unit+".d/50-seccompwatch.conf":
			user++
		default:
			t.Errorf("suggestion %+v", s)
		}
	}
	if system != 1 || user != 1 {
		t.Errorf("%d system and %d user suggestions for %s, want one each:\n%s", system, user, unit, body)
	}
	// The API's single-unit answer is the system unit's; the user unit is
	// asked for by its reference, as its metrics label it.
	if one := r.get(t, "/api/v1/suggestions/"+unit+"?format=dropin"); strings.Contains(one, "User manager") {
		t.Errorf("/api/v1/suggestions/%s served the user unit:\n%s", unit, one)
	}
	userRef := fmt.Sprintf("user@%d.service/%s", uid, unit)
	if one := r.get(t, "/api/v1/suggestions/"+url.PathEscape(userRef)+"?format=dropin"); !strings.Contains(one, fmt.Sprintf("User manager: user@%d.service", uid)) {
		t.Errorf("/api/v1/suggestions/%s did not serve the user unit:\n%s", userRef, one)
	}
	for ref, wantUID := range map[string]string{unit: "null", userRef: strconv.Itoa(uid)} {
		var doc struct {
			Denials []struct {
				UserUID *int `json:"user_uid"`
			}
		}
		body := r.get(t, "/api/v1/denials?unit="+url.QueryEscape(ref))
		if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Denials) == 0 {
			t.Fatalf("denials of %s: %v %s", ref, err, body)
		}
		for _, d := range doc.Denials {
			if got := "null"; d.UserUID != nil {
				got = strconv.Itoa(*d.UserUID)
				if got != wantUID {
					t.Errorf("denials of %s: a denial of user %s", ref, got)
				}
			} else if wantUID != "null" {
				t.Errorf("denials of %s: a system unit's denial", ref)
			}
		}
	}
	// Each has its verdict series, under its own label (no unit files,
	// no D-Bus here: the configuration is unknown).
	for _, label := range []string{unit, userRef} {
		r.waitMetric(t, fmt.Sprintf(`seccompwatch_denial_verdict{action="errno",arch="x86_64",directive="",machine="",syscall="getcpu",unit=%q,verdict="unknown"} 1`, label))
	}
	var text string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(events)
		if text = string(b); strings.Count(text, `"unit":"`+unit+`"`) >= 2 {
			break
		}
	}
	var uids []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var ev struct {
			Unit    string `json:"unit"`
			UserUID *int   `json:"user_uid"`
		}
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Unit == unit {
			if ev.UserUID == nil {
				uids = append(uids, "null")
			} else {
				uids = append(uids, strconv.Itoa(*ev.UserUID))
			}
		}
	}
	if strings.Join(uids, ",") != "4242,null" {
		t.Errorf("event user_uid values %v, want [4242 null]", uids)
	}
}
