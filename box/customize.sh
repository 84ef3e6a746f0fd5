#!/bin/bash
# mmdebstrap customize hook: turns the fresh ROOTFS into a Vagrant-ready guest.
# Usage: customize.sh ROOTFS GUEST_DIR
set -euo pipefail

rootfs=$1
guest=$2

in_guest() { chroot "$rootfs" "$@"; }

# Vagrant's login: user "vagrant" with passwordless sudo, and no key in the box: each VM takes
# its lab's own key from the kernel command line at boot (labctl-login-key), so Vagrant's
# well-known insecure key opens nothing.
in_guest useradd --create-home --shell /bin/bash --user-group vagrant
install -d -m 0700 -o 1000 -g 1000 "$rootfs/home/vagrant/.ssh"
install -m 0440 "$guest/sudoers-vagrant" "$rootfs/etc/sudoers.d/vagrant"
install -m 0755 "$guest/labctl-login-key" "$rootfs/usr/local/sbin/labctl-login-key"
install -m 0644 "$guest/labctl-login-key.service" "$rootfs/etc/systemd/system/labctl-login-key.service"
in_guest systemctl enable labctl-login-key.service >/dev/null

# Network: systemd-networkd does DHCP on eth0 (net.ifnames=0 on the kernel command line keeps
# the old names); sshd does not wait for it (network.target comes as soon as networkd runs).
install -m 0644 "$guest/10-labctl-mgmt.network" "$rootfs/etc/systemd/network/10-labctl-mgmt.network"
install -D -m 0644 "$guest/networkd-labctl.conf" "$rootfs/etc/systemd/networkd.conf.d/labctl.conf"
in_guest systemctl enable systemd-networkd.service >/dev/null 2>&1
install -m 0644 "$guest/fstab" "$rootfs/etc/fstab"
echo labctl > "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlabctl\n' > "$rootfs/etc/hosts"

# Nothing in the background that eats the emulated CPU or waits for the network, and no
# mounts or services a lab never uses: under emulation every unit at boot costs a second or more.
# systemd-sysusers: every system user exists in the image already. ipvsadm.service (Debian's
# init script): on the balancers labctl's own unit restores the IPVS rules, on the reals and
# the client there is nothing to restore.
in_guest systemctl mask apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer \
    systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
    dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    sys-kernel-config.mount sys-fs-fuse-connections.mount \
    modprobe@dm_mod.service modprobe@drm.service modprobe@efi_pstore.service \
    modprobe@loop.service modprobe@fuse.service modprobe@configfs.service \
    systemd-network-generator.service getty@tty1.service \
    systemd-sysusers.service ipvsadm.service >/dev/null 2>&1 || true
# Generators run at every boot before any unit starts; these find nothing to do in a lab VM
# (no encrypted, verity or GPT-discovered disks, no hibernation image, no SysV-only service,
# no rc.local). Kept: fstab, getty (the serial console) and debug (systemd.mask= on the kernel
# command line).
mkdir -p "$rootfs/etc/systemd/system-generators"
for generator in systemd-cryptsetup-generator systemd-gpt-auto-generator \
    systemd-hibernate-resume-generator systemd-integritysetup-generator \
    systemd-veritysetup-generator systemd-rc-local-generator systemd-system-update-generator \
    systemd-sysv-generator systemd-run-generator; do
    ln -sf /dev/null "$rootfs/etc/systemd/system-generators/$generator"
done
# keepalived starts only once labctl has written its configuration; nginx only on the reals,
# where provisioning enables it.
in_guest systemctl disable keepalived.service nginx.service >/dev/null 2>&1 || true

# Drivers for hardware the lab has not (or never uses) stay unloaded.
install -m 0644 "$guest/modprobe-labctl.conf" "$rootfs/etc/modprobe.d/labctl.conf"

# A small initramfs: only what mounts the virtio root disk.
install -m 0644 "$guest/initramfs-modules" "$rootfs/etc/initramfs-tools/modules"
install -m 0644 "$guest/initramfs-labctl.conf" "$rootfs/etc/initramfs-tools/conf.d/labctl.conf"
# ...and no udev in it (see initramfs-hook-labctl).
install -D -m 0755 "$guest/initramfs-hook-labctl" "$rootfs/etc/initramfs-tools/hooks/labctl"
install -D -m 0755 "$guest/initramfs-labctl-dev" "$rootfs/etc/initramfs-tools/scripts/init-bottom/labctl-dev"
in_guest update-initramfs -u -k all >/dev/null

# SSH host keys: none in the box; each VM makes its own at first boot.
rm -f "$rootfs"/etc/ssh/ssh_host_*
install -m 0644 "$guest/sshd-labctl.conf" "$rootfs/etc/ssh/sshd_config.d/labctl.conf"
install -D -m 0644 "$guest/ssh-service-labctl.conf" "$rootfs/etc/systemd/system/ssh.service.d/labctl.conf"
# A command run over SSH (no terminal: PAM_TTY is "ssh") skips the message of the day, which
# runs /etc/update-motd.d at every session (0.1 s a login under emulation); a student's
# interactive login still shows it.
sed -i 's|^session *optional *pam_motd.so *motd=/run/motd.dynamic|session [success=2 default=ignore] pam_succeed_if.so quiet tty = ssh\n&|' \
  "$rootfs/etc/pam.d/sshd"
grep -q 'pam_succeed_if.so quiet tty = ssh' "$rootfs/etc/pam.d/sshd"  # the line above matched
install -m 0644 "$guest/labctl-ssh-hostkeys.service" "$rootfs/etc/systemd/system/labctl-ssh-hostkeys.service"
in_guest systemctl enable labctl-ssh-hostkeys.service >/dev/null
