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

func TestVerifyLearned(t *testing.T) {
	tb := table(t)
	const path = "/etc/systemd/system/web.service.d/" + LearnedName
	items := []Item{
		{Key: "SystemCallFilter", Values: []string{"@system-service"}, Learned: true},
		{Key: "SystemCallArchitectures", Values: []string{"native"}, Learned: true},
		{Key: "RestrictAddressFamilies", Values: []string{"AF_INET", "AF_UNIX"}, Learned: true},
		{Key: "RestrictNamespaces", Values: []string{"yes"}, Learned: true},
		{Key: "LockPersonality", Values: []string{"yes"}, Learned: true},
	}
	good := func() unitprops.Props {
		p := unitprops.Props{Unit: "web.service", Found: true, DropInPaths: []string{path}, AllowList: true,
			Filter: tb.Members("@system-service"), Architectures: []string{"native"}}
		p.Sandbox.Settings = map[string]sandbox.Setting{
			"RestrictAddressFamilies": {Value: "AF_UNIX AF_INET"}, "RestrictNamespaces": {Value: "yes"}, "LockPersonality": {Value: "yes"},
		}
		return p
	}
	if err := Verify(good(), path, items, tb); err != nil {
		t.Fatalf("the properties say what the drop-in says: %v", err)
	}
	// A member this ABI lacks is not in systemd's merged filter (seen in
	// the VM: riscv_hwprobe, which the host's 252 lists in @system-service).
	withForeign := good()
	withForeign.Filter = nil
	for _, n := range tb.Members("@system-service") {
		if n != "riscv_hwprobe" && n != "s390_runtime_instr" {
			withForeign.Filter = append(withForeign.Filter, n)
		}
	}
	if err := Verify(withForeign, path, items, tb); err != nil {
		t.Fatalf("a group member the native ABI lacks: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*unitprops.Props)
		want   string
	}{
		{"no filter", func(p *unitprops.Props) { p.Filter = nil }, "not an allow-list"},
		{"deny-list", func(p *unitprops.Props) { p.AllowList = false }, "not an allow-list"},
		{"a member missing", func(p *unitprops.Props) {
			p.Filter = slices.DeleteFunc(slices.Clone(p.Filter), func(n string) bool { return n == "openat" })
		}, "does not allow openat"},
		{"a compat ABI too", func(p *unitprops.Props) { p.Architectures = []string{"native", "x86"} }, "SystemCallArchitectures= is native, x86"},
		{"another family too", func(p *unitprops.Props) {
			p.Sandbox.Settings["RestrictAddressFamilies"] = sandbox.Setting{Value: "AF_INET AF_NETLINK AF_UNIX"}
		}, "RestrictAddressFamilies= is AF_INET AF_NETLINK AF_UNIX"},
		{"namespaces unset", func(p *unitprops.Props) { delete(p.Sandbox.Settings, "RestrictNamespaces") }, "RestrictNamespaces= is unset"},
		{"a later =no", func(p *unitprops.Props) {
			delete(p.Sandbox.Settings, "LockPersonality")
			p.DropInPaths = append(p.DropInPaths, "/etc/systemd/system/web.service.d/90-off.conf")
		}, "LockPersonality= is unset, not yes; drop-ins that sort after it can override it: /etc/systemd/system/web.service.d/90-off.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			tc.mutate(&p)
			err := Verify(p, path, items, tb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
}
