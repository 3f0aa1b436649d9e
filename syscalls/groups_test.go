package syscalls

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "update golden files")

func TestBundledVersions(t *testing.T) {
	t.Parallel()
	vs := BundledVersions()
	if len(vs) < 2 {
		t.Fatalf("BundledVersions() = %v; want 252 and a newer one", vs)
	}
	if !slices.IsSortedFunc(vs, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	}) {
		t.Errorf("BundledVersions() = %v; not sorted", vs)
	}
	if !slices.Contains(vs, "252") {
		t.Errorf("BundledVersions() = %v; want 252", vs)
	}
	newest := Newest()
	if newest.Version != vs[len(vs)-1] || newest.Source != "bundled systemd "+newest.Version {
		t.Errorf("Newest() = %q, %q", newest.Version, newest.Source)
	}
	for _, v := range vs {
		a, ok := Bundled(v)
		b, ok2 := Bundled("v" + v)
		if !ok || !ok2 || a != b || a.Version != v {
			t.Errorf("Bundled(%q) = %v, %v; Bundled(v%s) = %v, %v", v, a, ok, v, b, ok2)
		}
	}
	if _, ok := Bundled("1"); ok {
		t.Error("Bundled(1) found a table")
	}
}

// TestBundledNesting checks nesting resolution on every bundled version
// with facts from systemd's documentation of the groups.
func TestBundledNesting(t *testing.T) {
	t.Parallel()
	for _, v := range BundledVersions() {
		tab, _ := Bundled(v)
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				syscall string
				in      []string
				notIn   []string
			}{
				{"socket", []string{"@network-io", "@system-service", "@known"}, []string{"@privileged", "@mount"}},
				{"mount", []string{"@mount", "@known"}, []string{"@system-service"}},
				{"chown", []string{"@chown", "@privileged", "@system-service"}, nil},
				{"swapoff", []string{"@swap", "@privileged"}, []string{"@system-service"}},
				{"ptrace", []string{"@debug"}, []string{"@system-service"}},
				{"read", []string{"@basic-io", "@system-service"}, nil},
			}
			for _, tc := range tests {
				groups := tab.Groups(tc.syscall)
				for _, g := range tc.in {
					if !slices.Contains(groups, g) || !tab.InGroup(tc.syscall, g) {
						t.Errorf("%s: Groups(%s) = %v; want %s", v, tc.syscall, groups, g)
					}
				}
				for _, g := range tc.notIn {
					if slices.Contains(groups, g) || tab.InGroup(tc.syscall, g) {
						t.Errorf("%s: Groups(%s) = %v; must not contain %s", v, tc.syscall, groups, g)
					}
				}
			}
			// @system-service contains every member of the groups it nests.
			for _, g := range []string{"@basic-io", "@network-io", "@default", "@file-system"} {
				for _, s := range tab.Members(g) {
					if !tab.InGroup(s, "@system-service") {
						t.Errorf("%s: %s is in %s but not in @system-service", v, s, g)
					}
				}
			}
			// The groups @system-service lists itself (systemd-analyze
			// syscall-filter @system-service on systemd 252 and 256).
			want := []string{"@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc", "@keyring",
				"@memlock", "@network-io", "@process", "@resources", "@setuid", "@signal", "@sync", "@timer"}
			if got := tab.Includes("@system-service"); !slices.Equal(got, want) {
				t.Errorf("%s: Includes(@system-service) = %v, want %v", v, got, want)
			}
			if got := tab.Includes("@mount"); got != nil {
				t.Errorf("%s: Includes(@mount) = %v, want none", v, got)
			}
			if d := tab.Description("@mount"); d != "Mounting and unmounting of file systems" {
				t.Errorf("%s: Description(@mount) = %q", v, d)
			}
			// Every syscall in a group other than @known is a name some ABI
			// table knows, or an arch-specific name systemd lists that
			// libseccomp does not resolve on these ABIs.
			unknown := 0
			for _, g := range tab.GroupNames() {
				if g == "@known" {
					continue
				}
				for _, s := range tab.Members(g) {
					if !Known(s) {
						unknown++
					}
				}
			}
			if unknown > 20 {
				t.Errorf("%s: %d group members unknown to the number tables", v, unknown)
			}
		})
	}
}

