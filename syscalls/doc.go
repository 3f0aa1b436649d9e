// Package syscalls maps system call ABIs and numbers to names, and names to
// the systemd filter groups (@system-service, @privileged, ...) that contain
// them.
//
// # Numbers
//
// Name, Number, Numbers and Known answer from per-ABI tables for x86_64,
// x32, i386, aarch64, arm, riscv64, ppc64le and s390x, generated from
// libseccomp's src/syscalls.csv (NumbersSource names the release). That
// file is used, rather than the kernel's per-architecture .tbl files or
// golang.org/x/sys, because systemd resolves every name in
// SystemCallFilter= through libseccomp: its names are the names systemd
// accepts and prints, and one file covers every ABI, x32 included. ppc64le
// uses libseccomp's ppc64 column (numbers do not depend on endianness).
// x32 calls arrive in audit records as arch x86_64 with X32Bit set in the
// number; Name accepts them with or without the bit and Number returns them
// with it.
//
// # Groups
//
// A Table holds one systemd version's groups, nesting resolved. Bundled
// returns the tables generated from committed inputs (BundledVersions lists
// them; GROUPS.md says how they differ), Host asks the local
// `systemd-analyze syscall-filter` for the host's own table, ParseAnalyze
// reads that command's output from anywhere, and Select implements the
// --systemd.table pin (auto, host, or a version).
//
// Everything here is generated data and read-only lookups, safe for
// concurrent use; nothing does I/O except Host (and Select, which may call
// it). See gen.go for how the tables are regenerated.
package syscalls
