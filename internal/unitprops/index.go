package unitprops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
)

// ExecIndex maps binaries to the units that run them (ExecStart= and its
// siblings). It is built once and then only read; reading is safe for
// concurrent use, Add is not.
type ExecIndex struct {
	byExe    map[string][]string
	realPath func(string) string
}

// NewExecIndex returns an empty index. realPath, when not nil, maps a path
// to its symlink-free form (the form the kernel logs in exe=); entries and
// look-ups are then matched under both forms.
func NewExecIndex(realPath func(string) string) *ExecIndex {
	return &ExecIndex{byExe: map[string][]string{}, realPath: realPath}
}

// Add records that unit runs each of the binaries.
func (x *ExecIndex) Add(unit string, binaries ...string) {
	for _, b := range binaries {
		x.add(b, unit)
		if x.realPath != nil && path.IsAbs(b) {
			if r := x.realPath(b); r != b {
				x.add(r, unit)
			}
		}
	}
}

func (x *ExecIndex) add(exe, unit string) {
	us := x.byExe[exe]
	i, found := slices.BinarySearch(us, unit)
	if !found {
		x.byExe[exe] = slices.Insert(us, i, unit)
	}
}

// Units returns every unit (templates such as "foo@.service" included)
// that runs exe, sorted; nil when none does.
func (x *ExecIndex) Units(exe string) []string {
	if x == nil {
		return nil
	}
	us := x.byExe[exe]
	if x.realPath != nil && path.IsAbs(exe) {
		if r := x.realPath(exe); r != exe {
			for _, u := range x.byExe[r] {
				if !slices.Contains(us, u) {
					us = append(slices.Clip(us), u)
				}
			}
			sort.Strings(us)
		}
	}
	if len(us) == 0 {
		return nil
	}
	return slices.Clone(us)
}

// LookupExe returns the unit that runs exe when exactly one unit does, and
// that unit is not a template (a template's binary runs in instances whose
// names the index cannot know). Otherwise ok is false: a wrong unit is
// worse than none.
func (x *ExecIndex) LookupExe(exe string) (unit string, ok bool) {
	us := x.Units(exe)
	if len(us) != 1 || isTemplate(us[0]) {
		return "", false
	}
	return us[0], true
}

// Len returns the number of distinct binary paths in the index.
func (x *ExecIndex) Len() int {
	if x == nil {
		return 0
	}
	return len(x.byExe)
}

// ListUnits returns the names of the units with an exec context (service,
// socket, mount, swap) found along the search path, templates included,
// aliases and masked units excluded, sorted.
func (f *Files) ListUnits(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, d := range f.dirs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("unitprops: list units: %w", err)
		}
		ents, err := os.ReadDir(f.hostPath(d))
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if seen[n] {
				continue
			}
			seen[n] = true // the first directory decides, as in systemd
			if !unitname.HasExecContext(n) {
				continue
			}
			fr, ok := f.findFragment(n)
			if !ok || fr.masked || fr.alias != "" {
				continue
			}
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ExecIndex scans every unit along the search path and indexes the
// binaries they run. Units whose files cannot be read or parsed are
// indexed with what could be read; their errors are joined into the
// returned error, which is informational when the index is not nil.
func (f *Files) ExecIndex(ctx context.Context) (*ExecIndex, error) {
	// Most of the paths looked up do not exist (a drop-in directory of
	// every name, dash prefix and search-path directory): a copy that
	// lists the directories once looks up only those that do.
	g := *f
	g.listed = f.listDirs()
	return g.execIndex(ctx)
}

// execIndex is ExecIndex with f's look-ups.
func (f *Files) execIndex(ctx context.Context) (*ExecIndex, error) {
	units, err := f.ListUnits(ctx)
	if err != nil {
		return nil, err
	}
	x := NewExecIndex(f.realPath)
	var errs []error
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("unitprops: exec index: %w", err)
		}
		p, err := f.props(ctx, u, false)
		if err != nil {
			errs = append(errs, err)
		}
		if !p.Found {
			continue
		}
		var bins []string
		for _, b := range p.ExecPaths {
			if strings.TrimSpace(b) != "" {
				bins = append(bins, b)
			}
		}
		x.Add(u, bins...)
	}
	return x, errors.Join(errs...)
}
