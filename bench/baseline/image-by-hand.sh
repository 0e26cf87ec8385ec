#!/usr/bin/env bash
# The peer of `hoist migrate --no-verify` in the image-pipeline benchmark: the
# same result made by hand with plain tools. A 20 GiB sparse disk with one MBR
# partition, ext4 on it, the source tree copied in with rsync, fstab and a
# BIOS GRUB (core.img from grub-mkimage, boot.img in the MBR, a grub.cfg that
# finds the root by UUID), then a qcow2 image of the disk.
#
# usage: image-by-hand.sh SOURCE_ROOT WORK_DIR
# Leaves WORK_DIR/image.qcow2. Prints "@step NAME EPOCH_SECONDS" before each step.
set -euo pipefail
src=${1:?source root}
work=${2:?work folder}
mkdir -p "$work"
raw=$work/disk.raw
mnt=$work/mnt
loop=""

step() { echo "@step $1 $EPOCHREALTIME"; }

cleanup() {
  set +e
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  if [ -n "$loop" ]; then losetup -d "$loop"; fi
  rm -f "$raw"
}
trap cleanup EXIT

step disk
truncate -s 20G "$raw"
# 1 MiB aligned: sectors 1-2047 stay free for GRUB's core.img.
echo 'start=2048, type=83, bootable' | sfdisk --quiet "$raw"
start=2048
sectors=$(( $(stat -c %s "$raw") / 512 - start ))
loop=$(losetup --find --show --offset $((start * 512)) --sizelimit $((sectors * 512)) "$raw")
mkfs.ext4 -F -q "$loop"
uuid=$(blkid -s UUID -o value "$loop")
mkdir -p "$mnt"
mount "$loop" "$mnt"

step copy
rsync -aHAXS --numeric-ids \
  --exclude='/dev/*' --exclude='/proc/*' --exclude='/sys/*' --exclude='/media/*' \
  --exclude='/mnt/*' --exclude='lost+found/*' --exclude='/var/lib/lxcfs/*' \
  "$src/" "$mnt/"

step fstab
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" > "$mnt/etc/fstab"

step bootloader
kernel=$(cd "$mnt/boot" && ls vmlinuz-* | sort -V | tail -n 1)
version=${kernel#vmlinuz-}
mods=$mnt/usr/lib/grub/i386-pc
mkdir -p "$mnt/boot/grub"
cp -a "$mods" "$mnt/boot/grub/"
grub-mkimage -d "$mods" -O i386-pc -p '(hd0,msdos1)/boot/grub' -o "$work/core.img" \
  biosdisk part_msdos ext2 search search_fs_uuid normal linux configfile serial terminal gzio
cat > "$mnt/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
search --no-floppy --fs-uuid --set=root $uuid
linux /boot/$kernel root=UUID=$uuid ro net.ifnames=0 console=tty0 console=ttyS0,115200
initrd /boot/initrd.img-$version
boot
CFG
# Only the boot code of boot.img: bytes 440-511 hold the partition table.
dd if="$mods/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none

step unmount
umount "$mnt"
losetup -d "$loop"
loop=""

step image
qemu-img convert -O qcow2 -f raw "$raw" "$work/image.qcow2"
rm -f "$raw"

step done
