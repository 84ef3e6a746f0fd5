#!/usr/bin/env bash
# Install what labctl, its tests and a real lab need on a fresh Debian/Ubuntu machine (as root):
# Vagrant with vagrant-libvirt, libvirt and qemu, mmdebstrap for the offline box, keepalived,
# ipvsadm, nginx and sshd for the integration tests, nftables (link impairments, VRRP cuts),
# iperf3 (the traffic measurements, checked in namespaces),
# chromium (the dashboard's browser tests, driven by Playwright without its own browser
# download); then labctl itself in .venv.
set -euo pipefail
# Root is needed (apt, network namespaces, libvirtd): from a user account the script runs itself
# again through sudo; as root (a container, a VM with no sudo installed) it just goes on.
if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi
cd "$(dirname "$0")/.."

packages=(
  vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
  dnsmasq-base qemu-system-x86 qemu-utils mmdebstrap
  keepalived ipvsadm nginx-light openssh-server openssh-client sudo iproute2 procps curl tcpdump
  nftables iperf3
  chromium
  python3 python3-venv
)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  # No daemon may start in the host's namespace: labctl starts its own inside a sandbox.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[dev]'
echo "setup: ready ($(vagrant --version), $(.venv/bin/labctl --version))"
