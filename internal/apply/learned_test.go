package apply

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
)

// learnedDoc is learn --format json's shape (the fields apply reads).
const learnedDoc = `{"unit":"web.service","method":"bpf","calls":1200,"proposal":{"unit":"web.service","table":"252","lines":[%s]}}`

func buildLearned(t *testing.T, lines string, o Options) (Plan, error) {
	t.Helper()
	o.Table = table(t)
	l, err := DecodeLearned(strings.NewReader(strings.Replace(learnedDoc, "%s", lines, 1)), "web.service")
	if err != nil {
		return Plan{}, err
	}
	return BuildLearned(l, o)
}

func TestBuildLearned(t *testing.T) {
	whole := strings.Join([]string{
		`{"directive":"SystemCallFilter","value":"@system-service","evidence":"the calls seen are in it"}`,
		`{"directive":"SystemCallFilter","value":"pkey_alloc","evidence":"seen and outside @system-service"}`,
		`{"directive":"SystemCallArchitectures","value":"native","evidence":"only native calls seen"}`,
		`{"directive":"RestrictAddressFamilies","value":"AF_INET AF_UNIX","evidence":"seen: AF_INET 3×, AF_UNIX 12×"}`,
		`{"directive":"MemoryDenyWriteExecute","value":"yes","kept":true,"evidence":"already set; kept"}`,
		`{"directive":"RestrictNamespaces","value":"yes","evidence":"no unshare"}`,
		`{"directive":"LockPersonality","skipped":true,"evidence":"not proposed: seen personality(0x8) 1×"}`,
		`{"directive":"ProtectClock","value":"yes","commented":true,"evidence":"none of adjtimex … seen","note":"also denies access to clock devices"}`,
	}, ",")
	swapoff := `{"directive":"SystemCallFilter","value":"swapoff","evidence":"seen","note":"risky, review"}`
	for _, tc := range []struct {
		name, lines string
		o           Options
		want        []string // items written
		held        int
		err         error
	}{
		{name: "whole sandbox", lines: whole, held: 2, want: []string{"SystemCallFilter=@system-service", "SystemCallFilter=pkey_alloc",
			"SystemCallArchitectures=native", "RestrictAddressFamilies=AF_INET AF_UNIX", "RestrictNamespaces=yes"}},
		{name: "commented with its opt-in", lines: whole, o: Options{Allow: map[string]bool{"ProtectClock": true}}, held: 1,
			want: []string{"SystemCallFilter=@system-service", "SystemCallFilter=pkey_alloc", "SystemCallArchitectures=native",
				"RestrictAddressFamilies=AF_INET AF_UNIX", "RestrictNamespaces=yes", "ProtectClock=yes"}},
		{name: "risky held", lines: swapoff, held: 1},
		{name: "risky allowed", lines: swapoff, o: Options{AllowRisky: true}, want: []string{"SystemCallFilter=swapoff"}},
		{name: "families none", lines: `{"directive":"RestrictAddressFamilies","value":"none"}`, want: []string{"RestrictAddressFamilies=none"}},
		{name: "namespace types", lines: `{"directive":"RestrictNamespaces","value":"net uts"}`, want: []string{"RestrictNamespaces=net uts"}},
		{name: "newline in value", lines: `{"directive":"SystemCallFilter","value":"read\nExecStartPre=/bin/sh"}`, err: ErrInvalid},
		{name: "not a directive of the model", lines: `{"directive":"ExecStart","value":"/bin/sh"}`, err: ErrInvalid},
		{name: "directive with a newline", lines: `{"directive":"LockPersonality=yes\nExecStart","value":"yes"}`, err: ErrInvalid},
		{name: "a loosening =no", lines: `{"directive":"MemoryDenyWriteExecute","value":"no"}`, err: ErrInvalid},
		{name: "a deny-list", lines: `{"directive":"SystemCallFilter","value":"~@mount"}`, err: ErrInvalid},
		{name: "unknown group", lines: `{"directive":"SystemCallFilter","value":"@evil"}`, err: ErrInvalid},
		{name: "unknown namespace type", lines: `{"directive":"RestrictNamespaces","value":"net time"}`, err: ErrInvalid},
		{name: "none among families", lines: `{"directive":"RestrictAddressFamilies","value":"none AF_INET"}`, err: ErrInvalid},
		{name: "family shape", lines: `{"directive":"RestrictAddressFamilies","value":"af_inet"}`, err: ErrInvalid},
		{name: "empty value", lines: `{"directive":"LockPersonality","value":""}`, err: ErrInvalid},
		{name: "skipped kept commented only", lines: `{"directive":"LockPersonality","skipped":true},{"directive":"ProtectHostname","value":"yes","commented":true}`, held: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := buildLearned(t, tc.lines, tc.o)
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
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("items %q, want %q", got, tc.want)
			}
			if len(p.Held) != tc.held {
				t.Errorf("held %d %q, want %d", len(p.Held), p.Held, tc.held)
			}
		})
	}
}

