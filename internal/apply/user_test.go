package apply

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// TestMain makes the test binary the child of a user file operation, as
// the seccompwatch binary is (cli.Main checks AsUserCommand first).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == AsUserCommand {
		os.Exit(RunAsUserChild(os.Args[2:], os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

func TestUserPath(t *testing.T) {
	for _, tc := range []struct {
		home, unit, want, err string
	}{
		{"/home/u", "build.service", "/home/u/.config/systemd/user/build.service.d/50-seccompwatch.conf", ""},
		{"/home/u/", "a@b.service", "/home/u/.config/systemd/user/a@b.service.d/50-seccompwatch.conf", ""},
		{"/", "build.service", "", "not an absolute directory of its own"},
		{"", "build.service", "", "not an absolute directory"},
		{"home/u", "build.service", "", "not an absolute directory"},
		{"/home/u", "../x.service", "", "invalid"},
		{"/home/u", "build", "", "invalid"},
	} {
		got, err := UserPath(tc.home, tc.unit)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("UserPath(%q, %q) = %q, %v, want %q", tc.home, tc.unit, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.err)):
			t.Errorf("UserPath(%q, %q) = %q, %v, want an error with %q", tc.home, tc.unit, got, err, tc.err)
		}
	}
}

// TestChildRefusesRoot: the child never does a user's file operation with
// root's credentials (it would follow the user's links with them), and
// takes only its three operations on absolute paths.
func TestChildRefusesRoot(t *testing.T) {
	for _, args := range [][]string{
		{"read", "/tmp/x"}, {"write", "relative"}, {"remove", "/x"}, {"chmod", "/x"}, {},
	} {
		r := childOp(args, strings.NewReader(""))
		if r.Error == "" {
			t.Errorf("childOp(%q) did it: %+v", args, r)
		}
		if os.Geteuid() == 0 && r.Error != "refusing to run as root" {
			t.Errorf("childOp(%q) as root: %q", args, r.Error)
		}
	}
}

// TestAsUser runs the file operations as uid 65534 (root only: it
// changes credentials) below a home that user owns: what it writes is
// that user's, mode 0644; a symbolic link the user planted to a root-owned
// directory or file is followed only with the user's rights, so nothing
// is written there and nothing root-only is read.
func TestAsUser(t *testing.T) {
	testutil.RequireRoot(t, "the operations run as another uid")
	const uid, gid = 65534, 65534
	base, err := os.MkdirTemp("", "sw-asuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// The child binary must be executable by the user: a copy of the test
	// binary next to the home (go test's build directory is root's alone).
	exe := filepath.Join(base, "apply.test")
	copyFile(t, "/proc/self/exe", exe, 0o755)
	home := filepath.Join(base, "home")
	secret := filepath.Join(base, "secret")
	rootDir := filepath.Join(base, "rootdir")
	for _, d := range []string{home, rootDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := User{UID: uid, GID: gid, Home: home, Exe: exe}
	path, _ := UserPath(home, "build.service")

	if _, exists, dirExists, err := u.ReadAs(path); err != nil || exists || dirExists {
		t.Fatalf("read before: exists %v dir %v %v", exists, dirExists, err)
	}
	created, err := u.WriteAs(path, "[Service]\nSystemCallFilter=getcpu\n")
	if err != nil || !created {
		t.Fatalf("write: created %v %v", created, err)
	}
	for _, p := range []string{path, filepath.Dir(path), filepath.Join(home, ".config")} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is %d:%d, want the user's", p, st.Uid, st.Gid)
		}
		if p == path && fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %o", p, fi.Mode().Perm())
		}
	}
	content, exists, _, err := u.ReadAs(path)
	if err != nil || !exists || content != "[Service]\nSystemCallFilter=getcpu\n" {
		t.Fatalf("read back %q %v %v", content, exists, err)
	}
	if _, err := u.RemoveAs(path, "something else", true); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("remove of a changed file: %v", err)
	}
	if removed, err := u.RemoveAs(path, content, true); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the directory apply created stays: %v", err)
	}

	// The user's links: the drop-in directory to a root-owned directory,
	// a drop-in to a root-only file.
	linked, _ := UserPath(home, "linked.service")
	if err := os.Symlink(rootDir, filepath.Dir(linked)); err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteAs(linked, "[Service]\n"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("write through the user's link to a root directory: %v", err)
	}
	if ents, _ := os.ReadDir(rootDir); len(ents) != 0 {
		t.Errorf("written into the root directory: %v", ents)
	}
	leak, _ := UserPath(home, "leak.service")
	if err := os.MkdirAll(filepath.Dir(leak), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, leak); err != nil {
		t.Fatal(err)
	}
	if c, _, _, err := u.ReadAs(leak); err == nil || strings.Contains(c, "root only") {
		t.Errorf("read through the user's link to a root-only file: %q %v", c, err)
	}
	if _, err := u.RemoveAs(leak, "root only\n", false); err == nil {
		t.Error("removed through the user's link")
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the root-only file: %v", err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFetchRecords: a user unit's records are taken from the daemon's
// socket only when they are that unit's and name real calls (root only:
// the socket is trusted when root serves it).
func TestFetchRecords(t *testing.T) {
	testutil.RequireRoot(t, "the socket is trusted when root serves it")
	good := `{"records": {"unit": "build.service", "user_unit": true, "uid": 1000, "syscalls": [{"syscall": "pkey_alloc", "arch": "x86_64", "nr": 330, "native": true, "actions": {"kill_process": 1}, "count": 1}], "total": 1}}`
	for _, tc := range []struct {
		name, body, err string
	}{
		{"the unit's", good, ""},
		{"the system unit of that name", strings.Replace(good, `"user_unit": true, `, "", 1), "another unit"},
		{"another user's", strings.Replace(good, `"uid": 1000`, `"uid": 1001`, 1), "another unit"},
		{"a machine's", strings.Replace(good, `"uid": 1000,`, `"uid": 1000, "machine": "web",`, 1), "another unit"},
		{"a forged call name", strings.Replace(good, `"pkey_alloc"`, `"pkey_alloc\nExecStart=/bin/sh"`, 1), "no system call"},
		{"not records", `{"suggestions": []}`, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "api.sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("format") != "records" || r.URL.EscapedPath() != "/api/v1/suggestions/user@1000.service%2Fbuild.service" {
					http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
					return
				}
				io.WriteString(w, tc.body)
			})}
			go srv.Serve(l)
			defer srv.Close()
			u, err := FetchRecords(context.Background(), sock, "user@1000.service/build.service")
			switch {
			case tc.err == "" && (err != nil || u.Unit != "build.service" || u.UID != 1000 || len(u.Syscalls) != 1):
				t.Fatalf("FetchRecords = %+v, %v", u, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("FetchRecords = %+v, %v; want an error with %q", u, err, tc.err)
			}
		})
	}
}
