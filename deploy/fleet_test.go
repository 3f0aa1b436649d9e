package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// TestFleet: `suggest --prometheus` against a real Prometheus that scrapes
// two real daemons (two instance labels, role="web") and one dead target
// of that role, after real denials:
//
//   - unit web runs with different filters on the two hosts (each daemon
//     reads its own unit files); it is denied getcpu while only daemon A
//     runs, then pkey_alloc with both running;
//   - unit db has the same configuration on both and is denied getcpu
//     with both running.
//
// The merged drop-in has one line per denied call, each naming how many
// hosts saw it and which; web says its hosts disagree on its
// configuration, db does not; the dead target is named, not dropped.
func TestFleet(t *testing.T) {
	requireLive(t)
	pid := os.Getpid()
	web := fmt.Sprintf("sw-fleet-web-%d.service", pid)
	db := fmt.Sprintf("sw-fleet-db-%d.service", pid)
	slice := fmt.Sprintf("swtest-fleet%d.slice", pid)
	cgroups := func(unit string) []string {
		dirs, remove, err := denier.UnitCgroups(slice, unit)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
		return dirs
	}
	webCG, dbCG := cgroups(web), cgroups(db)
	self, err := os.Executable() // the denier children's exe: the units' own binary
	if err != nil {
		t.Fatal(err)
	}
	roots := map[string]string{}
	for host, webFilter := range map[string]string{"a": "read write", "b": "read write close"} { // allow-lists without the denied calls
		root := t.TempDir()
		dir := filepath.Join(root, "etc/systemd/system")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for u, filter := range map[string]string{web: webFilter, db: "read write"} {
			unit := "[Service]\nExecStart=" + self + "\nSystemCallFilter=" + filter + "\n"
			if err := os.WriteFile(filepath.Join(dir, u), []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		roots[host] = root
	}

	a := startDaemon(t, t.TempDir(), roots["a"], nil)
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: webCG})
	waitFor(t, 10*time.Second, "daemon a counts web's getcpu", func() (bool, string) {
		m := a.metrics(t)
		return strings.Contains(m, fmt.Sprintf(`syscall="getcpu",unit=%q} 1`, web)), grepLines(m, web)
	})
	b := startDaemon(t, t.TempDir(), roots["b"], nil)
	deny(t, denier.Spec{Syscall: "pkey_alloc", Action: "kill_process", Cgroups: webCG})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: dbCG})
	for _, d := range []*daemon{a, b} {
		waitFor(t, 10*time.Second, d.addr+" counts the denials made while both ran", func() (bool, string) {
			m := d.metrics(t)
			return strings.Contains(m, fmt.Sprintf(`syscall="pkey_alloc",unit=%q} 1`, web)) &&
				strings.Contains(m, fmt.Sprintf(`syscall="getcpu",unit=%q} 1`, db)), grepLines(m, "sw-fleet")
		})
	}

	dead := "127.0.0.1:" + strconv.Itoa(freePort(t))
	prom := startPrometheusScraping(t, fmt.Sprintf(`  - job_name: seccompwatch
    static_configs:
      - targets: [%q, %q, %q]
        labels: {role: web}
      - targets: [%q]
        labels: {role: db}
`, a.addr, b.addr, dead, "127.0.0.1:1"))
	waitFor(t, 20*time.Second, "prometheus scrapes both daemons", func() (bool, string) {
		up, err := prom.tryQuery(`up{job="seccompwatch",role="web"}`)
		n := 0
		for _, s := range up {
			if s.value() == 1 {
				n++
			}
		}
		return err == nil && len(up) == 3 && n == 2, fmt.Sprint(up, err)
	})

	suggest := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(self, append([]string{"-test.run=^$", "suggest", "--prometheus", prom.url,
			"--selector", `{job="seccompwatch",role="web"}`}, args...)...)
		cmd.Env = append(os.Environ(), "SECCOMPWATCH_AS_MAIN=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("suggest %q: %v\n%s", args, err, stderr.String())
		}
		return string(out), stderr.String()
	}

	hosts := []string{a.addr, b.addr}
	sort.Strings(hosts) // targets are read in instance order
	both := strings.Join(hosts, ", ")
	out, stderr := suggest("--format", "json")
	t.Logf("stderr:\n%s", stderr)
	if !strings.Contains(stderr, "not read: "+dead+" (down in Prometheus: up is 0)") || !strings.Contains(stderr, "fleet: 2 of 3 targets") {
		t.Errorf("stderr does not name the dead target:\n%s", stderr)
	}
	var doc struct {
		Suggestions []struct {
			Unit     string
			Config   *string
			Warnings []string
			Lines    []struct {
				Directive string
				Count     uint64
				Included  bool
				Reason    string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, s := range doc.Suggestions {
		lines := map[string]string{}
		for _, l := range s.Lines {
			lines[l.Directive] = fmt.Sprintf("count %d included %v: %s", l.Count, l.Included, l.Reason)
		}
		warnings := strings.Join(s.Warnings, "\n")
		switch s.Unit {
		case web:
			found++
			want := map[string]string{
				"SystemCallFilter=getcpu":     "count 1 included true:",
				"SystemCallFilter=pkey_alloc": "count 2 included true:",
			}
			for d, w := range want {
				if !strings.HasPrefix(lines[d], w) {
					t.Errorf("web %s: %q, want %q…", d, lines[d], w)
				}
			}
			if !strings.Contains(lines["SystemCallFilter=getcpu"], "fleet: seen on 1 of 2 hosts: "+a.addr) ||
				!strings.Contains(lines["SystemCallFilter=pkey_alloc"], "fleet: seen on 2 of 2 hosts: "+both) {
				t.Errorf("web's lines do not name their hosts: %q", lines)
			}
			if !strings.Contains(warnings, "hosts disagree on this unit's configuration") || s.Config != nil {
				t.Errorf("web runs differently on the two hosts, not said: config %v, warnings %s", s.Config, warnings)
			}
		case db:
			found++
			if !strings.HasPrefix(lines["SystemCallFilter=getcpu"], "count 2 included true:") ||
				!strings.Contains(lines["SystemCallFilter=getcpu"], "seen on 2 of 2 hosts") {
				t.Errorf("db: %q", lines)
			}
			if strings.Contains(warnings, "hosts disagree") || s.Config == nil {
				t.Errorf("db runs the same on both hosts: config %v, warnings %s", s.Config, warnings)
			}
		}
		if (s.Unit == web || s.Unit == db) && !strings.Contains(warnings, "not read, so their denials are missing: "+dead) {
			t.Errorf("%s: the dead target is not in its warnings: %s", s.Unit, warnings)
		}
	}
	if found != 2 {
		t.Fatalf("%d of the test's 2 units in the fleet suggestions:\n%s", found, out)
	}

	// One unit, as a drop-in; and --out-dir writes it at its path.
	dropin, _ := suggest(web)
	t.Logf("fleet drop-in of %s:\n%s", web, dropin)
	if strings.Count(dropin, "# Generated by") != 1 || !strings.Contains(dropin, "\nSystemCallFilter=getcpu\n") ||
		!strings.Contains(dropin, "fleet: merged from 2 hosts: "+both) {
		t.Errorf("drop-in of %s:\n%s", web, dropin)
	}
	dir := t.TempDir()
	suggest("--out-dir", dir, db)
	if _, err := os.Stat(filepath.Join(dir, "etc/systemd/system", db+".d", "50-seccompwatch.conf")); err != nil {
		t.Error(err)
	}
	// --since: nothing of the test is older than a minute; the window
	// keeps it all, and says so.
	if out, _ := suggest("--since", "1h", db); !strings.Contains(out, "(--since)") || !strings.Contains(out, "\nSystemCallFilter=getcpu\n") {
		t.Errorf("--since 1h:\n%s", out)
	}

	t.Run("prometheus behind TLS and basic auth", func(t *testing.T) {
		testFleetThroughSecuredPrometheus(t, self, a, b, db)
	})
}

// testFleetThroughSecuredPrometheus: a second real Prometheus, serving its
// API only over TLS with basic auth (its own --web.config.file), scrapes
// the two daemons. suggest --prometheus reaches it with a client
// configuration file in Prometheus' format (--prometheus.http-config-file,
// paths relative to the file), and is refused without one, with a wrong
// password, and with a CA that did not sign the certificate.
func testFleetThroughSecuredPrometheus(t *testing.T, self string, a, b *daemon, db string) {
	web := newWebAuth(t)
	prom := startPrometheusWeb(t, fmt.Sprintf(`  - job_name: seccompwatch
    static_configs:
      - targets: [%q, %q]
        labels: {role: db}
`, a.addr, b.addr), web)
	waitFor(t, 20*time.Second, "the secured prometheus scrapes both daemons", func() (bool, string) {
		up, err := prom.tryQuery(`up{job="seccompwatch",role="db"} == 1`)
		return err == nil && len(up) == 2, fmt.Sprint(up, err)
	})
	writeConfig := func(name, body string) string {
		p := filepath.Join(web.dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrongPassword := writeConfig("wrong-password", web.password+"x\n")
	other := newWebAuth(t) // another CA
	good := writeConfig("client.yml", fmt.Sprintf("tls_config:\n  ca_file: tls.crt\nbasic_auth:\n  username: %s\n  password_file: password\n", web.user))
	for _, tc := range []struct {
		name, config string
		wantOK       bool
		wantErr      string
	}{
		{"config file", good, true, ""},
		{"no config file", "", false, "certificate"},
		{"wrong password", writeConfig("wrong.yml", fmt.Sprintf("tls_config:\n  ca_file: tls.crt\nbasic_auth:\n  username: %s\n  password_file: %s\n", web.user, wrongPassword)), false, "401 Unauthorized: give the credentials its web config asks for in --prometheus.http-config-file"},
		{"no credentials", writeConfig("nocreds.yml", "tls_config:\n  ca_file: tls.crt\n"), false, "401 Unauthorized"},
		{"another CA", writeConfig("otherca.yml", fmt.Sprintf("tls_config:\n  ca_file: %s\nbasic_auth:\n  username: %s\n  password_file: password\n", other.caFile, web.user)), false, "certificate"},
		{"not a config", writeConfig("bad.yml", "basic_auth: [\n"), false, "--prometheus.http-config-file:"},
	} {
		args := []string{"-test.run=^$", "suggest", "--prometheus", prom.url, "--selector", `{job="seccompwatch",role="db"}`}
		if tc.config != "" {
			args = append(args, "--prometheus.http-config-file", tc.config)
		}
		cmd := exec.Command(self, append(args, db)...)
		cmd.Env = append(os.Environ(), "SECCOMPWATCH_AS_MAIN=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		switch {
		case tc.wantOK && (err != nil || !strings.Contains(string(out), "\nSystemCallFilter=getcpu\n") || !strings.Contains(string(out), "fleet: 2 daemons read through "+prom.url)):
			t.Errorf("%s: %v\n%s\nstderr: %s", tc.name, err, out, stderr.String())
		case !tc.wantOK && (err == nil || len(out) != 0 || !strings.Contains(stderr.String(), tc.wantErr)):
			t.Errorf("%s: %v, stdout %q, stderr %q; want a failure saying %q", tc.name, err, out, stderr.String(), tc.wantErr)
		default:
			t.Logf("%s: %s", tc.name, strings.TrimSpace(stderr.String()))
		}
	}
}
