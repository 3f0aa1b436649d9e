package daemon

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/seccompwatch/seccompwatch/internal/metrics"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

func TestCmdlineAuditDisabled(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    bool
	}{
		{"BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet", false},
		{"root=/dev/sda1 audit=0 quiet\n", true},
		{"audit=off", true},
		{"audit=OFF", true},
		{"audit=1", false},
		{"audit=0 audit=1", false}, // the last one wins
		{"audit=1 audit=0", true},
		{"noaudit=0 xaudit=0", false},
		{`foo="bar audit=0" quiet`, false}, // inside a quoted value
		{`"audit=0"`, true},                // quotes are removed
		{"quiet -- audit=0", false},        // init's argument, not the kernel's
		{"", false},
	} {
		if got := cmdlineAuditDisabled(tc.cmdline); got != tc.want {
			t.Errorf("cmdlineAuditDisabled(%q) = %v, want %v", tc.cmdline, got, tc.want)
		}
	}
}

func TestKernelParams(t *testing.T) {
	got := kernelParams(`a=1  b="x y"  "c d"=2 SYSTEMD_LOG_SECCOMP=1 -- init args` + "\n")
	want := []string{"a=1", "b=x y", "c d=2", "SYSTEMD_LOG_SECCOMP=1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kernelParams = %q, want %q", got, want)
	}
}

func TestParseActionsLogged(t *testing.T) {
	got := parseActionsLogged("kill_process kill_thread trap errno user_notif trace log\n")
	for _, a := range visibilityActions {
		if !got[a] {
			t.Errorf("%s not logged", a)
		}
	}
	got = parseActionsLogged("kill_process trap bogus\n")
	want := map[string]bool{"kill_process": true, "kill_thread": false, "trap": true, "errno": false, "user_notif": false, "trace": false, "log": false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseActionsLogged = %v, want %v", got, want)
	}
}

func TestEnvWords(t *testing.T) {
	got := envWords(`A=1 "B=two words" 'C=x'  D=`)
	want := []string{"A=1", "B=two words", "C=x", "D="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("envWords = %q, want %q", got, want)
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The manager's configuration, as systemd merges it: system.conf, then
// drop-ins by file name across directories, /etc masking /usr/lib.
func TestManagerEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{"none", nil, false},
		{"system.conf", map[string]string{"etc/systemd/system.conf": "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n"}, true},
		{"commented out", map[string]string{"etc/systemd/system.conf": "[Manager]\n#ManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n"}, false},
		{"other section", map[string]string{"etc/systemd/system.conf": "[Other]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n"}, false},
		{"drop-in with others", map[string]string{"etc/systemd/system.conf.d/50-log.conf": "[Manager]\nManagerEnvironment=FOO=bar \"SYSTEMD_LOG_SECCOMP=yes\"\n"}, true},
		{"later drop-in turns it off", map[string]string{
			"usr/lib/systemd/system.conf.d/10-on.conf": "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n",
			"run/systemd/system.conf.d/20-off.conf":    "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=0\n",
		}, false},
		{"empty assignment resets", map[string]string{
			"etc/systemd/system.conf":               "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n",
			"etc/systemd/system.conf.d/90-off.conf": "[Manager]\nManagerEnvironment=\n",
		}, false},
		{"/etc masks /usr/lib", map[string]string{
			"usr/lib/systemd/system.conf.d/50-log.conf": "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n",
			"etc/systemd/system.conf.d/50-log.conf":     "[Manager]\n",
		}, false},
		{"not a .conf", map[string]string{"etc/systemd/system.conf.d/50-log.conf.disabled": "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			if got := unitprops.EnvLogSeccomp(managerEnvironment(root)); got != tc.want {
				t.Errorf("logs = %v, want %v (env %q)", got, tc.want, managerEnvironment(root))
			}
		})
	}
}

