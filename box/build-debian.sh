#!/bin/bash
# Build labctl's Debian guest as a vagrant-libvirt box, without loop mounts.
# Usage: build-debian.sh SUITE OUTDIR MIRROR_LINE...
#   MIRROR_LINE: an apt source line, e.g. "deb http://MIRROR/debian bookworm main"
# Writes OUTDIR/{labctl.box,vmlinuz,initrd.img}; needs root and mmdebstrap.
set -euo pipefail

BOX_FORMAT_VERSION=1   # bump when the layout of the outputs changes
DISK_SIZE_GB=4

suite=$1
outdir=$2
shift 2
[ "$#" -gt 0 ] || { echo "build-debian.sh: no mirror line given" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)

packages=$(grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$' | paste -sd, -)
rootfs="$outdir/rootfs"
work="$outdir/work"
mkdir -p "$outdir" "$work"
trap 'rm -rf "$rootfs" "$work"' EXIT

echo "phase: bootstrap (format $BOX_FORMAT_VERSION, suite $suite)"
mmdebstrap --variant=minbase --include="$packages" \
    --customize-hook="'$here/customize.sh' \"\$1\" '$here/guest'" \
    "$suite" "$rootfs" "$@"

echo "phase: kernel"
cp "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)" "$outdir/vmlinuz"
cp "$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -n1)" "$outdir/initrd.img"

echo "phase: image"
truncate -s "${DISK_SIZE_GB}G" "$work/root.ext4"
mkfs.ext4 -q -L labctl-root -d "$rootfs" "$work/root.ext4"
qemu-img convert -O qcow2 "$work/root.ext4" "$work/box.img"
rm -f "$work/root.ext4"

echo "phase: package"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$DISK_SIZE_GB" > "$work/metadata.json"
cp "$here/guest/Vagrantfile" "$work/Vagrantfile"
tar -C "$work" -cf "$outdir/labctl.box" metadata.json Vagrantfile box.img
echo "build finished"
