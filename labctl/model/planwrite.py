"""`labctl plan --write`: the planner's VIPs and priority matrix, into the lab file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from labctl.model import initlab, labfile
from labctl.model.lab import Lab, Vip
from labctl.model.planner import PlanResult


def planned_vips(lab: Lab, result: PlanResult) -> list[Vip]:
    taken = {n.address for n in lab.nodes}
    addresses = labfile.allocate_vip_addresses(lab.network, taken, result.vips)
    if len(addresses) < result.vips:
        from labctl.errors import LabctlError

        raise LabctlError(f"the network {lab.network.cidr} has no room for {result.vips} VIPs")
    first_vrid = min((v.vrid for v in lab.vips), default=55)
    if first_vrid + result.vips - 1 > 255:
        first_vrid = 1
    return [
        Vip(f"VI_{entry.index}", addresses[i], first_vrid + i, dict(entry.priorities))
        for i, entry in enumerate(result.matrix)
    ]


def write_plan(lab_path: Path, lab: Lab, result: PlanResult) -> Lab:
    """Replace the file's `vips:` block, keeping every other line (comments included), and
    check that the result validates."""
    new_lab = replace(lab, vips=tuple(planned_vips(lab, result)))
    text = lab_path.read_text()
    updated = initlab.replace_top_level_block(text, "vips", initlab.vips_block_text(new_lab))
    labfile.parse_lab(updated, str(lab_path))  # never write a file that would not load
    lab_path.write_text(updated)
    return new_lab
