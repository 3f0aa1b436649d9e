package suggest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
)

func TestRenderLearning(t *testing.T) {
	many := testTable(t).Members("@system-service")
	tests := []struct {
		name    string
		policy  *Policy
		wantLog string // SystemCallLog= value, continuations joined
		err     error
	}{
		{"allow-list", allowList("write", "read", "read"), "~@default read write", nil},
		{"deny-list", denyList("mount:EPERM", "@swap"), "@swap mount", nil},
		{"long allow-list", &Policy{Known: true, AllowList: true, Names: many}, "~@default " + strings.Join(many, " "), nil},
		{"unknown", nil, "", ErrPolicyUnknown},
		{"no filter", &Policy{Known: true}, "", ErrNoFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := RenderLearning(&buf, "app.service", tc.policy, "seccompwatch test")
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			opts, err := parseUnit(buf.String())
			if err != nil {
				t.Fatal(err)
			}
			if len(opts) != 2 || opts[0].Name != "SystemCallFilter" || opts[0].Value != "" || opts[1].Name != "SystemCallLog" {
				t.Fatalf("options = %v\n%s", opts, buf.String())
			}
			// systemd joins continuation lines with a space.
			got := strings.Join(strings.Fields(strings.ReplaceAll(opts[1].Value, "\\\n", " ")), " ")
			if got != tc.wantLog {
				t.Errorf("SystemCallLog=%q, want %q", got, tc.wantLog)
			}
			for _, l := range strings.Split(buf.String(), "\n") {
				if len(l) > 2*wrapWidth {
					t.Errorf("line of %d bytes", len(l))
				}
			}
		})
	}
	if err := RenderLearning(&bytes.Buffer{}, "../x.service", allowList("read"), ""); !errors.Is(err, unitname.ErrInvalid) {
		t.Errorf("bad unit name: err = %v", err)
	}
	if p, err := LearningDropinPath("app.service", false); err != nil || p != "/etc/systemd/system/app.service.d/99-seccompwatch-learn.conf" {
		t.Errorf("LearningDropinPath = %q, %v", p, err)
	}
}
