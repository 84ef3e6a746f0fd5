"""The page's data, pure: the lab file as a picture, node readings as a state, and the events
that tell two successive states apart. No I/O: everything here is a function of its arguments,
so the unit tests can feed it by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labctl.model.lab import Lab
from labctl.observe.snapshot import NodeSnapshot


@dataclass
class NodeReading:
    """One node at one poll: its snapshot, or why there is none."""

    snapshot: NodeSnapshot | None = None
    error: str | None = None
    powered: bool | None = None  # False: the hypervisor says it is off; None: nobody knows


@dataclass
class LabReading:
    """Every node at one poll, or the reason the lab cannot be read at all."""

    t: float
    up: bool
    why: str | None = None
    nodes: dict[str, NodeReading] = field(default_factory=dict)


def picture(lab: Lab) -> dict[str, Any]:
    """What the lab file says: drawn the same whether the lab runs or not."""
    return {
        "lab": lab.name,
        "network": lab.network.cidr,
        "interface": lab.network.interface,
        "port": lab.ipvs.port,
        "scheduler": lab.ipvs.scheduler,
        "advert_int": lab.vrrp.advert_int,
        "nodes": [{"name": n.name, "role": n.role, "address": n.address} for n in lab.nodes],
        "vips": [
            {
                "name": v.name,
                "address": v.address,
                "vrid": v.vrid,
                "priorities": dict(v.priorities),
                "planned_master": lab.elected_master(v),
                "order": lab.backup_order(v),
            }
            for v in lab.vips
        ],
    }


def _ipvs(lab: Lab, snapshot: NodeSnapshot) -> dict[str, dict[str, dict[str, int]]]:
    """VIP name -> real name -> ActiveConn/InActConn on this director."""
    if snapshot.ipvs is None:
        return {}
    names = {n.address: n.name for n in lab.nodes}
    table: dict[str, dict[str, dict[str, int]]] = {}
    for vip in lab.vips:
        service = snapshot.ipvs.service(vip.address, lab.ipvs.port)
        if service is None:
            continue
        table[vip.name] = {
            names.get(r.address, r.address): {"active": r.active_conn, "inactive": r.inact_conn} for r in service.reals
        }
    return table


def _node_state(lab: Lab, name: str, reading: NodeReading | None) -> dict[str, Any]:
    if reading is None or reading.snapshot is None:
        why = "powered off" if reading is not None and reading.powered is False else None
        return {"up": False, "why": why or (reading.error if reading else None) or "no answer"}
    snap = reading.snapshot
    vip_names = {v.address: v.name for v in lab.vips}
    return {
        "up": True,
        "why": None,
        "held": sorted(vip_names[a] for a in snap.held(list(vip_names))),
        "vrrp": dict(snap.vrrp),
        "ipvs": _ipvs(lab, snap),
        "services": dict(snap.services),
        "problems": list(snap.problems),
    }


def state(lab: Lab, reading: LabReading) -> dict[str, Any]:
    """Node readings merged into one state: per node what it holds and its VRRP states, per VIP
    its holders (balancers only: reals hold every VIP on lo for direct routing)."""
    if not reading.up:
        return {"t": reading.t, "up": False, "why": reading.why or "lab is down", "nodes": {}, "vips": {}}
    nodes = {n.name: _node_state(lab, n.name, reading.nodes.get(n.name)) for n in lab.nodes}
    vips = {}
    for vip in lab.vips:
        holders = sorted(
            b.name for b in lab.balancers if nodes[b.name]["up"] and vip.name in nodes[b.name].get("held", [])
        )
        vips[vip.name] = {
            "holders": holders,
            "planned_master": lab.elected_master(vip),
            "at_master": holders == [lab.elected_master(vip)],
        }
    return {"t": reading.t, "up": True, "why": None, "nodes": nodes, "vips": vips}


def _event(t: float, kind: str, text: str, level: str = "info", **extra: Any) -> dict[str, Any]:
    return {"t": t, "kind": kind, "text": text, "level": level, **extra}


def events(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed between two states, worded for the audience. The first state (BEFORE None)
    only says whether the lab is up."""
    t = after["t"]
    if before is None:
        return [_event(t, "lab_down", f"lab is down: {after['why']}", "bad")] if not after["up"] else []
    if before["up"] != after["up"]:
        if not after["up"]:
            return [_event(t, "lab_down", f"lab is down: {after['why']}", "bad")]
        # The lab came up: every VIP's holder is news.
        before = {"nodes": {}, "vips": {name: {"holders": []} for name in after["vips"]}}
        found = [_event(t, "lab_up", "lab is up", "good")]
    else:
        found = []
    if not after["up"]:
        return found
    for name, node in after["nodes"].items():
        was = before["nodes"].get(name)
        if was is not None and was["up"] and not node["up"]:
            found.append(_event(t, "node_down", f"{name} is down ({node['why']})", "bad", node=name))
        elif was is not None and not was["up"] and node["up"]:
            found.append(_event(t, "node_up", f"{name} is back", "good", node=name))
    for name, vip in after["vips"].items():
        old = before["vips"].get(name, {}).get("holders")
        new = vip["holders"]
        if old is None or old == new:
            continue
        if len(new) > 1:
            found.append(_event(t, "duplicate", f"{name} held by {' and '.join(new)} at once", "bad", vip=name))
        elif not new:
            found.append(_event(t, "vip_lost", f"{name} held by nobody", "bad", vip=name))
        elif len(old) == 1:
            found.append(_event(t, "vip_moved", f"{name} moved {old[0]} → {new[0]}", "warn", vip=name))
        else:
            found.append(_event(t, "vip_held", f"{name} held by {new[0]}", "good", vip=name))
    return found
