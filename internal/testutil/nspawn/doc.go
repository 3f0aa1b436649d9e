// Package nspawn boots a real systemd as PID 1 of a systemd-nspawn
// container for tests (FACTS.md, "Real systemd in a container").
//
// The Debian bookworm rootfs is built once with debootstrap and cached as
// a tarball (RootfsTarball), extracted once next to it, and used as the
// read-only lower layer of an overlay mount per container, so a boot takes
// about a second. Boot places the container in cgroups of its own (v1
// name=systemd and cgroup2, the machine is hybrid), waits until systemd is
// running, and registers a cleanup that stops the container and removes
// the overlay mount, the temporary directories and the cgroups, on success
// and on failure.
//
// Tests that call Boot are skipped, with the reason, when not root or when
// systemd-nspawn, nsenter or (without a cached rootfs) debootstrap are
// missing; CI installs them (apt-get install systemd-container debootstrap).
package nspawn
