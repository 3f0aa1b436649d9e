package buildinfo

import (
	"strings"
	"testing"
)

func TestGenerator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		info Info
		want string
	}{
		{Info{}, "seccompwatch devel (no version or revision: cannot be traced)"},
		{Info{Version: "0.1.0"}, "seccompwatch 0.1.0"},
		{Info{Version: "0.1.0", Revision: "0123456789abcdef0123"}, "seccompwatch 0.1.0 (0123456789ab)"},
		{Info{Version: "0.1.0", Revision: "0123456789abcdef0123", Modified: true}, "seccompwatch 0.1.0 (0123456789ab, modified)"},
		{Info{Version: "v0.0.0-20261201221505-0123456789ab+dirty", Revision: "0123456789abcdef0123", Modified: true},
			"seccompwatch v0.0.0-20261201221505-0123456789ab+dirty"},
		{Info{Revision: "0123456789abcdef0123"}, "seccompwatch devel (0123456789ab)"},
	} {
		got := tc.info.Generator()
		if got != tc.want || len(got) > 64 {
			t.Errorf("%+v: Generator() = %q, want %q (at most 64 bytes)", tc.info, got, tc.want)
		}
	}
}

func TestLong(t *testing.T) {
	t.Parallel()
	l := Info{Version: "0.1.0", Revision: "abc", BuildDate: "2026-12-01T00:00:00Z", Modified: true}.Long()
	for _, want := range []string{"seccompwatch 0.1.0\n", "revision:    abc (modified)\n", "build date:  2026-12-01T00:00:00Z\n", "commit time: unknown\n"} {
		if !strings.Contains(l, want) {
			t.Errorf("Long() lacks %q:\n%s", want, l)
		}
	}
	if strings.Contains(l, "cannot be traced") {
		t.Errorf("a traceable build says it is not:\n%s", l)
	}
	if l := (Info{}).Long(); !strings.Contains(l, "cannot be traced") {
		t.Errorf("untraceable build:\n%s", l)
	}
}
