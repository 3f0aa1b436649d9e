package deploy

import (
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
	"syscall"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/cli"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// TestMain lets the test binary be a denier child or the program itself
// (`seccompwatch run` in a process of its own, as Prometheus scrapes it in
// production).
func TestMain(m *testing.M) {
	denier.MaybeRun()
	if os.Getenv("SECCOMPWATCH_AS_MAIN") == "1" {
		os.Exit(cli.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// requireLive skips (fails under CI=true) where the live tests cannot run:
// they need root (audit multicast, cgroups, seccomp) and Debian's
// prometheus package (scripts/setup.sh installs it).
func requireLive(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "audit netlink, cgroups, seccomp helper")
	for _, bin := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(bin); err != nil {
			testutil.Unavailable(t, bin+" not installed (scripts/setup.sh installs Debian's prometheus)")
		}
	}
}

// proc is a process the test started, with its output in a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts cmd and stops it (SIGTERM, then SIGKILL after 15 s) when
// the test ends, unless the test stopped it before.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		// Ends with the test binary, also one killed by -timeout (no
		// cleanup runs then).
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil && !p.exited() {
			t.Errorf("%s: %v", name, err)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by its pid and returns how it ended.
func (p *proc) stop() error {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s did not stop within 15 s of SIGTERM (killed)", p.name)
		}
	}
	return p.err
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or timeout passes; then the test fails
// with what cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpGet(u string) (int, string, error) {
	return clientGet(&http.Client{Timeout: 5 * time.Second}, u)
}

func clientGet(c *http.Client, u string) (int, string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// daemon is a running `seccompwatch run`.
type daemon struct {
	*proc
	addr   string // host:port
	base   string // http:// or https:// and addr
	web    *webAuth
	client *http.Client
}

// startDaemon runs the program (this test binary as main) as the daemon and
// waits until /healthz says the audit stream is subscribed. With web, it
// serves TLS and asks for basic auth (--web.config.file).
func startDaemon(t *testing.T, stateDir, unitsRoot string, web *webAuth) *daemon {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"-test.run=^$", "run", "--web.listen-address=" + addr,
		"--state.dir=" + stateDir, "--units.root=" + unitsRoot, "--dbus.address=none",
		"--systemd.table=252", "--log.format=json", "--log.level=info"}
	d := &daemon{addr: addr, base: "http://" + addr, web: web, client: &http.Client{Timeout: 5 * time.Second}}
	if web != nil {
		args = append(args, "--web.config.file="+web.configFile)
		d.base = "https://" + addr
		d.client = web.client(t, web.user, web.password)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "SECCOMPWATCH_AS_MAIN=1")
	d.proc = startProc(t, "seccompwatch", cmd)
	waitFor(t, 20*time.Second, "seccompwatch healthy", func() (bool, string) {
		if d.exited() {
			t.Fatalf("seccompwatch exited: %v\n%s", d.err, d.output())
		}
		code, body, err := d.get("/healthz")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, err, body)
	})
	return d
}

