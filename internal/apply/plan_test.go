package apply

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

func table(t *testing.T) *syscalls.Table {
	t.Helper()
	tb, ok := syscalls.Bundled("252")
	if !ok {
		t.Fatal("no bundled 252 table")
	}
	return tb
}

const doc = `{"version":1,"suggestions":[{"unit":"demo.service","machine":"","user_uid":null,"applicable":true,"mode":"allow-list","lines":[%s],"arch_notes":[%s]}]}`

func build(t *testing.T, lines, arch string, o Options) (Plan, error) {
	t.Helper()
	o.Table = table(t)
	s, err := Decode(strings.NewReader(strings.Replace(strings.Replace(doc, "%s", lines, 1), "%s", arch, 1)), "demo.service", "")
	if err != nil {
		return Plan{}, err
	}
	return Build(s, o)
}

func TestBuild(t *testing.T) {
	swapoff := `{"directive":"SystemCallFilter=swapoff","syscalls":["swapoff"],"risky":true,"included":true,"verdict":{"kind":"filter"}}`
	chown := `{"directive":"SystemCallFilter=chown","syscalls":["chown"],"included":true,"verdict":{"kind":"filter"}}`
	mdwe := `{"directive":"MemoryDenyWriteExecute=no","syscalls":["mmap"],"included":true,"verdict":{"kind":"directive"},"lifts":"MemoryDenyWriteExecute","needs":["MemoryDenyWriteExecute"]}`
	removed := `{"directive":"SystemCallFilter=chown","syscalls":["chown"],"included":true,"verdict":{"kind":"filter-removed"}}`
	arch := `{"arch":"i386","systemd_name":"x86","directive":"SystemCallArchitectures=x86","syscalls":["read"],"included":true}`
	for _, tc := range []struct {
		name, lines, arch string
		o                 Options
		want              []string // items written
		held              int
		err               error
	}{
		{name: "plain", lines: chown, want: []string{"SystemCallFilter=chown"}},
		{name: "risky held", lines: swapoff, held: 1},
		{name: "risky allowed", lines: swapoff, o: Options{AllowRisky: true}, want: []string{"SystemCallFilter=swapoff"}},
		// The data says risky false: the local table says otherwise.
		{name: "risky by local table", lines: strings.Replace(swapoff, `"risky":true`, `"risky":false`, 1), held: 1},
		{name: "directive held", lines: mdwe, o: Options{AllowRisky: true}, held: 1},
		// Needs forged away: a directive's =no is deliberate all the same.
		{name: "directive needs forged", lines: strings.Replace(mdwe, `"needs":["MemoryDenyWriteExecute"]`, `"needs":[]`, 1), held: 1},
		{name: "directive allowed", lines: mdwe, o: Options{Allow: map[string]bool{"MemoryDenyWriteExecute": true}}, want: []string{"MemoryDenyWriteExecute=no"}},
		{name: "removal held", lines: removed, held: 1},
		{name: "removal allowed", lines: removed, o: Options{Allow: map[string]bool{"chown": true}}, want: []string{"SystemCallFilter=chown"}},
		{name: "arch held", arch: arch, held: 1},
		{name: "arch allowed", arch: arch, o: Options{Allow: map[string]bool{"SystemCallArchitectures": true}}, want: []string{"SystemCallArchitectures=x86"}},
		{name: "not included", lines: strings.Replace(chown, `"included":true`, `"included":false`, 1), held: 1},
		{name: "newline in name", lines: `{"directive":"SystemCallFilter=chown\nExecStartPre=/bin/sh","syscalls":["chown\nExecStartPre=/bin/sh"],"included":true,"verdict":{"kind":"filter"}}`, err: ErrInvalid},
		{name: "directive not matching", lines: `{"directive":"SystemCallFilter=chown\nExecStart=/x","syscalls":["chown"],"included":true,"verdict":{"kind":"filter"}}`, err: ErrInvalid},
		{name: "other directive", lines: `{"directive":"ExecStart=/bin/sh","syscalls":["chown"],"included":true,"verdict":{"kind":"directive"},"lifts":"ExecStart"}`, err: ErrInvalid},
		{name: "directive =yes", lines: strings.Replace(mdwe, `"MemoryDenyWriteExecute=no"`, `"MemoryDenyWriteExecute=yes"`, 1), err: ErrInvalid},
		{name: "unknown group", lines: `{"directive":"SystemCallFilter=@evil","syscalls":["chown"],"group":"@evil","included":true,"verdict":{"kind":"filter"}}`, err: ErrInvalid},
		{name: "bad abi", arch: strings.Replace(arch, `"x86"`, `"x86 \nExecStart=/x"`, 1), err: ErrInvalid},
		{name: "no verdict", lines: `{"directive":"SystemCallFilter=chown","syscalls":["chown"],"included":true}`, err: ErrUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := build(t, tc.lines, tc.arch, tc.o)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range p.Items {
				got = append(got, it.Line())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(p.Held) != tc.held {
				t.Fatalf("items %q held %q, want %q and %d held", got, p.Held, tc.want, tc.held)
			}
			for _, h := range p.Held {
				if strings.ContainsAny(h, "\n\r") {
					t.Errorf("held line with a newline: %q", h)
				}
			}
		})
	}
}

