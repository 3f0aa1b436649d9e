package cli

import (
	"path/filepath"
	"strings"
	"testing"
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