func TestDecodeLearnedOtherUnit(t *testing.T) {
	_, err := DecodeLearned(strings.NewReader(strings.Replace(learnedDoc, "%s", "", 1)), "other.service")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
	// A suggestion document (apply's other input) is not a learned proposal.
	_, err = DecodeLearned(strings.NewReader(`{"version":1,"suggestions":[]}`), "web.service")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
}

func TestLearnedFileRoundTrip(t *testing.T) {
	p, err := buildLearned(t, `{"directive":"SystemCallFilter","value":"@system-service","evidence":"every call seen in 1 min (5.1 k calls from 3 processes) is in it"},`+
		`{"directive":"RestrictAddressFamilies","value":"AF_INET AF_INET6 AF_UNIX","evidence":"seen: AF_INET 2×\nSystemCallFilter=@mount"}`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := File{Unit: "web.service", Items: p.Items, Learned: true, CreatedDir: true}
	content := f.Render("seccompwatch test")
	for _, want := range []string{"dir=created learned\n", "# learned: every call seen in 1 min", "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n", "apply --revert web.service"} {
		if !strings.Contains(content, want) {
			t.Errorf("missing %q in\n%s", want, content)
		}
	}
	// The evidence is data: its newline stays in the comment.
	if strings.Contains(content, "\nSystemCallFilter=@mount") {
		t.Fatalf("evidence broke out of its comment:\n%s", content)
	}
	back, err := Parse(content, "web.service", table(t))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Learned || !back.CreatedDir || len(back.Items) != 2 || back.Items[1].Line() != "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" {
		t.Fatalf("parsed back %+v", back)
	}
	if _, err := Parse(strings.Replace(content, "AF_INET6 ", "AF_INET6 AF_PACKET ", 1), "web.service", table(t)); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("an edited learned file: err %v, want ErrNotOurs", err)
	}
	// A lifting drop-in's parser refuses learned values (=yes) outside a
	// learned file.
	if _, err := Parse(File{Unit: "web.service", Items: []Item{{Key: "LockPersonality", Values: []string{"yes"}}}}.Render("x"), "web.service", table(t)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("LockPersonality=yes in a lifting drop-in: err %v, want ErrInvalid", err)
	}
}

