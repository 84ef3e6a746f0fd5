#!/bin/bash
# mmdebstrap customize hook: turns the fresh ROOTFS into a Vagrant-ready guest.
# Usage: customize.sh ROOTFS GUEST_DIR VAGRANT_PUBKEY
set -euo pipefail

rootfs=$1
guest=$2
pubkey=$3

in_guest() { chroot "$rootfs" "$@"; }

# Vagrant's default login: user "vagrant", passwordless sudo, the insecure public key.
in_guest useradd --create-home --shell /bin/bash --user-group vagrant
install -d -m 0700 -o 1000 -g 1000 "$rootfs/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$pubkey" "$rootfs/home/vagrant/.ssh/authorized_keys"
install -m 0440 "$guest/sudoers-vagrant" "$rootfs/etc/sudoers.d/vagrant"

# Network: DHCP on eth0 (net.ifnames=0 on the kernel command line keeps the old names).
install -m 0644 "$guest/interfaces" "$rootfs/etc/network/interfaces"
install -d "$rootfs/etc/network/interfaces.d"
install -m 0644 "$guest/fstab" "$rootfs/etc/fstab"
echo labctl > "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlabctl\n' > "$rootfs/etc/hosts"

# IPVS module at boot for the balancers.
install -m 0644 "$guest/modules-load-ipvs.conf" "$rootfs/etc/modules-load.d/ipvs.conf"

# Nothing in the background that eats the emulated CPU or waits for the network.
in_guest systemctl mask apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer >/dev/null 2>&1 || true
# keepalived starts only once labctl has written its configuration; nginx stays enabled.
in_guest systemctl disable keepalived.service >/dev/null 2>&1 || true

# SSH host keys now, so the first boot does not spend emulated CPU on them.
in_guest ssh-keygen -A
