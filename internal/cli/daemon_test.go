package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/daemon"
	"github.com/seccompwatch/seccompwatch/internal/logging"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

func TestMain(m *testing.M) {
	denier.MaybeRun()
	os.Exit(m.Run())
}

// TestClientCommands runs a real daemon, makes a real denial in a
// unit-shaped cgroup, and reads it back with `suggest UNIT` and `denials`.
// Other processes on the host may be denied meanwhile (a neighbour makes
// 2,000 denials around the test's two): the unit is this
// test's own (pid in its name), `denials` asks for that unit only, at once
// and again until it answers, and the daemon's recent-denials ring is
// large enough (65536) that a neighbour's burst does not push the test's
// two records out before it looks.
func TestClientCommands(t *testing.T) {
	testutil.RequireRoot(t, "audit netlink, cgroups, seccomp helper")
	server := startTestDaemon(t)

	unit := fmt.Sprintf("sw-cli-%d.service", os.Getpid())
	cgs, remove, err := denier.UnitCgroups(fmt.Sprintf("swtest-c%d.slice", os.Getpid()), unit)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	// A busy neighbour: 2,000 denials of another unit around the test's
	// own, more than a 100-entry ring holds.
	ncgs, nremove, err := denier.UnitCgroups(fmt.Sprintf("swtest-c%d.slice", os.Getpid()), fmt.Sprintf("sw-cli-neighbour-%d.service", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer nremove()
	neighbour, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: 2000, Cgroups: ncgs})
	if err != nil {
		t.Fatal(err)
	}
	if err := neighbour.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: 2, Cgroups: cgs})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	if err := neighbour.Wait(); err != nil {
		t.Fatalf("neighbour: %v", err)
	}

	// The recent ring first: it is the part other denials can crowd out.
	var doc struct {
		Denials []struct{ Unit, Syscall, Action string }
	}
	var code int
	var out, errs string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		doc.Denials = nil
		code, out, errs = run(t, "", "denials", "--server", server, "--unit", unit, "--output", "json")
		if code == 0 && json.Unmarshal([]byte(out), &doc) == nil && len(doc.Denials) >= 2 {
			break
		}
	}
	if len(doc.Denials) != 2 || doc.Denials[0].Syscall != "getcpu" || doc.Denials[0].Unit != unit {
		t.Fatalf("denials: exit %d %s %s", code, out, errs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, out, _ = run(t, "", "suggest", "--server", server, unit)
		if code == 0 && strings.Contains(out, "\n# SystemCallFilter=getcpu\n") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "\n# SystemCallFilter=getcpu\n") {
		t.Fatalf("suggest %s from the daemon:\n%s", unit, out)
	}
	// A bare name is a .service, as in systemctl; the server comes from
	// the environment.
	t.Setenv("SECCOMPWATCH_SERVER", server)
	bare := strings.TrimSuffix(unit, ".service")
	code, out, errs = run(t, "", "denials", "--unit", bare, "--output", "jsonl")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var rec struct{ Unit, Syscall string }
	if code != 0 || len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &rec) != nil || rec.Unit != unit || rec.Syscall != "getcpu" {
		t.Fatalf("denials --output jsonl: exit %d %q %s", code, out, errs)
	}
	arch := pipeline.NativeArch()
	nr, _ := syscalls.Number(arch, "getcpu")
	code, out, errs = run(t, "", "denials", "--unit", bare)
	if code != 0 || strings.Count(out, "\n") != 2 || strings.Count(out, " "+unit+" pid=") != 2 || strings.Count(out, fmt.Sprintf(" %s getcpu(%d) errno groups=", arch, nr)) != 2 {
		t.Fatalf("denials (text): exit %d %q %s", code, out, errs)
	}
	if code, out, errs := run(t, "", "suggest", bare); code != 0 || !strings.Contains(out, "\n# SystemCallFilter=getcpu\n") {
		t.Fatalf("suggest %s: exit %d %s %s", bare, code, out, errs)
	}
	code, _, errs = run(t, "", "suggest", "nothere")
	if want := "seccompwatch suggest: the daemon at " + server + " has recorded no denials of nothere.service\n"; code != ExitError || errs != want {
		t.Errorf("unknown unit: exit %d, %q; want %q", code, errs, want)
	}
	code, _, errs = run(t, "", "denials", "--limit", "0")
	if want := "seccompwatch denials: the daemon at " + server + " answered: limit must be a positive integer (HTTP 400)\n"; code != ExitError || errs != want {
		t.Errorf("bad limit: exit %d, %q; want %q", code, errs, want)
	}
	// The unit runs on the host: found as .host's, not as a container's.
	if code, out, errs := run(t, "", "suggest", "--server", server, "--machine", ".host", unit); code != ExitOK || !strings.Contains(out, "\n# SystemCallFilter=getcpu\n") {
		t.Errorf("--machine .host: exit %d, %s %s", code, out, errs)
	}
	if code, _, errs := run(t, "", "suggest", "--server", server, "--machine", "web", unit); code != ExitError || !strings.Contains(errs, "has recorded no denials of "+unit+" in machine web\n") {
		t.Errorf("--machine web: exit %d, %s", code, errs)
	}
}

