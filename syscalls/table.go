package syscalls

import (
	"slices"
	"sort"
)

// Table is one systemd version's filter groups: which syscalls each
// @group contains, nesting resolved.
type Table struct {
	// Version is the systemd version the table belongs to, e.g. "252".
	Version string
	// Source says where the table came from, e.g. "bundled systemd 252" or
	// "host systemd-analyze (systemd 252)". Every output names it.
	Source string

	members map[string][]string            // group -> resolved, sorted syscall names
	groups  map[string][]string            // syscall -> sorted groups containing it
	in      map[string]map[string]struct{} // group -> set of syscalls
	desc    map[string]string              // group -> description, where known
	nested  map[string][]string            // group -> the @groups it lists itself, sorted
}

// NewTable builds a Table from each group's direct entries, as systemd lists
// them: syscall names and nested @groups. Nested groups are resolved;
// nested groups that are not in direct are ignored, and groups that nest
// each other in a cycle all get the union of their entries.
func NewTable(version, source string, direct map[string][]string) *Table {
	t := &Table{
		Version: version,
		Source:  source,
		members: make(map[string][]string, len(direct)),
		groups:  make(map[string][]string),
		in:      make(map[string]map[string]struct{}, len(direct)),
	}
	// Each group is expanded on its own, with its own visited set, so the
	// result does not depend on map order even when groups nest in a cycle.
	var walk func(g string, set map[string]struct{}, seen map[string]bool)
	walk = func(g string, set map[string]struct{}, seen map[string]bool) {
		if seen[g] {
			return
		}
		seen[g] = true
		for _, e := range direct[g] {
			if len(e) > 0 && e[0] == '@' {
				if _, ok := direct[e]; ok {
					walk(e, set, seen)
				}
				continue
			}
			set[e] = struct{}{}
		}
	}
	t.nested = make(map[string][]string)
	for g, es := range direct {
		for _, e := range es {
			if _, ok := direct[e]; ok && len(e) > 0 && e[0] == '@' && !slices.Contains(t.nested[g], e) {
				t.nested[g] = append(t.nested[g], e)
			}
		}
		sort.Strings(t.nested[g])
	}
	for g := range direct {
		set := make(map[string]struct{})
		walk(g, set, map[string]bool{})
		t.in[g] = set
	}
	for g, set := range t.in {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
			t.groups[n] = append(t.groups[n], g)
		}
		sort.Strings(names)
		t.members[g] = names
	}
	for _, gs := range t.groups {
		sort.Strings(gs)
	}
	return t
}

// Groups returns every group that contains the syscall, nesting resolved,
// sorted; nil when it is in none.
func (t *Table) Groups(syscall string) []string {
	return t.groups[syscall]
}

// Members returns the syscalls of a group (e.g. "@mount"), nesting
// resolved, sorted; nil for an unknown group.
func (t *Table) Members(group string) []string {
	return t.members[group]
}

// Includes returns the groups that a group lists among its own entries
// (systemd's "@system-service" lists "@aio", "@basic-io", ...), sorted;
// nil when it nests none. Their members are in Members(group).
func (t *Table) Includes(group string) []string {
	return t.nested[group]
}

// HasGroup reports whether the table knows the group.
func (t *Table) HasGroup(group string) bool {
	_, ok := t.members[group]
	return ok
}

// InGroup reports whether the syscall is in the group (nesting resolved).
func (t *Table) InGroup(syscall, group string) bool {
	_, ok := t.in[group][syscall]
	return ok
}

// Description returns the group's one-line description as systemd prints
// it (e.g. "Mounting and unmounting of file systems" for "@mount"), or ""
// when the table has none.
func (t *Table) Description(group string) string {
	return t.desc[group]
}

// newTable is NewTable plus the groups' descriptions.
func newTable(version, source string, direct map[string][]string, desc map[string]string) *Table {
	t := NewTable(version, source, direct)
	t.desc = desc
	return t
}

// GroupNames returns the names of all groups, sorted.
func (t *Table) GroupNames() []string {
	names := make([]string, 0, len(t.members))
	for g := range t.members {
		names = append(names, g)
	}
	sort.Strings(names)
	return names
}
