#!/usr/bin/env bash
# Builds the e2e VM image into OUT (the first argument, an empty directory):
#   vmlinux      Debian's bookworm kernel, decompressed (qemu boots the ELF
#                through its PVH entry: no in-guest decompression)
#   initrd.img   a busybox initramfs that loads the modules to mount the
#                root disk and the 9p share, then switch_root's to systemd
#   root.img     ext4: debootstrap minbase + the packages the scenarios use
#   kernel-version
# The Go harness (internal/testutil/vm) runs this once per recipe hash and
# caches OUT under /var/tmp. Every file of this directory is part of the
# hash: change anything here and the image is rebuilt.
#
# It needs root (debootstrap, file ownership in the image), and mounts
# nothing itself; debootstrap mounts /proc and /sys inside the target while
# it installs, and the EXIT trap unmounts whatever is left under WORK.
set -euo pipefail
OUT=$(realpath "$1")
WORK=$(mktemp -d /var/tmp/seccompwatch-vm-build.XXXXXX)
cleanup() {
	# Innermost first; a failed debootstrap can leave proc/sys mounted.
	awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK" # apt-get download drops to user _apt
step() { printf '[vm-build %(%T)T] %s\n' -1 "$*"; }

# Packages inside the guest. minbase + systemd as PID 1 and D-Bus (without
# libnss-systemd on purpose: the daemon's D-Bus connection must work on
# hosts that lack it); auditd (installed, not enabled: a scenario starts
# it); real daemons for the hardening scenarios (nginx, chrony); python3
# curl and jq for the scenarios themselves; systemd-container for
# systemd-machined (machines registered outside machine.slice).
PACKAGES=systemd,systemd-sysv,systemd-container,dbus,udev,kmod,iproute2,procps,auditd,nginx-light,chrony,python3-minimal,curl,ca-certificates,jq

step kernel
mkdir -p "$WORK/kernel"
cd "$WORK/kernel"
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
pkg=$(kpkg)
[[ -n "$pkg" ]] || { apt-get update -qq && pkg=$(kpkg); }
[[ -n "$pkg" ]] || { echo "cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null
dpkg-deb -x ./*.deb root
kver=${pkg#linux-image-}
vmlinuz=root/boot/vmlinuz-$kver
# The bzImage holds an xz stream (CONFIG_KERNEL_XZ): find it, decompress it.
grep -abo $'\xfd7zXZ\x00' "$vmlinuz" >offsets || true
off=$(head -n 1 offsets | cut -d: -f1)
[[ -n "$off" ]] || { echo "no xz stream in $vmlinuz" >&2; exit 1; }
tail -c +"$((off + 1))" "$vmlinuz" >payload.xz
xz -dc --single-stream payload.xz >"$OUT/vmlinux"
head -c 4 "$OUT/vmlinux" | grep -q $'\x7fELF' || { echo "no ELF kernel in $vmlinuz" >&2; exit 1; }
echo "$kver" >"$OUT/kernel-version"

step initramfs
depmod -b root "$kver"
ird=$WORK/initrd
mkdir -p "$ird/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
cp /bin/busybox "$ird/bin/busybox"
: >"$ird/modules"
for m in virtio_pci virtio_blk ext4 9pnet_virtio 9p; do
	modprobe -d root -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko#"$PWD/root/"}
	mkdir -p "$ird/$(dirname "$rel")"
	cp "$ko" "$ird/$rel"
	echo "/$rel" >>"$ird/modules"
done
cat >"$ird/init" <<'EOF'
#!/bin/busybox sh
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t devtmpfs dev /dev
while read -r ko; do $b insmod "$ko" || echo "initramfs: insmod $ko failed"; done </modules
n=0
until [ -b /dev/vda ] || [ $n -ge 50 ]; do $b sleep 0.1; n=$((n + 1)); done
if ! $b mount -t ext4 -o rw,noatime /dev/vda /newroot; then
	echo "initramfs: cannot mount /dev/vda"; $b poweroff -f
fi
$b umount /proc
$b mount --move /dev /newroot/dev
exec $b switch_root /newroot /sbin/init
EOF
chmod +x "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1 >"$OUT/initrd.img")

step "debootstrap (minbase + $PACKAGES)"
root=$WORK/rootfs
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" >"$WORK/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

step configure
echo e2e >"$root/etc/hostname"
: >"$root/etc/machine-id" # a fresh, transient id on every boot
mkdir -p "$root/etc/systemd/journald.conf.d" "$root/etc/systemd/system" "$root/mnt/e2e" "$root/usr/local/sbin"
printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/e2e.conf"
# Daemons the packages enabled: scenarios start what they need.
chroot "$root" systemctl disable auditd.service nginx.service chrony.service >/dev/null 2>&1 || true
# Off the boot's critical path (each costs seconds under emulation), and
# timers that would run jobs in the middle of a scenario.
chroot "$root" systemctl mask \
	systemd-logind.service systemd-journal-flush.service systemd-update-utmp.service \
	systemd-update-utmp-runlevel.service e2scrub_reap.service e2scrub_all.timer \
	proc-sys-fs-binfmt_misc.automount systemd-binfmt.service modprobe@.service \
	getty@.service serial-getty@.service getty.target \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer \
	systemd-tmpfiles-clean.timer systemd-timesyncd.service >/dev/null 2>&1
# Generators run at boot and at every daemon-reload (seconds each under
# emulation; sysv-generator reads every /etc/init.d script): the root is
# mounted by the initramfs and every daemon here has a native unit.
mkdir -p "$root/etc/systemd/system-generators"
for g in "$root"/lib/systemd/system-generators/*; do
	ln -sf /dev/null "$root/etc/systemd/system-generators/$(basename "$g")"
done
cat >"$root/usr/local/sbin/e2e-run" <<'EOF'
#!/bin/sh
# Mounts the host's 9p share and hands over to the runner the host put there.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 e2e /mnt/e2e || exit 1
exec /bin/bash /mnt/e2e/init.sh
EOF
chmod +x "$root/usr/local/sbin/e2e-run"
cat >"$root/etc/systemd/system/e2e.service" <<'EOF'
[Unit]
Description=seccompwatch e2e scenarios (from the host's 9p share)
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/e2e-run
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable e2e.service >/dev/null 2>&1
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

step "root.img (mkfs.ext4 -d)"
mb=$(du -sm "$root" | cut -f1)
mkfs.ext4 -q -O ^has_journal -L e2e-root -d "$root" "$OUT/root.img" "$((mb + 768))M"
step done
