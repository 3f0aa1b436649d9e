package syscalls

// Name returns the name of syscall nr in the ABI's table. For ArchX32 the
// x32 bit may be set or not.
func Name(a Arch, nr int) (string, bool) {
	if a == ArchX32 {
		nr &^= X32Bit
	}
	if int(a) >= len(numberToName) || nr < 0 {
		return "", false
	}
	n, ok := numberToName[a][nr]
	return n, ok
}

// Number returns the number of the named syscall in the ABI's table, as
// audit logs it (x32 numbers carry X32Bit).
func Number(a Arch, name string) (int, bool) {
	if int(a) >= len(nameToNumber) {
		return 0, false
	}
	nr, ok := nameToNumber[a][name]
	if ok && a == ArchX32 {
		nr |= X32Bit
	}
	return nr, ok
}
