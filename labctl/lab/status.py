"""`labctl status`: each node's VM state, role, addresses, VIPs and VRRP states; each VIP's holder.
Works on a half-broken lab: every part that cannot be read says why instead of failing the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labctl.errors import LabctlError
from labctl.lab.bringup import gather_views
from labctl.lab.running import RunningLab
from labctl.model.lab import Lab
from labctl.observe.snapshot import NodeSnapshot


@dataclass
class LabStatus:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    vips: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "vips": self.vips, "problems": self.problems, "healthy": not self.problems}


def lab_status(run: RunningLab, lab: Lab) -> LabStatus:
    status = LabStatus()
    try:
        states = run.vm_states() if run.is_brought_up() else {}
    except LabctlError as exc:
        states = {}
        status.problems.append(f"vagrant status failed: {exc.message}")
    running = [n.name for n in lab.nodes if states.get(n.name) == "running"]
    views = gather_views(run, running) if running else {}
    vip_addresses = [v.address for v in lab.vips]
    for node in lab.nodes:
        entry: dict[str, Any] = {"role": node.role, "address": node.address, "vm": states.get(node.name, "not created")}
        view = views.get(node.name)
        if isinstance(view, NodeSnapshot):
            entry["vips_held"] = sorted(view.held(vip_addresses))
            entry["vrrp"] = view.vrrp
            entry["services"] = view.services
            for problem in view.problems:
                status.problems.append(f"{node.name}: {problem}")
        elif view is not None:
            entry["error"] = str(view).splitlines()[0]
            status.problems.append(f"{node.name}: unreachable over SSH ({entry['error']})")
        elif entry["vm"] == "saved":
            status.problems.append(f"{node.name}: suspended (its memory saved): `labctl up` resumes it")
        elif entry["vm"] != "running":
            status.problems.append(f"{node.name}: VM is {entry['vm']}")
        status.nodes[node.name] = entry
    for vip in lab.vips:
        # Reals hold every VIP on lo for direct routing: only balancers count as holders.
        holders = [
            n for n, e in status.nodes.items() if e["role"] == "balancer" and vip.address in e.get("vips_held", [])
        ]
        master = lab.elected_master(vip)
        status.vips[vip.name] = {"address": vip.address, "holders": holders, "planned_master": master}
        if len(holders) != 1:
            status.problems.append(f"{vip.name} {vip.address}: held by {', '.join(holders) or 'nobody'}")
    return status
