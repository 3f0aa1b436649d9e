// Package nspawn boots a real systemd as PID 1 of a systemd-nspawn
// container for tests (FACTS.md, "Real systemd in a container").
//
// The Debian bookworm rootfs is built once with debootstrap and cached as
// a tarball (RootfsTarball), extracted once next to it, and used as the
// read-only lower layer of an overlay mount per container, so a boot takes
// about a second. Boot places the container in cgroups of its own,
// /machine.slice/machine-NAME.scope in name=systemd (v1 and hybrid hosts)
// and cgroup2, where systemd-machined would put it (only a cgroup under
// machine.slice is taken for a container), waits until systemd is
// running, and registers a cleanup that stops the container and removes
// the overlay mount, the temporary directories and the cgroups (and
// machine.slice once no container is left in it, unless systemd is PID 1
// and the slice was there before), on success and on failure.
//
// Tests that call Boot are skipped, with the reason, when not root or when
// systemd-nspawn, nsenter or (without a cached rootfs) debootstrap are
// missing, and fail for that reason under CI=true; CI installs them
// (apt-get install systemd-container debootstrap).
package nspawn
