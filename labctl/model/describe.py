"""Plain-data and plain-language views of a lab: JSON for scripts, notes for students."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from labctl.model.lab import AUTH_PASS_MAX, Lab


def lab_to_dict(lab: Lab) -> dict[str, Any]:
    data = asdict(lab)
    data["vrrp"].pop("auth_pass", None)  # never print a secret
    data["nodes"] = [asdict(n) for n in lab.nodes]
    data["vips"] = [{**asdict(v), "master": lab.elected_master(v), "order": lab.backup_order(v)} for v in lab.vips]
    return data


def tie_notes(lab: Lab) -> list[str]:
    """Explain every backup-priority tie. A backup accepts an advert of equal priority, so the
    tied backup whose master-down timer fires first keeps the VIP; only when both claim it at
    once does the higher primary address win. Where a failed master's VIP goes is then a
    matter of timing (measured in namespaces: the lower address won both reference ties)."""
    notes = []
    for vip in lab.vips:
        for prio, order in lab.priority_ties(vip):
            addresses = ", ".join(f"{n} {lab.node(n).address}" for n in order)
            notes.append(
                f"{vip.name}: {' and '.join(sorted(order))} share priority {prio} ({addresses}); "
                f"after a failure the one whose VRRP timer fires first takes the VIP, and only a "
                f"simultaneous claim goes to the higher address, so the outcome is not fixed. "
                f"`labctl plan` gives matrices without ties."
            )
    return notes


def password_notes(lab: Lab) -> list[str]:
    """A PASS password longer than keepalived reads: the lab keeps it as written (an imported
    submission's), keepalived uses its first AUTH_PASS_MAX characters. The password itself is
    never printed."""
    written = lab.vrrp.auth_pass
    if lab.vrrp.auth_type != "PASS" or not written or len(written) <= AUTH_PASS_MAX:
        return []
    return [
        f"vrrp.auth_pass is {len(written)} characters: keepalived sends and checks only the first {AUTH_PASS_MAX} "
        f"(it logs 'Truncating auth_pass to {AUTH_PASS_MAX} characters' and `keepalived --config-test` exits 5); "
        "the lab renders it as written"
    ]


def coverage_notes(lab: Lab) -> list[str]:
    """A VIP configured on some balancers only: who never holds it, or that nobody takes it
    over when its only balancer fails."""
    notes = []
    balancers = [b.name for b in lab.balancers]
    for vip in lab.vips:
        on = [b for b in balancers if b in vip.priorities]
        never = [b for b in balancers if b not in vip.priorities]
        if not never:
            continue
        if len(on) == 1:
            notes.append(f"{vip.name} is configured on {on[0]} only: no balancer takes it over when {on[0]} fails")
        else:
            verb = "never holds" if len(never) == 1 else "never hold"
            notes.append(f"{vip.name} is configured on {_and(on)} only: {_and(never)} {verb} it")
    return notes


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def lab_notes(lab: Lab) -> list[str]:
    """What `labctl validate` explains beside a valid lab."""
    return coverage_notes(lab) + tie_notes(lab) + password_notes(lab)