// startTestDaemon runs a real daemon (multicast, no D-Bus, an empty units
// root, systemd 252's table) until the test ends and returns its URL once
// it is subscribed to the audit stream (a denial made before that is never
// seen).
func startTestDaemon(t *testing.T) string {
	t.Helper()
	return startTestDaemonOn(t, "")
}

// startTestDaemonOn is startTestDaemon that also serves the API on the
// unix socket sock (when not empty).
func startTestDaemonOn(t *testing.T, sock string) string {
	t.Helper()
	log, err := logging.New("console", "warn")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Config{
		ListenAddress: "127.0.0.1:0", AuditMode: "multicast", DBusAddress: "none",
		UnitsRoot: t.TempDir(), SystemdTable: "252", RecentDenials: 1 << 16, UnixSocket: sock,
	}, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	// Healthy means subscribed to the audit stream: a denial made before
	// that is never seen.
	var server string
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if a := d.Addr(); a != "" {
			server = "http://" + a
			if resp, err := http.Get(server + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("daemon not healthy within 10s")
		}
	}

	return server
}

// TestUserAndMachineUnitCommands: the commands the denial alerts name work
// as written for a unit of a user manager (labelled
// user@UID.service/NAME) and for a container's unit (--machine NAME), with
// real denials in cgroups of those shapes. A system unit of the user
// unit's name is denied another call: neither ever answers for the other.
func TestUserAndMachineUnitCommands(t *testing.T) {
	testutil.RequireRoot(t, "audit netlink, cgroups, seccomp helper")
	sock := filepath.Join(t.TempDir(), "api.sock")
	server := startTestDaemonOn(t, sock)
	pid := os.Getpid()
	uid := 40000 + pid%20000
	unit := fmt.Sprintf("sw-cli-user-%d.service", pid)
	user := fmt.Sprintf("user@%d.service/%s", uid, unit)
	machine := fmt.Sprintf("swcli%d", pid)
	mUnit := fmt.Sprintf("sw-cli-m-%d.service", pid)
	cgroups := func(slice, unit string) []string {
		dirs, remove, err := denier.UnitCgroups(slice, unit)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
		return dirs
	}
	denyIn := func(cgs []string, syscall string) {
		cmd, err := denier.Command(denier.Spec{Syscall: syscall, Action: "errno", Log: true, Cgroups: cgs})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helper: %v %s", err, out)
		}
	}
	denyIn(cgroups(fmt.Sprintf("user.slice/user-%d.slice/user@%d.service/app.slice", uid, uid), unit), "getcpu")
	denyIn(cgroups(fmt.Sprintf("swtest-u%d.slice", pid), unit), "uname")
	denyIn(cgroups(fmt.Sprintf("machine.slice/machine-%s.scope/payload/system.slice", machine), mUnit), "sysinfo")

	// As the alert's description writes them (deploy/prometheus), and
	// the bare-name forms systemctl users type.
	for _, tc := range []struct {
		args      []string
		want      string // in stdout
		forbidden string // never in stdout
	}{
		{[]string{"why", user, "getcpu"}, "getcpu", "uname"},
		{[]string{"why", user}, "getcpu", "uname"},
		{[]string{"suggest", user}, "SystemCallFilter=getcpu", "uname"},
		{[]string{"suggest", strings.TrimSuffix(user, ".service")}, "SystemCallFilter=getcpu", "uname"},
		{[]string{"denials", "--unit", user}, "getcpu", "uname"},
		{[]string{"why", unit}, "uname", "getcpu"},
		{[]string{"suggest", unit}, "SystemCallFilter=uname", "getcpu"},
		{[]string{"denials", "--unit", unit}, "uname", "getcpu"},
		{[]string{"why", "--machine", machine, mUnit, "sysinfo"}, "sysinfo", ""},
		{[]string{"suggest", "--machine", machine, mUnit}, "SystemCallFilter=sysinfo", ""},
	} {
		args := append(tc.args, "--server", server)
		var code int
		var out, errs string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if code, out, errs = run(t, "", args...); code == ExitOK && strings.Contains(out, tc.want) {
				break
			}
		}
		if code != ExitOK || !strings.Contains(out, tc.want) || tc.forbidden != "" && strings.Contains(out, tc.forbidden) {
			t.Errorf("%q: exit %d, want %q and not %q in stdout:\n%s\nstderr: %s", args, code, tc.want, tc.forbidden, out, errs)
		}
	}
	// The user unit's drop-in is a user unit's, and says so.
	if _, out, _ := run(t, "", "suggest", "--server", server, user); !strings.Contains(out, fmt.Sprintf("User manager: user@%d.service", uid)) {
		t.Errorf("suggest %s does not name the user manager:\n%s", user, out)
	}
	// A container's unit is not found as the host's.
	if code, _, errs := run(t, "", "why", "--server", server, "--machine", ".host", mUnit); code != ExitError || !strings.Contains(errs, "no denials") {
		t.Errorf("why --machine .host %s: exit %d, %s", mUnit, code, errs)
	}
	// learn changes system units only: a user unit is refused with what
	// to do instead, before anything is read or written.
	if code, out, errs := run(t, "", "learn", user); code != ExitUsage || out != "" || !strings.Contains(errs, "works on system units only: seccompwatch suggest "+user+" shows") {
		t.Errorf("learn %s: exit %d, %q %q", user, code, out, errs)
	}
	// apply and why (as root, over the unix socket) read a user's unit
	// from that user's own manager, here not running: unknown with that
	// reason, nothing applied; a system unit's flags are refused.
	noManager := fmt.Sprintf("user %d's service manager is not running (no /run/user/%d/systemd/private)", uid, uid)
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout
		errs string // in stderr
	}{
		{[]string{"why", "--daemon.socket", sock, user, "getcpu"}, ExitOK, "verdict: unknown", ""},
		{[]string{"why", "--daemon.socket", sock, user, "getcpu"}, ExitOK, noManager, ""},
		{[]string{"apply", "--daemon.socket", sock, "--yes", user}, ExitError, "", noManager},
		{[]string{"apply", "--daemon.socket", sock, "--yes", user}, ExitError, "", "configuration is unknown"},
		{[]string{"apply", "--daemon.socket", sock, "--all-users", "--yes", user}, ExitError, "", noManager},
		{[]string{"apply", "--daemon.socket", sock, "--yes", fmt.Sprintf("user@%d.service/other.service", uid)}, ExitError, "", "no denials"},
		{[]string{"apply", "--machine", "web", user}, ExitUsage, "", "not with --machine"},
		{[]string{"apply", "--root", t.TempDir(), user}, ExitUsage, "", "not with --machine, --learned, --replay, --root"},
		{[]string{"apply", "--all-users", unit}, ExitUsage, "", "--all-users is for a user's unit"},
	} {
		code, out, errs := run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.errs) {
			t.Errorf("%q: exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", tc.args, code, tc.code, out, tc.out, errs, tc.errs)
		}
	}
	if _, err := os.Stat(fmt.Sprintf("/etc/systemd/user/%s.d", unit)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("apply of an unknown user unit wrote /etc/systemd/user/%s.d: %v", unit, err)
	}
	for _, bad := range []string{"user@01.service/a.service", "user@1.service/a/b.service", "user@x.service/a.service"} {
		if code, _, errs := run(t, "", "why", "--server", server, bad); code != ExitUsage || !strings.Contains(errs, "invalid unit name") {
			t.Errorf("why %s: exit %d, %s", bad, code, errs)
		}
	}
}
