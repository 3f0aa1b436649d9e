package units

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
)

var update = flag.Bool("update", false, "update golden files")

func TestParseCgroupPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want Unit
		err  error
	}{
		{"/system.slice/nginx.service", Unit{Name: "nginx.service", Kind: KindService, Slice: "system.slice", UID: -1}, nil},
		{"/system.slice/system-getty.slice/getty@tty1.service", Unit{Name: "getty@tty1.service", Kind: KindService, Slice: "system-getty.slice", UID: -1}, nil},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/app.service", Unit{Name: "app.service", Kind: KindService, Slice: "app.slice", UID: 1000}, nil},
		{"/user.slice/user-1000.slice/session-3.scope", Unit{Name: "session-3.scope", Kind: KindScope, Slice: "user-1000.slice", UID: -1}, nil},
		{"/user.slice/user-1000.slice/user@1000.service/init.scope", Unit{Name: "user@1000.service", Kind: KindService, Slice: "user-1000.slice", UID: -1}, nil},
		{"/machine.slice/machine-foo.scope/payload/system.slice/demo.service", Unit{Name: "demo.service", Kind: KindService, Slice: "system.slice", UID: -1, Machine: "foo"}, nil},
		{`/machine.slice/machine-my\x2dbox.scope/payload/init.scope`, Unit{Name: "init.scope", Kind: KindScope, UID: -1, Machine: "my-box"}, nil},
		{"/machine.slice/systemd-nspawn@web.service/payload/system.slice/demo.service", Unit{Name: "demo.service", Kind: KindService, Slice: "system.slice", UID: -1, Machine: "web"}, nil},
		// A container's own user manager.
		{"/machine.slice/machine-foo.scope/payload/user.slice/user-1000.slice/user@1000.service/app.slice/a.service", Unit{Name: "a.service", Kind: KindService, Slice: "app.slice", UID: 1000, Machine: "foo"}, nil},
		// Only machine.slice holds containers (only root creates cgroups
		// there): a "payload" anyone makes in a subtree delegated to them
		// is a directory of the subtree's owner, never a container whose
		// units would carry system units' names.
		{"/user.slice/user-1000.slice/user@1000.service/x/payload/system.slice/sshd.service", Unit{Name: "user@1000.service", Kind: KindService, Slice: "user-1000.slice", UID: -1}, nil},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/a.service/payload/system.slice/sshd.service", Unit{Name: "a.service", Kind: KindService, Slice: "app.slice", UID: 1000}, nil},
		{"/system.slice/build.service/payload/system.slice/sshd.service", Unit{Name: "build.service", Kind: KindService, Slice: "system.slice", UID: -1}, nil},
		{"/system.slice/systemd-nspawn@web.service/payload/system.slice/demo.service", Unit{Name: "systemd-nspawn@web.service", Kind: KindService, Slice: "system.slice", UID: -1}, nil},
		{"/CG/payload/system.slice/x.service", Unit{UID: -1}, ErrNotInUnit},
		{"/machine.slice/machine-foo.scope/x/payload/system.slice/sshd.service", Unit{Name: "machine-foo.scope", Kind: KindScope, Slice: "machine.slice", UID: -1}, nil},
		{"/machine.slice/sub.slice/machine-foo.scope/payload/system.slice/sshd.service", Unit{Name: "machine-foo.scope", Kind: KindScope, Slice: "sub.slice", UID: -1}, nil},
		// Inside a container, a delegated subtree is again its owner's.
		{"/machine.slice/machine-foo.scope/payload/system.slice/build.service/payload/system.slice/sshd.service", Unit{Name: "build.service", Kind: KindService, Slice: "system.slice", UID: -1, Machine: "foo"}, nil},
		{"/machine.slice/libpod-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
			Unit{Name: "libpod-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", Kind: KindScope, Slice: "machine.slice", UID: -1,
				Machine: "libpod-0123456789ab", ContainerID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, nil},
		{"/system.slice/myapp.service/libpod-payload-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Unit{Name: "myapp.service", Kind: KindService, Slice: "system.slice", UID: -1,
				Machine: "libpod-0123456789ab", ContainerID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, nil},
		{"/system.slice/docker.service/sub/dir", Unit{Name: "docker.service", Kind: KindService, Slice: "system.slice", UID: -1}, nil},
		{"/init.scope", Unit{Name: "init.scope", Kind: KindScope, UID: -1}, nil},
		// systemd's cg_escape prefixes "_" to names that start with "_" or
		// "." or a controller name and a dot; cg_unescape drops one.
		{"/system.slice/_cpu.service", Unit{Name: "cpu.service", Kind: KindService, Slice: "system.slice", UID: -1}, nil},
		{"/system.slice/__foo.service", Unit{Name: "_foo.service", Kind: KindService, Slice: "system.slice", UID: -1}, nil},
		{"/_memory.slice/x.service", Unit{Name: "x.service", Kind: KindService, Slice: "memory.slice", UID: -1}, nil},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/_io.service", Unit{Name: "io.service", Kind: KindService, Slice: "app.slice", UID: 1000}, nil},
		{"/", Unit{UID: -1}, ErrNotInUnit},
		{"/system.slice", Unit{UID: -1}, ErrNotInUnit},
		{"/machine.slice/machine-foo.scope/payload", Unit{UID: -1, Machine: "foo"}, ErrNotInUnit},
		{"/system.slice/x.timer", Unit{UID: -1}, ErrNotInUnit},
		{"/system.slice/foo@.service", Unit{UID: -1}, ErrNotInUnit},
		{"/system.slice/bad\nname.service", Unit{UID: -1}, ErrNotInUnit},
		{"/system.slice/" + strings.Repeat("a", 300) + ".service", Unit{UID: -1}, ErrNotInUnit},
		{"relative.service", Unit{UID: -1}, ErrBadPath},
		{"", Unit{UID: -1}, ErrBadPath},
		{"/" + strings.Repeat("x/", 3000), Unit{UID: -1}, ErrBadPath},
	}
	for _, tc := range tests {
		t.Run(tc.path[:min(len(tc.path), 60)], func(t *testing.T) {
			got, err := ParseCgroupPath(tc.path)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			got.Path = ""
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ParseCgroupPath(%q) (-want +got):\n%s", tc.path, d)
			}
		})
	}
}