func TestUnknownMode(t *testing.T) {
	s, err := Decode(strings.NewReader(`{"version":1,"suggestions":[{"unit":"demo.service","applicable":true,"mode":"unknown","warnings":["no unit file"]}]}`), "demo.service", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(s, Options{Table: table(t)}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("err %v, want ErrUnknown", err)
	}
	if _, err := Decode(strings.NewReader(`{"version":2,"suggestions":[]}`), "demo.service", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("version 2: %v", err)
	}
	if _, err := Decode(strings.NewReader(`{"version":1,"suggestions":[{"unit":"other.service"}]}`), "demo.service", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other unit: %v", err)
	}
}

func TestFileRoundTrip(t *testing.T) {
	tb := table(t)
	f := File{Unit: "demo.service", CreatedDir: true, Items: []Item{
		{Key: "SystemCallFilter", Values: []string{"swapoff"}, Calls: []string{"swapoff"}, Kind: "filter"},
		{Key: "MemoryDenyWriteExecute", Values: []string{"no"}, Calls: []string{"mmap", "mprotect"}, Kind: "directive"},
	}}
	text := f.Render("seccompwatch test")
	g, err := Parse(text, "demo.service", tb)
	if err != nil {
		t.Fatal(err)
	}
	if g.Render("seccompwatch test") != text {
		t.Fatalf("round trip:\n%s\nvs\n%s", g.Render("seccompwatch test"), text)
	}
	// Merging what is there adds nothing: idempotent.
	if _, added := Merge(g, f.Items); added {
		t.Error("merging the same items added something")
	}
	m, added := Merge(g, []Item{{Key: "SystemCallFilter", Values: []string{"chown"}, Calls: []string{"chown"}, Kind: "filter"}})
	if !added || len(m.Items) != 3 {
		t.Errorf("merge: %v %+v", added, m.Items)
	}
	// An edited file is not ours any more.
	edited := strings.Replace(text, "SystemCallFilter=swapoff", "SystemCallFilter=swapoff mount", 1)
	if _, err := Parse(edited, "demo.service", tb); !errors.Is(err, ErrNotOurs) {
		t.Errorf("edited file: %v", err)
	}
	if _, err := Parse("[Service]\nSystemCallFilter=swapoff\n", "demo.service", tb); !errors.Is(err, ErrNotOurs) {
		t.Errorf("hand-written file: %v", err)
	}
	// Write, then Remove removes the file and the directory it made.
	dir := t.TempDir()
	path, err := Path(dir, "demo.service", false)
	if err != nil {
		t.Fatal(err)
	}
	created, err := Write(path, text)
	if err != nil || !created {
		t.Fatalf("write: %v %v", created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	if removed, err := Remove(path, "demo.service", tb); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory left: %v", err)
	}
	if removed, err := Remove(path, "demo.service", tb); err != nil || removed {
		t.Fatalf("second remove: %v %v", removed, err)
	}
}

func TestCheckSocketPath(t *testing.T) {
	testutil.RequireRoot(t, "the directories of a trusted socket are root's")
	dir := t.TempDir() // below /tmp: sticky, then root's own
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := CheckSocketPath(sock); err != nil {
		t.Fatalf("trusted socket refused: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSocketPath(sock); !errors.Is(err, ErrUntrusted) {
		t.Errorf("world-writable directory: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSocketPath(sock); !errors.Is(err, ErrUntrusted) {
		t.Errorf("directory of another user: %v", err)
	}
	if _, err := CheckSocketPath(filepath.Join(dir, "missing")); !errors.Is(err, ErrUntrusted) {
		t.Errorf("missing socket: %v", err)
	}
}