func TestBundledDifferences(t *testing.T) {
	t.Parallel()
	old, _ := Bundled("252")
	if old.HasGroup("@sandbox") {
		t.Error("252 has @sandbox; it appeared in systemd 256")
	}
	if v, _ := strconv.Atoi(Newest().Version); v >= 256 && !Newest().InGroup("landlock_create_ruleset", "@sandbox") {
		t.Errorf("newest: landlock_create_ruleset not in @sandbox: %v", Newest().Groups("landlock_create_ruleset"))
	}
	if n := len(old.GroupNames()); n != 29 {
		t.Errorf("252 has %d groups; systemd-analyze prints 29", n)
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tab, err := Select(ctx, "252")
	if err != nil || tab.Version != "252" {
		t.Errorf("Select(252) = %v, %v", tab, err)
	}
	_, err = Select(ctx, "199")
	if !errors.Is(err, ErrUnknownTable) {
		t.Errorf("Select(199) error = %v; want ErrUnknownTable", err)
	}
	for _, v := range BundledVersions() {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("Select(199) error %q does not list %s", err, v)
		}
	}
	host, hostErr := Host(ctx)
	for _, pin := range []string{"", "auto"} {
		tab, err := Select(ctx, pin)
		if err != nil {
			t.Fatalf("Select(%q) = %v", pin, err)
		}
		want := Newest().Source
		if hostErr == nil {
			want = host.Source
		}
		if tab.Source != want {
			t.Errorf("Select(%q).Source = %q; want %q", pin, tab.Source, want)
		}
	}
	tab, err = Select(ctx, "host")
	if hostErr == nil && (err != nil || tab.Source != host.Source) {
		t.Errorf("Select(host) = %v, %v", tab, err)
	}
	if hostErr != nil && !errors.Is(err, ErrNoHost) {
		t.Errorf("Select(host) error = %v; want ErrNoHost", err)
	}
}

func TestParseAnalyzeGolden(t *testing.T) {
	t.Parallel()
	in := filepath.Join("testdata", "analyze-nested.txt")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := ParseAnalyze(f, "0", "test")
	if err != nil {
		t.Fatal(err)
	}
	got := dumpTable(tab)
	golden := in + ".golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ParseAnalyze(%s) differs from %s (run with -update):\n%s", in, golden, got)
	}
}

// dumpTable renders a table's groups, members and reverse index.
func dumpTable(tab *Table) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version %s, source %s\n", tab.Version, tab.Source)
	var all []string
	for _, g := range tab.GroupNames() {
		fmt.Fprintf(&b, "%s (%s): %s\n", g, tab.Description(g), strings.Join(tab.Members(g), " "))
		all = append(all, tab.Members(g)...)
	}
	slices.Sort(all)
	for _, s := range slices.Compact(all) {
		fmt.Fprintf(&b, "%s in %s\n", s, strings.Join(tab.Groups(s), " "))
	}
	return b.Bytes()
}

func TestParseAnalyzeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"only trailer", "# Not showing unlisted system calls\n"},
		{"entry before group", "    read\n@basic-io\n    write\n"},
		{"entry after blank", "@basic-io\n    read\n\n    write\n"},
		{"duplicate group", "@a\n    read\n@a\n    write\n"},
		{"bad group name", "@Bad Group\n    read\n"},
		{"bad entry", "@a\n    read; rm -rf /\n"},
		{"stray text", "@a\n    read\nhello\n"},
		{"bare at", "@\n    read\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tab, err := ParseAnalyze(strings.NewReader(tc.in), "1", "x")
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseAnalyze(%q) = %v, %v; want ErrSyntax", tc.in, tab, err)
			}
		})
	}
}

func FuzzParseAnalyze(f *testing.F) {
	for _, glob := range []string{"testdata/*.txt", "internal/gen/testdata/systemd-*.txt"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("@a\n    @a\n    read\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseAnalyze(bytes.NewReader(data), "1", "fuzz")
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !strings.Contains(err.Error(), "read") {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Properties: every member's reverse index names the group, and
		// every group's members are sorted syscall names, never @groups.
		for _, g := range tab.GroupNames() {
			if !strings.HasPrefix(g, "@") {
				t.Fatalf("group %q without @", g)
			}
			ms := tab.Members(g)
			if !slices.IsSorted(ms) {
				t.Fatalf("%s members not sorted", g)
			}
			for _, m := range ms {
				if strings.HasPrefix(m, "@") || !slices.Contains(tab.Groups(m), g) || !tab.InGroup(m, g) {
					t.Fatalf("%s: member %q inconsistent", g, m)
				}
			}
		}
	})
}

func ExampleTable_Groups() {
	tab, _ := Bundled("252")
	fmt.Println(tab.Source)
	fmt.Println(tab.Groups("socket"))
	fmt.Println(tab.InGroup("mount", "@system-service"))
	// Output:
	// bundled systemd 252
	// [@known @network-io @system-service]
	// false
}

func BenchmarkGroups(b *testing.B) {
	tab := Newest()
	for b.Loop() {
		if len(tab.Groups("socket")) == 0 {
			b.Fatal("no groups")
		}
	}
}

func BenchmarkBuildBundled(b *testing.B) {
	s := &bundledSets[len(bundledSets)-1]
	direct := make(map[string][]string)
	for _, g := range s.groups {
		direct[g.name] = g.entries
	}
	for b.Loop() {
		NewTable(s.version, "bench", direct)
	}
}
