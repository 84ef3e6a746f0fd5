"""Where labctl keeps run-time files on a node, for every step that pushes a script or reads
keepalived's state words there.

How the engine reaches a running lab is declared in labctl/lab/runtime.py (`LabAccess`).
"""

from __future__ import annotations

# Where labctl keeps run-time files on a node: scripts it pushes and keepalived's VRRP state
# words (/run/labctl/vrrp/<instance>, written by labctl-vrrp-notify). /run is a tmpfs on the
# VMs, so a rebooted node starts clean and scripts are pushed again before each use.
RUN_DIR = "/run/labctl"
VRRP_DIR = f"{RUN_DIR}/vrrp"
BIN_DIR = f"{RUN_DIR}/bin"
