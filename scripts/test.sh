#!/usr/bin/env bash
# README's test command: install what is needed, then all three tiers (unit, integration with
# the real programs in network namespaces, end-to-end on real VMs under qemu).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest -p no:cacheprovider -ra "$@" tests
