package syscalls

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrUnknownTable is returned by Select for a pin that names no bundled
// systemd version.
var ErrUnknownTable = errors.New("syscalls: no such systemd table")

// bundledGroup is one group of a bundled version, as generated.
type bundledGroup struct {
	name        string
	description string
	entries     []string
}

// bundledSet is one bundled systemd version, as generated.
type bundledSet struct {
	version string
	groups  []bundledGroup
}

// bundledCache builds each bundled Table once, on first use.
var bundledCache [len(bundledSets)]struct {
	once sync.Once
	t    *Table
}

func bundledAt(i int) *Table {
	c := &bundledCache[i]
	c.once.Do(func() {
		s := &bundledSets[i]
		direct := make(map[string][]string, len(s.groups))
		desc := make(map[string]string, len(s.groups))
		for _, g := range s.groups {
			direct[g.name] = g.entries
			desc[g.name] = g.description
		}
		c.t = newTable(s.version, "bundled systemd "+s.version, direct, desc)
	})
	return c.t
}

// Bundled returns the table of a bundled systemd version ("252", or "v252").
// Tables are built once and shared: do not modify them.
func Bundled(version string) (*Table, bool) {
	version = strings.TrimPrefix(version, "v")
	for i := range bundledSets {
		if bundledSets[i].version == version {
			return bundledAt(i), true
		}
	}
	return nil, false
}

// BundledVersions returns the bundled systemd versions, oldest first.
func BundledVersions() []string {
	vs := make([]string, len(bundledSets))
	for i := range bundledSets {
		vs[i] = bundledSets[i].version
	}
	return vs
}

// Newest returns the table of the newest bundled systemd version; its
// Source reads like "bundled systemd 256".
func Newest() *Table {
	return bundledAt(len(bundledSets) - 1)
}

// Select picks the group table a pin names:
//   - "" or "auto": the host's own table (Host) when systemd-analyze works,
//     else Newest();
//   - "host": the host's table, or an error wrapping ErrNoHost;
//   - a version such as "252": that bundled table, or an error wrapping
//     ErrUnknownTable that lists the bundled versions.
func Select(ctx context.Context, pin string) (*Table, error) {
	switch pin {
	case "", "auto":
		if t, err := Host(ctx); err == nil {
			return t, nil
		}
		return Newest(), nil
	case "host":
		return Host(ctx)
	}
	if t, ok := Bundled(pin); ok {
		return t, nil
	}
	return nil, fmt.Errorf("syscalls: table %q: %w (choose auto, host or one of %s)",
		pin, ErrUnknownTable, strings.Join(BundledVersions(), ", "))
}
