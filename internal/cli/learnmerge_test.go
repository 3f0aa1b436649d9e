package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/propose"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

const learned = "testdata/learnmerge/"

// TestLearnMerge: learn --format json files of three web hosts and a
// database host, merged per unit (golden files, -update).
func TestLearnMerge(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"learnmerge-nginx-dropin", []string{"learn-merge", "--unit", "nginx", learned + "web1.json", learned + "web2.json", learned + "web3-nohost.json", learned + "db1.json"}},
		{"learnmerge-all-json", []string{"learn-merge", "--format", "json", learned + "web1.json", learned + "web2.json", learned + "web3-nohost.json", learned + "db1.json"}},
		{"learnmerge-one-host", []string{"learn-merge", learned + "db1.json"}},
		{"learnmerge-nginx-json", []string{"learn-merge", "--unit", "nginx", "--format", "json", learned + "web1.json", learned + "web2.json", learned + "web3-nohost.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, tc.name, out)
		})
	}
	// With --unit, --format json is what apply --learned reads and plans.
	code, out, errs := run(t, "", "learn-merge", "--unit", "nginx", "--format", "json", learned+"web1.json", learned+"web2.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	l, err := apply.DecodeLearned(strings.NewReader(out), "nginx.service")
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := syscalls.Bundled("252")
	plan, err := apply.BuildLearned(l, apply.Options{Table: tb})
	if err != nil {
		t.Fatalf("apply --learned would refuse the merged proposal: %v", err)
	}
	if len(plan.Items) == 0 {
		t.Error("apply --learned finds nothing to write in the merged proposal")
	}
	// The same file twice: two labelled hosts.
	code, out, errs = run(t, "", "learn-merge", learned+"db1.json", learned+"db1.json")
	if code != 0 || !strings.Contains(out, "#   db1 #2: ") {
		t.Errorf("exit %d, %s\n%s", code, errs, out)
	}
}

func TestLearnMergeErrors(t *testing.T) {
	web1, err := os.ReadFile(learned + "web1.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"several units as a drop-in", []string{"learn-merge", learned + "web1.json", learned + "db1.json"}, "", 2, "hold 2 units (nginx.service, postgresql.service): pick one with --unit"},
		{"unit not in the files", []string{"learn-merge", "--unit", "sshd", learned + "web1.json"}, "", 1, "no file holds sshd.service"},
		{"not JSON", []string{"learn-merge", "-"}, "SECCOMP audit log\n", 1, "not a learn --format json document"},
		{"no proposal", []string{"learn-merge", "-"}, `{"unit":"a.service"}`, 1, "no unit or no proposal"},
		{"bad unit", []string{"learn-merge", "-"}, `{"unit":"../x","proposal":{"unit":"../x","lines":[]}}`, 1, "unit"},
		{"another unit's proposal", []string{"learn-merge", "-"}, `{"unit":"a.service","proposal":{"unit":"b.service","lines":[]}}`, 1, `the proposal is for "b.service"`},
		{"directive learn never proposes", []string{"learn-merge", "-"}, `{"unit":"a.service","proposal":{"unit":"a.service","lines":[{"directive":"ExecStartPre","value":"/bin/sh"}]}}`, 1, `"ExecStartPre" is not a directive learn proposes`},
		{"value injection", []string{"learn-merge", "-"}, `{"unit":"a.service","proposal":{"unit":"a.service","lines":[{"directive":"SystemCallFilter","value":"read\nExecStartPre=/bin/sh"}]}}`, 1, "is not a name"},
		{"two documents", []string{"learn-merge", "-"}, string(web1) + string(web1), 1, "more than one JSON document"},
		{"a merged proposal", []string{"learn-merge", "-"}, `{"unit":"a.service","proposal":{"unit":"a.service","lines":[{"directive":"LockPersonality","value":"yes","hosts":[{"host":"x","state":"proposed","evidence":""}]}]}}`, 1, "already a merged proposal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q), stdout %q", code, tc.code, errs, tc.want, out)
			}
		})
	}
}

// FuzzParseLearned: any input is refused with an error or gives a
// proposal whose merged drop-in holds only comments, the section and
// assignments of directives learn proposes, with values of names only.
func FuzzParseLearned(f *testing.F) {
	for _, name := range []string{"web1.json", "web2.json", "db1.json"} {
		b, err := os.ReadFile(learned + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"unit":"a.service","host":"h\n[Service]","proposal":{"unit":"a.service","lines":[{"directive":"LockPersonality","value":"yes","evidence":"x\nExecStart=/bin/sh","note":"\u001b[31m"}]}}`))
	known := map[string]bool{}
	for _, d := range propose.Directives() {
		known[d] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		unit, l, err := parseLearned(data, "fuzz.json")
		if err != nil {
			return
		}
		p := propose.Merge(unit, []propose.Learned{l, l})
		var b strings.Builder
		if err := p.Render(&b, "fuzz"); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
			if strings.HasPrefix(line, "#") || line == "[Service]" {
				continue
			}
			d, v, ok := strings.Cut(line, "=")
			if !ok || !known[d] {
				t.Fatalf("line %q in\n%s", line, b.String())
			}
			for _, tok := range strings.Fields(v) {
				if !valueToken.MatchString(tok) {
					t.Fatalf("value %q in %q", tok, line)
				}
			}
		}
	})
}
