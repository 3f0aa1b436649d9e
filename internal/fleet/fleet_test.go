package fleet

import "testing"

// The selector goes into a PromQL query as "up" + selector: only a brace
// list on one line is taken (Prometheus parses the matchers).
func TestValidSelector(t *testing.T) {
	for sel, want := range map[string]bool{
		`{job="seccompwatch"}`:            true,
		`{job="seccompwatch",role="web"}`: true,
		`{}`:                              true,
		`job="seccompwatch"`:              false,
		`{job="a"} or vector(1)`:          false,
		"{job=\"a\"}\n":                   false,
		"{job=\"a\",\nrole=\"b\"}":        false,
		``:                                false,
		`{`:                               false,
	} {
		if got := ValidSelector(sel); got != want {
			t.Errorf("ValidSelector(%q) = %v, want %v", sel, got, want)
		}
	}
}