// get fetches path from the daemon (with its TLS and basic auth, if any).
func (d *daemon) get(path string) (int, string, error) {
	resp, err := d.client.Get(d.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (d *daemon) metrics(t *testing.T) string {
	t.Helper()
	code, body, err := d.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("scrape: %d %v", code, err)
	}
	return body
}

// prometheus is a running Prometheus server on loopback.
type prometheus struct {
	*proc
	url    string
	client *http.Client // with the TLS and basic auth of its web config, if any
}

// get fetches u (a URL of this server) with the server's client.
func (p *prometheus) get(u string) (int, string, error) { return clientGet(p.client, u) }

// startPrometheus starts Debian's prometheus with a temporary config that
// scrapes target every second (job "seccompwatch", as the rules expect;
// over TLS with basic auth when web is set) and loads the shipped rules,
// and waits until it is ready.
func startPrometheus(t *testing.T, target string, web *webAuth) *prometheus {
	t.Helper()
	scrape := fmt.Sprintf(`  - job_name: seccompwatch
    static_configs:
      - targets: [%q]
`, target)
	if web != nil {
		scrape += fmt.Sprintf(`    scheme: https
    tls_config:
      ca_file: %q
    basic_auth:
      username: %q
      password_file: %q
`, web.caFile, web.user, web.passwordFile)
	}
	return startPrometheusScraping(t, scrape)
}

// startPrometheusScraping starts Debian's prometheus with the shipped rules
// and scrapeConfigs (YAML list items of scrape_configs, scraped every
// second) and waits until it is ready.
func startPrometheusScraping(t *testing.T, scrapeConfigs string) *prometheus {
	t.Helper()
	return startPrometheusWeb(t, scrapeConfigs, nil)
}

// startPrometheusWeb is startPrometheusScraping with Prometheus' own
// --web.config.file (TLS and basic auth) when web is set.
func startPrometheusWeb(t *testing.T, scrapeConfigs string, web *webAuth) *prometheus {
	t.Helper()
	dir := t.TempDir()
	var rules []string
	for _, f := range []string{"recording.rules.yml", "alerts.rules.yml"} {
		p, err := filepath.Abs(filepath.Join("prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, strconv.Quote(p))
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
%s`, strings.Join(rules, ", "), scrapeConfigs)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--log.level=warn"}
	p := &prometheus{url: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}
	if web != nil {
		args = append(args, "--web.config.file="+web.configFile)
		p.url, p.client = "https://"+addr, web.client(t, web.user, web.password)
	}
	p.proc = startProc(t, "prometheus", exec.Command("prometheus", args...))
	waitFor(t, 30*time.Second, "prometheus ready", func() (bool, string) {
		if p.exited() {
			t.Fatalf("prometheus exited: %v\n%s", p.err, p.output())
		}
		code, body, err := p.get(p.url + "/-/ready")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, err, body)
	})
	return p
}

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	return v
}

// query runs an instant query; a query Prometheus refuses fails the test.
func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	res, err := p.tryQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (p *prometheus) tryQuery(q string) ([]sample, error) {
	code, body, err := p.get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("query %s: HTTP %d: %v: %s", q, code, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	var out []sample
	switch r.Data.ResultType {
	case "vector":
		err = json.Unmarshal(r.Data.Result, &out)
	case "scalar":
		var v [2]any
		err = json.Unmarshal(r.Data.Result, &v)
		out = []sample{{Value: v}}
	default:
		err = fmt.Errorf("result type %s", r.Data.ResultType)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s: %v", q, err)
	}
	return out, nil
}

// alert is one active alert of /api/v1/alerts.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p *prometheus) alerts(t *testing.T) []alert {
	t.Helper()
	_, body, err := p.get(p.url + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Data struct {
			Alerts []alert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("alerts: %v: %s", err, body)
	}
	return r.Data.Alerts
}

// deny runs a denier helper and fails the test when it could not set up.
func deny(t *testing.T, spec denier.Spec) {
	t.Helper()
	cmd, err := denier.Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("denier: %v %s", err, out)
	}
	if cmd.ProcessState.ExitCode() == 3 {
		t.Fatalf("denier could not set up: %s", out)
	}
}

// shiftState moves every time in a saved state file back by d, as if the
// daemon had been stopped that long ago after its last denial.
func shiftState(t *testing.T, path string, d time.Duration) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "saved" || strings.HasSuffix(k, "_seen")) {
					tm, err := time.Parse(time.RFC3339Nano, s)
					if err != nil {
						t.Fatalf("state file %s: %q: %v", k, s, err)
					}
					x[k] = tm.Add(-d).Format(time.RFC3339Nano)
					n++
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if n < 3 {
		t.Fatalf("state file has %d times, want saved and a unit's first/last seen: %s", n, b)
	}
	if b, err = json.Marshal(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// liveEnv is what the live tests share: a daemon that saw the test's
// denials, and a Prometheus that scrapes it with the shipped rules.
type liveEnv struct {
	daemon *daemon
	prom   *prometheus
	// fresh is the unit denied while Prometheus watched; restarted the
	// one denied two hours "before" the daemon restarted.
	fresh, restarted string
	// user is a unit of a user manager (its label
	// user@UID.service/NAME), machineUnit a unit of container machine;
	// both denied getcpu while Prometheus watched.
	user, machine, machineUnit string
	// web is the second daemon's TLS and basic auth (--web.config.file).
	web *webAuth
}

// startLive makes the environment:
//
//  1. a daemon sees a denial of unit restarted and is stopped (its state
//     file saved); the state is moved two hours back;
//  2. a second daemon starts from that state (restarted's last-denial and
//     foreign-binary gauges are back, its counters are not), serving TLS
//     with basic auth (--web.config.file), and Prometheus scrapes it so;
//  3. unit fresh is denied getcpu (kill_process, three
//     processes), swapoff (kill_process, risky, twice) and getcpu again
//     (errno with the log flag, six calls over three seconds), spread
//     over several scrapes so that rates have data; a user's unit (in a
//     user@UID.service cgroup) and a container's unit (below
//     machine.slice/machine-NAME.scope) are denied getcpu (kill_process).
func startLive(t *testing.T) *liveEnv {
	t.Helper()
	pid := os.Getpid()
	env := &liveEnv{
		fresh:     fmt.Sprintf("sw-prom-fresh-%d.service", pid),
		restarted: fmt.Sprintf("sw-prom-restarted-%d.service", pid),
		machine:   fmt.Sprintf("swprom%d", pid),
	}
	uid := 40000 + pid%20000
	userName := fmt.Sprintf("sw-prom-user-%d.service", pid)
	env.user = fmt.Sprintf("user@%d.service/%s", uid, userName)
	env.machineUnit = fmt.Sprintf("sw-prom-m-%d.service", pid)
	// Both units' files run /usr/bin/sleep (so the test binary is a
	// foreign binary in them) and deny getcpu and swapoff.
	slice := fmt.Sprintf("swtest-prom%d.slice", pid)
	cgroups := func(unit string) []string {
		dirs, remove, err := denier.UnitCgroups(slice, unit)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
		return dirs
	}
	freshCG, restartedCG := cgroups(env.fresh), cgroups(env.restarted)
	inCgroup := func(slice, unit string) []string {
		dirs, remove, err := denier.UnitCgroups(slice, unit)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
		return dirs
	}
	userCG := inCgroup(fmt.Sprintf("user.slice/user-%d.slice/user@%d.service/app.slice", uid, uid), userName)
	machineCG := inCgroup(fmt.Sprintf("machine.slice/machine-%s.scope/payload/system.slice", env.machine), env.machineUnit)

	stateDir := t.TempDir()
	unitsRoot := t.TempDir()
	unitDir := filepath.Join(unitsRoot, "etc/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{env.fresh, env.restarted} {
		if err := os.WriteFile(filepath.Join(unitDir, u), []byte("[Service]\nExecStart=/usr/bin/sleep infinity\nSystemCallFilter=~getcpu swapoff\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	d1 := startDaemon(t, stateDir, unitsRoot, nil)
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: restartedCG})
	want := fmt.Sprintf(`seccompwatch_denials_total{action="kill_process",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q} 1`, env.restarted)
	waitFor(t, 10*time.Second, "first daemon counts the denial", func() (bool, string) {
		m := d1.metrics(t)
		return strings.Contains(m, want), grepLines(m, "seccompwatch_denials_total")
	})
	if err := d1.stop(); err != nil {
		t.Fatalf("first daemon: %v\n%s", err, d1.output())
	}
	shiftState(t, filepath.Join(stateDir, "denials.json"), 2*time.Hour)

	env.web = newWebAuth(t)
	env.daemon = startDaemon(t, stateDir, unitsRoot, env.web)
	env.prom = startPrometheus(t, env.daemon.addr, env.web)
	waitFor(t, 20*time.Second, "prometheus scrapes seccompwatch", func() (bool, string) {
		res, err := env.prom.tryQuery(fmt.Sprintf(`up{job="seccompwatch"} == 1 and on (instance) seccompwatch_last_denial_timestamp_seconds{unit=%q}`, env.restarted))
		return err == nil && len(res) == 1, fmt.Sprint(res, err)
	})

	for i := range 3 {
		if i > 0 {
			time.Sleep(1200 * time.Millisecond)
		}
		deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: freshCG})
		if i < 2 {
			deny(t, denier.Spec{Syscall: "swapoff", Action: "kill_process", Cgroups: freshCG})
		}
	}
	deny(t, denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: 6, Rate: 2, Cgroups: freshCG})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: userCG})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: machineCG})
	return env
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPrometheus runs the shipped rules in a real Prometheus against a real
// daemon and real denials (see startLive), then the dashboard's queries.
func TestPrometheus(t *testing.T) {
	requireLive(t)
	env := startLive(t)
	t.Run("series", env.testSeries)
	t.Run("alerts", env.testAlerts)
	t.Run("promtool check metrics", env.testCheckMetrics)
	t.Run("visibility", env.testVisibility)
	t.Run("dashboard", env.testDashboard)
	t.Run("web config", env.testWebConfig)
}

// The denials arrive in Prometheus with the labels the rules and the
// dashboard use.
func (env *liveEnv) testSeries(t *testing.T) {
	for _, tc := range []struct {
		syscall, action, risky string
		count                  float64
	}{
		{"getcpu", "kill_process", "false", 3},
		{"swapoff", "kill_process", "true", 2},
		{"getcpu", "errno", "false", 6},
	} {
		q := fmt.Sprintf(`seccompwatch_denials_total{job="seccompwatch",unit=%q,syscall=%q,action=%q,arch="x86_64",risky=%q}`,
			env.fresh, tc.syscall, tc.action, tc.risky)
		waitFor(t, 15*time.Second, q+" == "+fmt.Sprint(tc.count), func() (bool, string) {
			res := env.prom.query(t, q)
			return len(res) == 1 && res[0].value() == tc.count, fmt.Sprint(res)
		})
	}
	// The verdicts of the pairs: the units' files remove getcpu and
	// swapoff from the filter ("~"), which kills; an errno record is not
	// what that filter does, so its verdict is unknown, not a guess. The
	// user's and the container's units have no configuration the daemon
	// can read here (no unit file, no container bus): unknown, each under
	// its own labels.
	for _, tc := range []struct {
		machine, unit, syscall, action, verdict, directive string
	}{
		{"", env.fresh, "getcpu", "kill_process", "filter-removed", "SystemCallFilter"},
		{"", env.fresh, "swapoff", "kill_process", "filter-removed", "SystemCallFilter"},
		{"", env.fresh, "getcpu", "errno", "unknown", ""},
		{"", env.user, "getcpu", "kill_process", "unknown", ""},
		{env.machine, env.machineUnit, "getcpu", "kill_process", "unknown", ""},
	} {
		q := fmt.Sprintf(`seccompwatch_denial_verdict{job="seccompwatch",machine=%q,unit=%q,syscall=%q,action=%q,arch="x86_64"}`, tc.machine, tc.unit, tc.syscall, tc.action)
		waitFor(t, 15*time.Second, q, func() (bool, string) {
			res := env.prom.query(t, q)
			return len(res) == 1 && res[0].value() == 1 && res[0].Metric["verdict"] == tc.verdict && res[0].Metric["directive"] == tc.directive,
				fmt.Sprintf("%v, want verdict %q directive %q", res, tc.verdict, tc.directive)
		})
	}
	// The daemon's restart reset the restarted unit's counter: no series.
	if res := env.prom.query(t, fmt.Sprintf(`seccompwatch_denials_total{unit=%q}`, env.restarted)); len(res) != 0 {
		t.Errorf("restarted unit has counter series after the restart: %v", res)
	}
	// Its last-denial gauge came back from the state file, two hours old.
	res := env.prom.query(t, fmt.Sprintf(`time() - seccompwatch_last_denial_timestamp_seconds{unit=%q}`, env.restarted))
	if len(res) != 1 || res[0].value() < 7000 || res[0].value() > 7400 {
		t.Errorf("restarted unit's last denial: want about 7200 s ago, got %v", res)
	}
	res = env.prom.query(t, fmt.Sprintf(`time() - seccompwatch_foreign_binary_last_denial_timestamp_seconds{unit=%q}`, env.restarted))
	if len(res) != 1 || res[0].value() < 7000 || res[0].value() > 7400 {
		t.Errorf("restarted unit's last foreign-binary denial: want about 7200 s ago, got %v", res)
	}
	res = env.prom.query(t, fmt.Sprintf(`time() - seccompwatch_last_denial_timestamp_seconds{unit=%q}`, env.fresh))
	if len(res) != 1 || res[0].value() > 120 {
		t.Errorf("fresh unit's last denial: want seconds ago, got %v", res)
	}
}

// The new-denial alerts go pending or firing for the fresh unit, each with
// its syscall and action and the command that shows the fix, and for no
// other of the test's units: the restarted unit, whose old gauge is in
// Prometheus, must not alert. Other denials may happen on the host: only
// the test's units are looked at.
func (env *liveEnv) testAlerts(t *testing.T) {
	want := map[string]map[string]map[string]string{ // unit -> alert -> labels
		env.fresh: {
			"SeccompwatchNewDenial":           {"syscall": "getcpu", "action": "kill_process", "severity": "warning"},
			"SeccompwatchRiskyDenial":         {"syscall": "swapoff", "action": "kill_process", "severity": "critical"},
			"SeccompwatchNewErrnoDenial":      {"syscall": "getcpu", "action": "errno", "severity": "info"},
			"SeccompwatchForeignBinaryDenial": {"severity": "critical"},
		},
		env.user:        {"SeccompwatchNewDenial": {"syscall": "getcpu", "action": "kill_process", "severity": "warning", "machine": ""}},
		env.machineUnit: {"SeccompwatchNewDenial": {"syscall": "getcpu", "action": "kill_process", "severity": "warning", "machine": env.machine}},
	}
	// The verdict each denial alert's description gives (deploy/prometheus:
	// a template query of seccompwatch_denial_verdict).
	verdict := map[string]string{
		env.fresh + " SeccompwatchNewDenial":       "Verdict: filter-removed (denied by SystemCallFilter=). ",
		env.fresh + " SeccompwatchRiskyDenial":     "Verdict: filter-removed (denied by SystemCallFilter=). ",
		env.fresh + " SeccompwatchNewErrnoDenial":  "Verdict: unknown. ",
		env.user + " SeccompwatchNewDenial":        "Verdict: unknown. ",
		env.machineUnit + " SeccompwatchNewDenial": "Verdict: unknown. ",
	}
	var ours []alert
	waitFor(t, 30*time.Second, "the test units' alerts, with their verdicts", func() (bool, string) {
		ours = ours[:0]
		seen := 0
		for _, a := range env.prom.alerts(t) {
			u := a.Labels["unit"]
			if _, ok := want[u]; !ok && u != env.restarted {
				continue
			}
			ours = append(ours, a)
			name := a.Labels["alertname"]
			if _, ok := want[u][name]; ok && (a.State == "pending" || a.State == "firing") && strings.Contains(a.Annotations["description"], verdict[u+" "+name]) {
				seen++
			}
		}
		if seen == len(verdict)+1 { // and the foreign-binary alert
			return true, ""
		}
		_, sug, _ := env.daemon.get("/api/v1/suggestions/" + env.fresh)
		return false, fmt.Sprintf("%+v\n%s\n%s", ours, sug, grepLines(env.daemon.metrics(t), "foreign"))
	})
	for _, a := range ours {
		name, unit := a.Labels["alertname"], a.Labels["unit"]
		if unit == env.restarted {
			t.Errorf("alert for the restarted unit (a daemon restart must not fire): %+v", a)
			continue
		}
		w, ok := want[unit][name]
		if !ok {
			t.Errorf("unexpected alert for %s: %+v", unit, a)
			continue
		}
		for k, v := range w {
			if a.Labels[k] != v {
				t.Errorf("%s %s: label %s = %q, want %q (%+v)", unit, name, k, a.Labels[k], v, a)
			}
		}
		if a.Labels["job"] != "seccompwatch" || a.Labels["instance"] != env.daemon.addr {
			t.Errorf("%s: job/instance = %q/%q", name, a.Labels["job"], a.Labels["instance"])
		}
		suggestCmd := "seccompwatch suggest " + unit
		if m := a.Labels["machine"]; m != "" {
			suggestCmd = "seccompwatch suggest --machine " + m + " " + unit
		}
		if !strings.Contains(a.Annotations["description"], suggestCmd) {
			t.Errorf("%s: description lacks %q: %q", name, suggestCmd, a.Annotations["description"])
		}
		t.Logf("%s %s: %s", name, a.State, a.Annotations["description"])
		// The commands a description names run as written, against this
		// daemon: the why command, and the suggest command.
		cmds := [][]string{strings.Fields(suggestCmd)}
		if cmd := fixCommand(a.Annotations["description"]); cmd != nil {
			cmds = append(cmds, cmd)
		} else if name != "SeccompwatchForeignBinaryDenial" {
			t.Errorf("%s: no seccompwatch why command in %q", name, a.Annotations["description"])
		}
		for _, cmd := range cmds {
			args := append(cmd[1:], "--server", env.daemon.base, "--tls.ca-file", env.web.caFile,
				"--basic-auth.username", env.web.user, "--basic-auth.password-file", env.web.passwordFile)
			var out, errb strings.Builder
			if code := cli.Main(args, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), a.Labels["syscall"]) {
				t.Errorf("%s: %q: exit %d, stdout %q, stderr %q", name, cmd, code, out.String(), errb.String())
			}
		}
	}
}

// fixCommand returns the `seccompwatch why ...` command of an alert's
// description (its words), or nil.
func fixCommand(desc string) []string {
	i := strings.Index(desc, "seccompwatch why ")
	if i < 0 {
		return nil
	}
	rest := desc[i:]
	if j := strings.Index(rest, " (the drop-in"); j >= 0 {
		rest = rest[:j]
	}
	return strings.Fields(rest)
}

// promtool check metrics passes on a live scrape with denials in it.
func (env *liveEnv) testCheckMetrics(t *testing.T) {
	body := env.daemon.metrics(t)
	if !strings.Contains(body, env.fresh) {
		t.Fatalf("scrape lacks the test's denials:\n%s", grepLines(body, "seccompwatch_denials_total"))
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// The visibility checks agree with this host's kernel, in /metrics (as
// Prometheus stored them) and /healthz.
func (env *liveEnv) testVisibility(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_logged")
	if err != nil {
		t.Fatal(err)
	}
	logged := map[string]bool{}
	for _, a := range strings.Fields(string(b)) {
		logged[a] = true
	}
	for _, a := range []string{"kill_process", "kill_thread", "errno", "log"} {
		res := env.prom.query(t, fmt.Sprintf(`seccompwatch_seccomp_action_logged{action=%q}`, a))
		if len(res) != 1 || (res[0].value() == 1) != logged[a] {
			t.Errorf("action %s: logged by the kernel %v, metric %v", a, logged[a], res)
		}
	}
	res := env.prom.query(t, `seccompwatch_kernel_audit_disabled`)
	if len(res) != 1 || res[0].value() != 0 {
		t.Errorf("kernel_audit_disabled = %v (the daemon reads audit records: audit is on)", res)
	}
	_, body, err := env.daemon.get("/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Checks map[string]struct {
			OK     bool   `json:"ok"`
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	v, ok := h.Checks["visibility"]
	// The manager check reads under --units.root (a temporary directory,
	// no systemd there): only the kernel decides here.
	allLogged := logged["kill_process"] && logged["kill_thread"] && logged["errno"] && logged["log"]
	if !ok || v.OK != allLogged {
		t.Errorf("healthz visibility = %+v (present %v), want ok=%v:\n%s", v, ok, allLogged, body)
	}
}
