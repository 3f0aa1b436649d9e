// Package e2e is seccompwatch's end-to-end suite on a real systemd host: a
// Debian bookworm VM under qemu (internal/testutil/vm), booted once per
// batch, runs every scenarios/*.sh as root with systemd as PID 1. A
// scenario is a bash script that exits non-zero on failure; it sources
// lib.sh for helpers and finds the built binary and .deb under $E2E/bin
// and $E2E/dist. Adding a scenario is adding a script. The VM's cgroups
// are pure cgroup2; legacy/*.sh run in a second boot with systemd asked for
// legacy cgroup v1 (TestVMLegacyCgroups), the host itself is hybrid.
package e2e
