// Package syscalls maps system call ABIs and numbers to names, and names to
// the systemd filter groups (@system-service, @privileged, ...) that contain
// them.
//
// Both tables are generated (see gen.go) from committed inputs and are pure
// data: nothing in this package does I/O except Host, which asks the local
// systemd-analyze for the host's own group table.
package syscalls
