package cli

import (
	"os"
	"strings"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// liftedByApply returns the directives that seccompwatch apply's own
// drop-in of the unit (below root) turns off to lift a denial — a file
// apply wrote, checked by its checksum — with where and why: learn keeps
// them off.
func liftedByApply(root, unit string, t *syscalls.Table) map[string]string {
	path, err := apply.Path(root, unit, false)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	f, err := apply.Parse(string(b), unit, t)
	if err != nil || f.Learned {
		return nil
	}
	sys, _ := apply.Path("/", unit, false)
	out := map[string]string{}
	for _, it := range f.Items {
		if it.Key == "SystemCallFilter" || it.Key == "SystemCallArchitectures" || len(it.Values) != 1 || it.Values[0] != "no" {
			continue
		}
		why := "set to no by seccompwatch apply in " + sys
		if len(it.Calls) > 0 {
			why += " to lift a denial of " + strings.Join(it.Calls, ", ")
		}
		out[it.Key] = why
	}
	return out
}
