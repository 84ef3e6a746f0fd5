#!/usr/bin/env bash
# README's main job: a real lab (three balancers, two reals, a client as VMs under qemu, in a
# network namespace of its own), the failover experiment, and a clean teardown.
set -euo pipefail
# Root is needed (apt, network namespaces, libvirtd): from a user account the script runs itself
# again through sudo; as root (a container, a VM with no sudo installed) it just goes on.
if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
bash scripts/setup.sh
labctl=.venv/bin/labctl
dir=${LABCTL_DEMO_DIR:-demo}
$labctl init "$dir" --name demo --provider libvirt --box local --force
cd "$dir"
trap '../$labctl destroy --yes' EXIT
../$labctl box build
../$labctl up
../$labctl status
../$labctl scenario run failover
