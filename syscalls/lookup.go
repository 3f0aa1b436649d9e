package syscalls

import (
	"sort"
)

// sysEntry is one row of an ABI's table.
type sysEntry struct {
	nr   int32
	name string
}

// archTable is one ABI's syscalls: byNr sorted by number, byName the
// indexes of byNr sorted by name. Both lookups are binary searches over
// read-only data, so they are safe for concurrent use and allocate nothing.
type archTable struct {
	byNr   []sysEntry
	byName []uint16
}

func tableOf(a Arch) *archTable {
	if int(a) >= len(archTables) {
		return nil
	}
	return &archTables[a]
}

// Name returns the name of syscall nr in the ABI's table. For ArchX32 the
// x32 bit may be set or not.
func Name(a Arch, nr int) (string, bool) {
	if a == ArchX32 {
		nr &^= X32Bit
	}
	t := tableOf(a)
	if t == nil || nr < 0 || nr > 1<<31-1 {
		return "", false
	}
	i := sort.Search(len(t.byNr), func(i int) bool { return int(t.byNr[i].nr) >= nr })
	if i < len(t.byNr) && int(t.byNr[i].nr) == nr {
		return t.byNr[i].name, true
	}
	return "", false
}

// Number returns the number of the named syscall in the ABI's table, as
// audit logs it (x32 numbers carry X32Bit).
func Number(a Arch, name string) (int, bool) {
	t := tableOf(a)
	if t == nil {
		return 0, false
	}
	i := sort.Search(len(t.byName), func(i int) bool { return t.byNr[t.byName[i]].name >= name })
	if i == len(t.byName) || t.byNr[t.byName[i]].name != name {
		return 0, false
	}
	nr := int(t.byNr[t.byName[i]].nr)
	if a == ArchX32 {
		nr |= X32Bit
	}
	return nr, true
}

// Numbers returns the number of the named syscall in every ABI that has it,
// as audit logs it (the x32 number carries X32Bit); nil when no ABI has it.
func Numbers(name string) map[Arch]int {
	var m map[Arch]int
	for _, a := range Arches() {
		if nr, ok := Number(a, name); ok {
			if m == nil {
				m = make(map[Arch]int, len(archTables))
			}
			m[a] = nr
		}
	}
	return m
}

// Known reports whether name is a syscall in at least one ABI's table.
func Known(name string) bool {
	for _, a := range Arches() {
		if _, ok := Number(a, name); ok {
			return true
		}
	}
	return false
}

// SyscallNames returns the names of every syscall of the ABI, sorted.
func SyscallNames(a Arch) []string {
	t := tableOf(a)
	if t == nil {
		return nil
	}
	names := make([]string, len(t.byName))
	for i, j := range t.byName {
		names[i] = t.byNr[j].name
	}
	return names
}
