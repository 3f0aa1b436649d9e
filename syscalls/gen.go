package syscalls

// The number tables come from libseccomp's syscall table, the group tables
// from systemd (see internal/gen/testdata/README.md for provenance).

//go:generate go run ./internal/gen tables -in internal/gen/testdata/syscalls.csv -out ztables.go
//go:generate go run ./internal/gen groups -out zgroups.go -md GROUPS.md internal/gen/testdata/systemd-252.txt internal/gen/testdata/systemd-256.txt
