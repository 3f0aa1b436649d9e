package cli

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// TestApplyMachineTarget: --machine's root and bus go together, and a root
// that is the host's own is refused before anything is fetched or
// written (the machine case itself, leader and all, is TestContainerApply
// on systemd in nspawn).
func TestApplyMachineTarget(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--machine", "web", "--root", t.TempDir()}, "give both --root and --dbus.address, or neither"},
		{[]string{"--machine", "web", "--dbus.address", "unix:path=/x"}, "give both --root and --dbus.address, or neither"},
		{[]string{"--machine", "web", "--root", "/proc/self/root", "--dbus.address", "unix:path=/x"}, "is the host's own root"},
		{[]string{"--machine", "../x"}, "--machine needs a machine name"},
	} {
		code, _, errs := run(t, "", append(append([]string{"apply", "--daemon.socket", sock, "--yes"}, tc.args...), "foo.service")...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("apply %s: exit %d %q, want %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}

// TestApplyNotRead: a daemon whose D-Bus call for the unit timed out says
// so in the suggestion (unknown, retry); apply asks it again, then fails
// saying systemd did not answer (and how often it asked), not that the
// unit's configuration is unknown; an answer that comes on a later try is
// used.
func TestApplyNotRead(t *testing.T) {
	testutil.RequireRoot(t, "apply trusts only a socket root could have made")
	old := notReadRetries
	notReadRetries = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	defer func() { notReadRetries = old }()
	const notRead = `{"version":1,"suggestions":[{"unit":"tmpl70@bar.service","machine":"","user_uid":null,"applicable":true,"mode":"unknown","lines":[],"arch_notes":[],"warnings":[],` +
		`"unknown":{"reason":"unitprops: D-Bus call timed out: systemd did not answer within 2s (properties of tmpl70@bar.service)","retry":true}}]}`
	const unknown = `{"version":1,"suggestions":[{"unit":"tmpl70@bar.service","machine":"","user_uid":null,"applicable":true,"mode":"unknown","lines":[],"arch_notes":[],"warnings":[],` +
		`"unknown":{"reason":"no unit file of this name was found (unit-files)","retry":false}}]}`
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	answers := []string{notRead}
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(asked.Add(1))
		mu.Lock()
		a := answers[min(n, len(answers))-1]
		mu.Unlock()
		_, _ = io.WriteString(w, a)
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	code, _, errs := run(t, "", "apply", "--daemon.socket", sock, "--yes", "tmpl70@bar.service")
	if code != 1 || asked.Load() != 3 || !strings.Contains(errs, "the daemon could not read the unit's configuration from systemd: unitprops: D-Bus call timed out: systemd did not answer within 2s (properties of tmpl70@bar.service) (asked 3 times in") ||
		strings.Contains(errs, "configuration is unknown") {
		t.Fatalf("always timed out: exit %d, asked %d times, stderr %q", code, asked.Load(), errs)
	}
	// The second answer is a real one (unknown: no unit file): apply
	// stops asking and refuses it as unknown.
	asked.Store(0)
	mu.Lock()
	answers = []string{notRead, unknown}
	mu.Unlock()
	code, _, errs = run(t, "", "apply", "--daemon.socket", sock, "--yes", "tmpl70@bar.service")
	if code != 1 || asked.Load() != 2 || !strings.Contains(errs, "the unit's configuration is unknown to seccompwatch: no unit file of this name was found") {
		t.Fatalf("timed out, then answered: exit %d, asked %d times, stderr %q", code, asked.Load(), errs)
	}
}
