package suggest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// What RenderJSON writes, ParseJSON reads back: every golden case's
// suggestion survives the round trip (a fleet merge reads daemons' JSON).
func TestParseJSONRoundTrip(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			agg := NewAggregator(Limits{})
			for _, d := range gc.denials {
				agg.Add(d)
			}
			opts := gc.opts
			opts.Table = testTable(t)
			var pol *Policy
			if gc.policy != nil {
				pol = gc.policy(t)
			}
			want := CarryOver(Compute(agg.Snapshot()[0], pol, opts), gc.current)
			var buf bytes.Buffer
			if err := RenderJSON(&buf, []Suggestion{want}); err != nil {
				t.Fatal(err)
			}
			got, err := ParseJSON(&buf)
			if err != nil || len(got) != 1 {
				t.Fatalf("%d suggestions, %v", len(got), err)
			}
			var a, b bytes.Buffer
			_ = RenderDropin(&a, want)
			_ = RenderDropin(&b, got[0])
			if gc.name == "hostile" {
				// The JSON holds sanitized values, escaped once more when
				// rendered again: other comments, the same directives.
				if d := cmp.Diff(directives(a.String()), directives(b.String())); d != "" {
					t.Errorf("directives after the round trip differ (-want +got):\n%s", d)
				}
				return
			}
			if d := cmp.Diff(a.String(), b.String()); d != "" {
				t.Errorf("drop-in after the round trip differs (-want +got):\n%s", d)
			}
			if d := cmp.Diff(want, got[0], cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Suggestion{}, "UID")); d != "" && !want.UserUnit {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
	if _, err := ParseJSON(strings.NewReader(`{"version": 2, "suggestions": []}`)); err == nil {
		t.Error("version 2 read")
	}
}

// Two hosts of one unit: the merged lines are the union, with evidence
// summed and the hosts named; a line active on one host and held back
// on the other is not active; different configurations are a warning.
func TestMerge(t *testing.T) {
	table := testTable(t)
	opts := Options{Table: table}
	compute := func(pol *Policy, ds ...Denial) Suggestion {
		agg := NewAggregator(Limits{})
		for _, d := range ds {
			agg.Add(d)
		}
		return Compute(agg.Snapshot()[0], pol, opts)
	}
	const u = "web.service"
	base := &Policy{Known: true, AllowList: true, Names: table.Members("@system-service"), ExecPaths: []string{"/usr/bin/web"}}
	other := &Policy{Known: true, AllowList: true, Names: append(table.Members("@system-service"), "getcpu"), ExecPaths: []string{"/usr/bin/web"}}
	a := compute(base, den(u, "pkey_alloc", "kill_process", exe("/usr/bin/web"), at(0)), den(u, "pkey_alloc", "kill_process", exe("/usr/bin/web"), at(10)))
	b := compute(base, den(u, "pkey_alloc", "kill_process", exe("/usr/bin/web"), at(100)), den(u, "swapon", "kill_process", exe("/usr/bin/web"), at(5)))
	merged := Merge([]Host{{Name: "a:9872", Suggestions: []Suggestion{a}}, {Name: "b:9872", Suggestions: []Suggestion{b}}})
	if len(merged) != 1 {
		t.Fatalf("%d merged", len(merged))
	}
	m := merged[0]
	lines := map[string]Line{}
	for _, l := range m.Lines {
		lines[l.Directive()] = l
	}
	pk := lines["SystemCallFilter=pkey_alloc"]
	if pk.Count != 3 || !pk.Included || !pk.FirstSeen.Equal(t0) || !pk.LastSeen.Equal(t0.Add(100*time.Second)) || !strings.Contains(pk.Reason, "seen on 2 of 2 hosts: a:9872, b:9872") {
		t.Errorf("pkey_alloc: %+v", pk)
	}
	if sw := lines["SystemCallFilter=swapon"]; sw.Count != 1 || sw.Included || !strings.Contains(sw.Reason, "seen on 1 of 2 hosts: b:9872") {
		t.Errorf("swapon (risky, held back): %+v", sw)
	}
	if m.Config != a.Config || m.Config == "" || len(m.Warnings) != 0 {
		t.Errorf("same configuration: config %q, warnings %q", m.Config, m.Warnings)
	}

	c := compute(other, den(u, "pkey_alloc", "kill_process", exe("/usr/bin/web"), at(7)))
	merged = Merge([]Host{{Name: "a:9872", Suggestions: []Suggestion{a}}, {Name: "c:9872", Suggestions: []Suggestion{c}}})
	m = merged[0]
	if m.Config != "" || len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "hosts disagree on this unit's configuration") ||
		!strings.Contains(m.Warnings[0], a.Config+" on a:9872; "+c.Config+" on c:9872") {
		t.Errorf("different configurations: config %q, warnings %q", m.Config, m.Warnings)
	}
	var out bytes.Buffer
	_ = RenderDropin(&out, m)
	if !strings.Contains(out.String(), "# WARNING: hosts disagree") || !strings.Contains(out.String(), "fleet: merged from 2 hosts: a:9872, c:9872") {
		t.Errorf("drop-in:\n%s", out.String())
	}
}

// directives returns a drop-in's lines that are not comments.
func directives(dropin string) []string {
	var out []string
	for _, l := range strings.Split(dropin, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// Since keeps what was last seen at or after t, and says it filtered.
func TestSince(t *testing.T) {
	table := testTable(t)
	agg := NewAggregator(Limits{})
	agg.Add(den("web.service", "pkey_alloc", "kill_process", at(0)))
	agg.Add(den("web.service", "getcpu", "kill_process", at(100)))
	s := Compute(agg.Snapshot()[0], &Policy{Known: true, AllowList: true, Names: []string{"read"}}, Options{Table: table})
	got, ok := Since(s, t0.Add(50*time.Second))
	if !ok || len(got.Lines) != 1 || got.Lines[0].Syscalls[0] != "getcpu" || got.Total != 1 || !got.FirstSeen.Equal(t0.Add(100*time.Second)) || !strings.Contains(strings.Join(got.Notes, "\n"), "(--since)") {
		t.Errorf("since 50 s: ok %v lines %+v notes %q", ok, got.Lines, got.Notes)
	}
	if _, ok := Since(s, t0.Add(200*time.Second)); ok {
		t.Error("nothing seen since 200 s, yet something is left")
	}
	if got, ok := Since(s, time.Time{}); !ok || len(got.Lines) != 2 {
		t.Error("a zero time filtered")
	}
}
