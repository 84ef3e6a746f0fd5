"""The checks `labctl up` runs before it says "ready": VIP holders, IPVS tables, HTTP via VIPs.

Pure evaluation (`evaluate_*`) is apart from gathering, so the rules are tested on recorded data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labctl.model.lab import Lab
from labctl.observe import parse as observe
from labctl.observe.snapshot import NodeSnapshot


@dataclass(frozen=True)
class Check:
    name: str
    node: str | None  # a VIP check names its planned master: None if no balancer would be
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "node": self.node, "ok": self.ok, "detail": self.detail}


def expected_ipvs(lab: Lab) -> list[dict[str, Any]]:
    return [
        {
            "vip": vip.address,
            "port": lab.ipvs.port,
            "proto": "TCP",
            "scheduler": lab.ipvs.scheduler,
            "reals": [
                {"address": r.address, "port": lab.ipvs.port, "forward": "Route", "weight": lab.ipvs.weight}
                for r in lab.reals
            ],
        }
        for vip in lab.vips
    ]


def evaluate_vips(lab: Lab, views: dict[str, NodeSnapshot]) -> list[Check]:
    """Each VIP is held by exactly one balancer, and it is the planned master."""
    vips = [v.address for v in lab.vips]
    held = {b.name: views[b.name].held(vips) for b in lab.balancers if b.name in views}
    checks = []
    for vip in lab.vips:
        holders = sorted(name for name, addrs in held.items() if vip.address in addrs)
        master = lab.elected_master(vip)
        ok = holders == [master]
        if ok:
            detail = f"{vip.address} held by {master}, its planned master"
        elif not holders:
            detail = f"{vip.address} is held by no balancer (expected {master})"
        else:
            detail = f"{vip.address} is held by {', '.join(holders)} (expected {master} alone)"
        checks.append(Check(f"vip {vip.name}", master, ok, detail))
    return checks


def evaluate_ipvs(lab: Lab, views: dict[str, NodeSnapshot]) -> list[Check]:
    checks = []
    for balancer in lab.balancers:
        view = views.get(balancer.name)
        if view is None or view.ipvs is None:
            checks.append(Check("ipvs table", balancer.name, False, "no IPVS table (ip_vs not loaded?)"))
            continue
        diff = observe.diff_ipvs(expected_ipvs(lab), view.ipvs)
        detail = "matches the plan" if not diff else "; ".join(diff)
        checks.append(Check("ipvs table", balancer.name, not diff, detail))
    return checks


def evaluate_nodes(lab: Lab, views: dict[str, NodeSnapshot]) -> list[Check]:
    """What a second `up` would otherwise have provisioning make sure of: every node has its lab
    address; each real holds every VIP on lo and serves with nginx; each balancer runs
    keepalived. A node with no snapshot fails."""
    checks = []
    vips = [v.address for v in lab.vips]
    for node in lab.nodes:
        view = views.get(node.name)
        if view is None:
            checks.append(Check("node", node.name, False, "no snapshot"))
            continue
        missing = []
        if not any(a.address == node.address and a.ifname == lab.network.interface for a in view.addresses):
            missing.append(f"{node.address} on {lab.network.interface}")
        if node.role == "real":
            on_lo = {a.address for a in view.addresses if a.ifname == "lo"}
            missing += [f"VIP {vip} on lo" for vip in vips if vip not in on_lo]
            if view.services.get("nginx") != "active":
                missing.append("nginx running")
        if node.role == "balancer" and view.services.get("keepalived") != "active":
            missing.append("keepalived running")
        detail = "as planned" if not missing else "missing: " + ", ".join(missing)
        checks.append(Check("node", node.name, not missing, detail))
    return checks


def parse_http_lines(text: str) -> list[tuple[str, str, str]]:
    """(vip, status, real) per line of http-check.sh; a failed request has status 000 and no
    real (shown as '-')."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) in (2, 3):
            rows.append((parts[0], parts[1], parts[2] if len(parts) == 3 else "-"))
    return rows


def evaluate_http(lab: Lab, client: str, rows: list[tuple[str, str, str]]) -> list[Check]:
    """Every VIP answers 200, and both (all) reals are seen across its requests."""
    checks = []
    reals = {r.name for r in lab.reals}
    for vip in lab.vips:
        mine = [r for r in rows if r[0] == vip.address]
        codes = sorted({code for _, code, _ in mine})
        seen = {real for _, code, real in mine if code == "200"}
        ok = bool(mine) and codes == ["200"] and reals <= seen
        detail = (
            f"{len(mine)} requests to {vip.address}: status {', '.join(codes) or 'none'}; "
            f"reals seen: {', '.join(sorted(seen)) or 'none'}"
        )
        checks.append(Check(f"http {vip.name}", client, ok, detail))
    return checks


def wait_for_checks(
    gather: Callable[[], list[Check]],
    timeout: float,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    """Re-run GATHER until every check passes or TIMEOUT runs out (VRRP elects a master after
    about 3 x advert_int; keepalived's health checks add their delay_loop). Every INTERVAL: the
    last balancer's election ends the first `up`, so a coarser poll only adds to it."""
    deadline = time.monotonic() + timeout
    while True:
        checks = gather()
        if all(c.ok for c in checks) or time.monotonic() >= deadline:
            return checks
        sleep(interval)
