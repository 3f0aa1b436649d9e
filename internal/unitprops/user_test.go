package unitprops

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestCheckUserManager: why a user manager cannot be asked, from what is
// on disk (a runtime directory of the test's own).
func TestCheckUserManager(t *testing.T) {
	dir := t.TempDir()
	old := userRuntimeDir
	userRuntimeDir = dir
	t.Cleanup(func() { userRuntimeDir = old })
	me := os.Geteuid()
	// A listening socket for uid me (root or the user itself may ask).
	if err := os.MkdirAll(filepath.Join(dir, itoa(me), "systemd"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", UserManagerSocket(me))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other := me + 4242
	if err := os.MkdirAll(filepath.Join(dir, itoa(other), "systemd"), 0o700); err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("unix", UserManagerSocket(other))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	for _, tc := range []struct {
		name string
		uid  int
		want string // "" for nil
	}{
		{"its own user (or root)", me, ""},
		{"not running", me + 1, "is not running (no " + dir + "/"},
		{"invalid uid", -1, "invalid uid"},
		{"another user's, as a third uid", other, map[bool]string{true: "", false: "answers only root and uid"}[me == 0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUserManager(tc.uid)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckUserManager(%d) = %v", tc.uid, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckUserManager(%d) = %v, want %q", tc.uid, err, tc.want)
			}
		})
	}
	if addr := UserManagerAddress(7); addr != "unix:path="+dir+"/7/systemd/private" {
		t.Errorf("address %s", addr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestOpenNoFollow: a symbolic link anywhere in the path is refused
// (ELOOP), so a root reader of a user's drop-ins reads only what is there.
func TestOpenNoFollow(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real.d")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "a.conf"), []byte("[Service]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(secret, filepath.Join(real, "b.conf")))
	must(t, os.Symlink(real, filepath.Join(dir, "link.d")))
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{filepath.Join(real, "a.conf"), true},
		{filepath.Join(real, "b.conf"), false},             // the file is a link
		{filepath.Join(dir, "link.d", "a.conf"), false},    // a directory is
		{filepath.Join(dir, "missing.d", "a.conf"), false}, // nothing there
	} {
		f, err := OpenNoFollow(tc.path)
		if err == nil {
			f.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("OpenNoFollow(%s) = %v, want ok %v", tc.path, err, tc.ok)
		}
		if !tc.ok && strings.Contains(tc.path, "link") && !errors.Is(err, syscall.ELOOP) {
			t.Errorf("OpenNoFollow(%s) = %v, want ELOOP", tc.path, err)
		}
	}
	got := readDropIns("", []string{filepath.Join(real, "a.conf"), filepath.Join(real, "b.conf"), filepath.Join(dir, "link.d", "a.conf")}, true)
	if len(got) != 1 || got[filepath.Join(real, "a.conf")] != "[Service]\n" {
		t.Errorf("readDropIns without links = %v", got)
	}
	if got := readDropIns("", []string{filepath.Join(real, "b.conf")}, false); got[filepath.Join(real, "b.conf")] != "secret" {
		t.Errorf("readDropIns of a system unit follows links as systemd does: %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
