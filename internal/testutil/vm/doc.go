// Package vm boots a Debian bookworm virtual machine under qemu, with
// systemd as PID 1, and runs scenario scripts in it as root: the one place
// where seccompwatch runs as a real service on a real systemd host (its own
// kernel and audit state, the daemon in the same pid namespace as the
// records). nspawn cannot host it: its seccomp filter answers
// NETLINK_AUDIT sockets with EAFNOSUPPORT and refuses BPF.
//
// Lifecycle:
//
//   - EnsureImage builds the image once (kernel, initramfs, root disk; the
//     recipe is recipe/build.sh) into /var/tmp/seccompwatch-vm-<hash>,
//     where <hash> covers every file of the recipe: a changed recipe gets a
//     new directory, and the directories of other hashes unused for six
//     hours are removed. A lock file serialises builders.
//   - Run boots the image with the root disk snapshot=on (every boot starts
//     from the same pristine disk; qemu's overlay is an unlinked temporary
//     file), a host directory shared over 9p (tag "e2e", mounted at
//     /mnt/e2e), and waits for the guest to power off. The image's
//     e2e.service runs /mnt/e2e/init.sh and powers the machine off when it
//     ends, whatever its result.
//   - RunBatch lays out a share (scenarios, files, the runner), boots once,
//     and returns each scenario's exit code and output: batching many
//     scenarios into one boot is what keeps the suite short under
//     emulation.
//
// Hardware virtualisation is used only where kvm_intel or kvm_amd is
// loaded; elsewhere (e.g. /dev/kvm backed by kvm_pvm, which runs only
// guest kernels built for it) qemu emulates (TCG).
//
// Host cleanliness: qemu is started in its own process group with
// PR_SET_PDEATHSIG, killed (by its pid) on timeout or cancellation, and
// waited for; the share is the caller's directory; the image build mounts
// nothing itself and unmounts whatever debootstrap left behind on failure.
package vm
