"""Plain-data and plain-language views of a lab: JSON for scripts, notes for students."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from labctl.lab import Lab


def lab_to_dict(lab: Lab) -> dict[str, Any]:
    data = asdict(lab)
    data["vrrp"].pop("auth_pass", None)  # never print a secret
    data["nodes"] = [asdict(n) for n in lab.nodes]
    data["vips"] = [
        {**asdict(v), "master": lab.elected_master(v), "order": lab.backup_order(v)} for v in lab.vips
    ]
    return data


def tie_notes(lab: Lab) -> list[str]:
    """Explain every backup-priority tie: VRRP settles it by the higher primary address, so
    where a failed master's VIP goes depends on the balancers' addresses."""
    notes = []
    for vip in lab.vips:
        by_priority: dict[int, list[str]] = {}
        for name, prio in vip.priorities.items():
            by_priority.setdefault(prio, []).append(name)
        for prio, names in sorted(by_priority.items(), reverse=True):
            if len(names) < 2:
                continue
            order = [n for n in lab.backup_order(vip) if n in names]
            addresses = ", ".join(f"{n} {lab.node(n).address}" for n in order)
            notes.append(
                f"{vip.name}: {' and '.join(sorted(names))} share priority {prio}; VRRP prefers the "
                f"higher address ({addresses}), so {order[0]} wins that tie. `labctl plan` gives "
                f"matrices without ties."
            )
    return notes