// TestVerify: after the reload the unit's merged properties must say what
// the drop-in says. A group member missing from systemd's merged filter is
// excused only by the resolver's evidence (a probe unit holding only the
// missing names lacks it too: systemd cannot resolve it); a name the
// drop-in writes itself (a denied call it lifts) never is.
func TestVerify(t *testing.T) {
	tb := table(t)
	const path = "/etc/systemd/system/web.service.d/" + LearnedName
	const lift = "/etc/systemd/system/web.service.d/50-seccompwatch.conf"
	learned := []Item{
		{Key: "SystemCallFilter", Values: []string{"@system-service"}, Learned: true},
		{Key: "SystemCallFilter", Values: []string{"pkey_alloc"}, Learned: true},
		{Key: "SystemCallArchitectures", Values: []string{"native"}, Learned: true},
		{Key: "RestrictAddressFamilies", Values: []string{"AF_INET", "AF_UNIX"}, Learned: true},
		{Key: "RestrictNamespaces", Values: []string{"yes"}, Learned: true},
		{Key: "LockPersonality", Values: []string{"yes"}, Learned: true},
	}
	fix := []Item{
		{Key: "SystemCallFilter", Values: []string{"pkey_alloc"}, Calls: []string{"pkey_alloc"}, Kind: "filter"},
		{Key: "SystemCallFilter", Values: []string{"@clock"}, Calls: []string{"clock_adjtime"}, Kind: "filter"},
	}
	// What systemd 252 resolves with bookworm's libseccomp 2.5.4 (the
	// nspawn probe of TestDBusContainer, and the VM): not these.
	cannot := map[string]bool{"uretprobe": true, "riscv_hwprobe": true}
	bookworm := func(names []string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, n := range names {
			out[n] = !cannot[n]
		}
		return out, nil
	}
	without := func(names []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(drop, n) })
	}
	merged := func(groups ...string) []string {
		var out []string
		for _, g := range groups {
			out = append(out, members(tb, g)...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for _, n := range []string{"uretprobe", "riscv_hwprobe"} {
		if !slices.Contains(tb.Members("@system-service"), n) {
			t.Fatalf("the 252 table's @system-service lacks %s: the cases below test nothing", n)
		}
	}
	props := func(dropIn string, filter []string) unitprops.Props {
		p := unitprops.Props{Unit: "web.service", Found: true, DropInPaths: []string{dropIn}, AllowList: true,
			Filter: filter, Architectures: []string{"native"}}
		p.Sandbox.Settings = map[string]sandbox.Setting{
			"RestrictAddressFamilies": {Value: "AF_UNIX AF_INET"}, "RestrictNamespaces": {Value: "yes"}, "LockPersonality": {Value: "yes"},
		}
		return p
	}
	full := merged("@system-service", "pkey_alloc")
	asBookworm := without(full, "uretprobe", "riscv_hwprobe")
	for _, tc := range []struct {
		name    string
		path    string
		items   []Item
		mutate  func(*unitprops.Props)
		resolve Resolver
		want    string // "" for no error
		note    string // a note that must be given
	}{
		{name: "every member there", path: path, items: learned, resolve: bookworm},
		{name: "every member there, no resolver needed", path: path, items: learned},
		{name: "bookworm leaves out what it cannot resolve", path: path, items: learned, resolve: bookworm,
			mutate: func(p *unitprops.Props) { p.Filter = asBookworm },
			note:   "systemd leaves riscv_hwprobe uretprobe of @system-service out of the filter: it cannot resolve them"},
		// 6f7ca47's rule excused members the native ABI lacks. The probe
		// says _llseek (i386, arm, ...) resolves: libseccomp knows every
		// arch's names and systemd lists it in x86_64 units' filters, so
		// missing, it is denied by something else.
		{name: "a resolvable member of another ABI missing", path: path, items: learned, resolve: bookworm,
			mutate: func(p *unitprops.Props) { p.Filter = without(asBookworm, "_llseek") },
			want:   "SystemCallFilter still denies _llseek;"},
		{name: "missing without evidence", path: path, items: learned,
			resolve: func([]string) (map[string]bool, error) { return nil, errors.New("the probe unit could not start") },
			mutate:  func(p *unitprops.Props) { p.Filter = asBookworm },
			want:    "SystemCallFilter still denies riscv_hwprobe uretprobe (whether this systemd can resolve them is unknown: the probe unit could not start)"},
		{name: "missing, no resolver", path: path, items: learned,
			mutate: func(p *unitprops.Props) { p.Filter = asBookworm },
			want:   "whether this systemd can resolve them is unknown: not asked"},
		{name: "a resolvable member overridden", path: path, items: learned, resolve: bookworm,
			mutate: func(p *unitprops.Props) { p.Filter = without(asBookworm, "openat") },
			want:   "SystemCallFilter still denies openat;"},
		{name: "the learned call missing", path: path, items: learned, resolve: bookworm,
			mutate: func(p *unitprops.Props) { p.Filter = without(asBookworm, "pkey_alloc") },
			want:   "SystemCallFilter still denies pkey_alloc;"},
		{name: "a written name systemd cannot resolve", path: path, resolve: bookworm,
			items:  []Item{{Key: "SystemCallFilter", Values: []string{"@system-service", "uretprobe"}, Learned: true}},
			mutate: func(p *unitprops.Props) { p.Filter = asBookworm },
			want:   "SystemCallFilter still denies uretprobe: this systemd cannot resolve the name"},
		{name: "no filter", path: path, items: learned, mutate: func(p *unitprops.Props) { p.Filter = nil }, want: "not an allow-list"},
		{name: "deny-list", path: path, items: learned, mutate: func(p *unitprops.Props) { p.AllowList = false }, want: "not an allow-list"},
		{name: "a compat ABI too", path: path, items: learned, mutate: func(p *unitprops.Props) { p.Architectures = []string{"native", "x86"} },
			want: "SystemCallArchitectures= is native, x86"},
		{name: "another family too", path: path, items: learned, mutate: func(p *unitprops.Props) {
			p.Sandbox.Settings["RestrictAddressFamilies"] = sandbox.Setting{Value: "AF_INET AF_NETLINK AF_UNIX"}
		}, want: "RestrictAddressFamilies= is AF_INET AF_NETLINK AF_UNIX"},
		{name: "namespaces unset", path: path, items: learned, mutate: func(p *unitprops.Props) { delete(p.Sandbox.Settings, "RestrictNamespaces") },
			want: "RestrictNamespaces= is unset"},
		{name: "a later =no", path: path, items: learned, mutate: func(p *unitprops.Props) {
			delete(p.Sandbox.Settings, "LockPersonality")
			p.DropInPaths = append(p.DropInPaths, "/etc/systemd/system/web.service.d/90-off.conf")
		}, want: "LockPersonality= is unset, not yes; drop-ins that sort after it can override it: /etc/systemd/system/web.service.d/90-off.conf"},
		{name: "not loaded", path: path, items: learned, mutate: func(p *unitprops.Props) { p.DropInPaths = nil }, want: "systemd did not load"},
		// The lifting drop-in's group lines follow the same rule.
		{name: "fix: a group and a call", path: lift, items: fix, resolve: bookworm,
			mutate: func(p *unitprops.Props) {
				p.Filter = without(merged("@system-service", "@clock", "pkey_alloc"), "uretprobe")
			}},
		{name: "fix: the denied call overridden", path: lift, items: fix, resolve: bookworm,
			mutate: func(p *unitprops.Props) {
				p.Filter = without(merged("@system-service", "@clock"), "uretprobe")
				p.DropInPaths = append(p.DropInPaths, "/etc/systemd/system/web.service.d/90-later.conf")
			},
			want: "SystemCallFilter still denies pkey_alloc; drop-ins that sort after it can override it: /etc/systemd/system/web.service.d/90-later.conf"},
		{name: "fix: a group member overridden", path: lift, items: fix, resolve: bookworm,
			mutate: func(p *unitprops.Props) {
				p.Filter = without(merged("@system-service", "@clock", "pkey_alloc"), "clock_adjtime")
			},
			want: "SystemCallFilter still denies clock_adjtime;"},
		{name: "fix: no filter at all", path: lift, items: fix, mutate: func(p *unitprops.Props) { p.Filter, p.AllowList = nil, false }},
		{name: "fix: a deny-list still holding it", path: lift, items: fix[:1],
			mutate: func(p *unitprops.Props) { p.Filter, p.AllowList = []string{"pkey_alloc", "swapoff"}, false },
			want:   "SystemCallFilter still denies pkey_alloc"},
		{name: "fix: removed from a deny-list", path: lift, items: fix[:1],
			mutate: func(p *unitprops.Props) { p.Filter, p.AllowList = []string{"swapoff"}, false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := props(tc.path, full)
			if tc.mutate != nil {
				tc.mutate(&p)
			}
			asked := 0
			resolve := tc.resolve
			if resolve != nil {
				resolve = func(names []string) (map[string]bool, error) { asked++; return tc.resolve(names) }
			}
			notes, err := Verify(p, tc.path, tc.items, tb, resolve)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			case tc.note != "" && !strings.Contains(strings.Join(notes, "\n"), tc.note):
				t.Fatalf("notes %q, want %q", notes, tc.note)
			case tc.note == "" && tc.want == "" && len(notes) > 0:
				t.Fatalf("notes %q, want none", notes)
			case asked > 1:
				t.Fatalf("the resolver was asked %d times", asked)
			}
		})
	}
}