// TestUnitKind: only complete names (unitname's rules) of the types that
// own processes have a kind.
func TestUnitKind(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"a.service": KindService, "getty@tty1.service": KindService, "a@b@c.service": KindService, `x\x2dy.scope`: KindScope,
		"user-1000.slice": KindSlice, "a.socket": KindSocket, "-.mount": KindMount, "a.swap": KindSwap, ".a.service": KindService,
		"foo@.service": "", "@x.service": "", ".service": "", "a.timer": "", "foo.target": "", "a b.service": "",
		"a.service\n": "", strings.Repeat("a", 250) + ".service": "", "": "", "noext": "",
	} {
		if got := unitKind(name); got != want {
			t.Errorf("unitKind(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		path string
		v2   bool
		err  error
	}{
		{"hybrid.txt", "/system.slice/nginx.service", true, nil},
		{"zombie.txt", "/system.slice/x.service", true, nil},
		{"v1.txt", "/system.slice/a.service", false, nil},
		// A legacy (v1) host where cgroup2 was mounted once: every task
		// shows "0::/", and only name=systemd names the unit.
		{"legacy.txt", "/system.slice/legacy.service", false, nil},
		{"v2.txt", "/system.slice/pure.service", true, nil},
		{"none.txt", "", false, ErrNoCgroup},
	}
	for _, tc := range tests {
		b, err := os.ReadFile(filepath.Join("testdata/proc", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		p, v2, err := ParseProcCgroup(b)
		if p != tc.path || v2 != tc.v2 || !errors.Is(err, tc.err) {
			t.Errorf("%s: got %q %v %v, want %q %v %v", tc.file, p, v2, err, tc.path, tc.v2, tc.err)
		}
	}
}

func TestParseStatStart(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ParseStatStart(b); err != nil || v == 0 {
		t.Fatalf("own stat: %d %v", v, err)
	}
	hostile := []byte("1 (a) b) c (d) S" + strings.Repeat(" 0", 18) + " 42 0")
	if v, err := ParseStatStart(hostile); err != nil || v != 42 {
		t.Fatalf("hostile comm: %d %v", v, err)
	}
	if _, err := ParseStatStart([]byte("1 (x) S 1")); err == nil {
		t.Fatal("short stat accepted")
	}
}

// TestGolden renders testdata/paths.txt through ParseCgroupPath.
func TestGolden(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/paths.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		u, err := ParseCgroupPath(sc.Text())
		e := ""
		if err != nil {
			e = err.Error()
		}
		b, _ := json.Marshal(struct {
			Unit
			Err string `json:"err,omitempty"`
		}{u, e})
		out.Write(b)
		out.WriteByte('\n')
	}
	golden := "testdata/paths.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), out.String()); d != "" {
		t.Errorf("golden mismatch (-want +got):\n%s", d)
	}
}

func FuzzParseCgroupPath(f *testing.F) {
	b, err := os.ReadFile("testdata/paths.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, path string) {
		u, err := ParseCgroupPath(path)
		if err != nil {
			if u.Name != "" {
				t.Fatalf("error %v with a unit %q", err, u.Name)
			}
			return
		}
		if !unitname.Valid(u.Name, unitname.Plain|unitname.Instance) || u.Kind == "" || u.Kind == KindSlice {
			t.Fatalf("invalid unit %+v from %q", u, path)
		}
		if !strings.Contains(path, u.Name) && !strings.HasPrefix(u.Name, "user@") {
			t.Fatalf("unit %q not in path %q", u.Name, path)
		}
		if strings.ContainsAny(u.Name+u.Slice, "\n\x00/ ") || u.Machine != "" && !event.ValidMachineName(u.Machine) {
			t.Fatalf("hostile bytes in %+v", u)
		}
		// Only root-made cgroups start a container (libpod ids aside).
		if u.Machine != "" && u.ContainerID == "" && !strings.HasPrefix(strings.TrimLeft(path, "/"), "machine.slice/") {
			t.Fatalf("container %q outside machine.slice: %q", u.Machine, path)
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	ents, _ := os.ReadDir("testdata/proc")
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join("testdata/proc", e.Name()))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := ParseProcCgroup(b)
		if err == nil && (p == "" || p[0] != '/' || strings.Contains(p, "\n")) {
			t.Fatalf("bad path %q", p)
		}
		_, _ = ParseCgroupPath(p)
		_, _ = ParseStatStart(b)
	})
}