// A host booted with systemd whose units deny with an errno, checked under
// a temporary root (a fake /proc too: the real one is the test host's).
func TestVisibilityReport(t *testing.T) {
	table, err := syscalls.Select(context.Background(), "252")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		files      map[string]string
		errnoUnits []string
		problems   []string // substrings, in order
		healthy    bool
	}{
		{name: "no systemd, all logged", healthy: true,
			files: map[string]string{
				"proc/cmdline":                              "root=/dev/sda1 quiet\n",
				"proc/sys/kernel/seccomp/actions_logged":    "kill_process kill_thread trap errno user_notif trace log\n",
				"lib/systemd/system/errno.service":          "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service\nSystemCallErrorNumber=EPERM\n",
				"lib/systemd/system/kill.service":           "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service\n",
				"lib/systemd/system/errno-nofilter.service": "[Service]\nExecStart=/bin/true\nSystemCallErrorNumber=EPERM\n",
				// Directives other than SystemCallFilter= deny with an
				// errno too, and are as invisible without the manager's
				// logging.
				"lib/systemd/system/clock.service":    "[Service]\nExecStart=/bin/true\nProtectClock=yes\n",
				"lib/systemd/system/dynamic.service":  "[Service]\nExecStart=/bin/true\nDynamicUser=yes\n",
				"lib/systemd/system/clockoff.service": "[Service]\nExecStart=/bin/true\nProtectClock=yes\nProtectClock=no\n",
			},
			errnoUnits: []string{"clock.service", "dynamic.service", "errno.service"}},
		{name: "everything hidden",
			files: map[string]string{
				"run/systemd/system/.keep":               "",
				"proc/cmdline":                           "root=/dev/sda1 audit=0\n",
				"proc/sys/kernel/seccomp/actions_logged": "kill_process trap\n",
				"lib/systemd/system/errno.service":       "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service\nSystemCallErrorNumber=EPERM\n",
				"lib/systemd/system/deny.service":        "[Service]\nExecStart=/bin/true\nSystemCallFilter=~mount:EACCES\n",
				"lib/systemd/system/kill.service":        "[Service]\nExecStart=/bin/true\nSystemCallFilter=~mount\n",
				"etc/systemd/system/masked.service":      "",
				"lib/systemd/system/masked.service":      "[Service]\nExecStart=/bin/true\nSystemCallFilter=~mount:EPERM\n",
			},
			errnoUnits: []string{"deny.service", "errno.service"},
			problems:   []string{"audit=0", "lacks kill_thread errno log", "2 unit(s) deny with an errno", "deny.service, errno.service"}},
		{name: "manager logs (kernel command line)", healthy: true,
			files: map[string]string{
				"run/systemd/system/.keep":               "",
				"proc/cmdline":                           "quiet SYSTEMD_LOG_SECCOMP=1\n",
				"proc/sys/kernel/seccomp/actions_logged": "kill_process kill_thread trap errno user_notif trace log\n",
				"lib/systemd/system/errno.service":       "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service\nSystemCallErrorNumber=EPERM\n",
			},
			errnoUnits: []string{"errno.service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			if _, ok := tc.files["etc/systemd/system/masked.service"]; ok {
				p := filepath.Join(root, "etc/systemd/system/masked.service")
				os.Remove(p)
				if err := os.Symlink("/dev/null", p); err != nil {
					t.Fatal(err)
				}
			}
			files := unitprops.NewFiles(table, unitprops.FilesOptions{Root: root})
			v := newVisibility(root, files, zaptest.NewLogger(t))
			v.procRoot = filepath.Join(root, "proc")
			v.check(context.Background(), true)
			r := v.report()
			if !reflect.DeepEqual(r.errnoUnits, tc.errnoUnits) {
				t.Errorf("errno units = %q, want %q", r.errnoUnits, tc.errnoUnits)
			}
			h := r.health()
			if h.OK != tc.healthy {
				t.Errorf("health OK = %v, want %v: %+v", h.OK, tc.healthy, h)
			}
			rest := h.Detail
			for _, p := range tc.problems {
				i := strings.Index(rest, p)
				if i < 0 {
					t.Fatalf("health detail lacks %q (in order): %s", p, h.Detail)
				}
				rest = rest[i+len(p):]
			}
			m := r.metrics()
			if m.AuditDisabled != strings.Contains(tc.files["proc/cmdline"], "audit=0") || m.ErrnoUnits != len(tc.errnoUnits) {
				t.Errorf("metrics = %+v", m)
			}
			if hint := v.hint(); (hint != "") != m.AuditDisabled {
				t.Errorf("hint %q with audit disabled %v", hint, m.AuditDisabled)
			}
		})
	}
}

// Unreadable inputs are said, not guessed: no series, a note in /healthz.
func TestVisibilityUnknowns(t *testing.T) {
	root := t.TempDir()
	v := newVisibility(root, nil, zaptest.NewLogger(t))
	v.procRoot = filepath.Join(root, "proc")
	v.check(context.Background(), true)
	r := v.report()
	want := metrics.Visibility{Checked: true, ErrnoUnits: -1}
	if got := r.metrics(); !reflect.DeepEqual(got, want) {
		t.Errorf("metrics = %+v, want %+v", got, want)
	}
	h := r.health()
	if !h.OK || !strings.Contains(h.Detail, "actions_logged not readable") || !strings.Contains(h.Detail, "not booted with systemd") {
		t.Errorf("health = %+v", h)
	}
}

// TestManagerLogs: PID 1's environment shows only what it was started
// with; ManagerEnvironment= in system.conf.d takes effect at
// daemon-reload (seen in the VM, scenario 80-loop-errno: errno denials
// logged, /proc/1/environ without the variable), so it counts beside the
// environment; a later "=0" in the configuration turns it off again.
func TestManagerLogs(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		environ, cmdline, config []string
		logs                     bool
	}{
		{"environ says nothing", []string{"HOME=/"}, nil, nil, false},
		{"environ", []string{"SYSTEMD_LOG_SECCOMP=1"}, nil, nil, true},
		{"ManagerEnvironment= after daemon-reload", []string{"HOME=/"}, nil, []string{"SYSTEMD_LOG_SECCOMP=1"}, true},
		{"ManagerEnvironment= set back to 0", []string{"HOME=/"}, nil, []string{"SYSTEMD_LOG_SECCOMP=1", "SYSTEMD_LOG_SECCOMP=0"}, false},
		{"environ unreadable, configuration", nil, []string{"quiet"}, []string{"SYSTEMD_LOG_SECCOMP=yes"}, true},
		{"environ unreadable, kernel command line", nil, []string{"SYSTEMD_LOG_SECCOMP=1"}, nil, true},
		{"environ unreadable, nothing", nil, []string{"quiet"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := managerLogs(tc.environ, tc.cmdline, tc.config)
			if !m.Known || m.Logs != tc.logs {
				t.Errorf("managerLogs = %+v, want Logs %v", m, tc.logs)
			}
		})
	}
}
