"""What a teacher would mark in a submission, each with FILE:LINE and what keepalived or VRRP
will actually do. Elections and ties come from model/lab.py, loads from the planner."""

from __future__ import annotations

from collections import defaultdict

from labctl.model import lab as model
from labctl.model.planner import VipOrder, evaluate, format_rate
from labctl.submission.instances import Instance
from labctl.submission.mapping import Imported, Note
from labctl.submission.where import Where


def findings(result: Imported, traffic_bps: float, link_bps: float) -> list[Note]:
    notes: list[Note] = []
    groups = result.instances
    notes += _long_passwords(groups)
    notes += _masters_without_top_priority(groups)
    notes += _backup_ties(result)
    notes += _shared_vrids(groups)
    notes += _advert_ints(groups)
    notes += _lonely_masters(groups, result.lab)
    notes += _ipvs_coverage(result)
    notes += _loads(result.lab, traffic_bps, link_bps)
    return notes


def _long_passwords(groups: dict[str, list[Instance]]) -> list[Note]:
    notes = []
    for group in groups.values():
        for instance in group:
            written = instance.auth_pass
            if written and len(written.text) > model.AUTH_PASS_MAX:
                used = written.text[: model.AUTH_PASS_MAX]
                notes.append(
                    Note(
                        written.where,
                        f"auth_pass {written.text!r} is {len(written.text)} characters: keepalived uses the first "
                        f"{model.AUTH_PASS_MAX}, {used!r} (it logs 'Truncating auth_pass to {model.AUTH_PASS_MAX} "
                        f"characters'; `keepalived --config-test` exits 5); the lab keeps {written.text!r} as written",
                    )
                )
    return notes


def _masters_without_top_priority(groups: dict[str, list[Instance]]) -> list[Note]:
    notes = []
    for name, group in groups.items():
        top = max(i.priority_value for i in group)
        for instance in group:
            if instance.state_value == "MASTER" and instance.priority_value < top:
                leader = next(i.node for i in group if i.priority_value == top)
                where = instance.state.where if instance.state else instance.where
                notes.append(
                    Note(
                        where,
                        f"{name}: state MASTER on {instance.node} (priority {instance.priority_value}) but {leader} "
                        f"has {top}: {instance.node} starts as master, then yields to {leader}'s adverts; "
                        "the priority decides",
                    )
                )
    return notes


def _backup_ties(result: Imported) -> list[Note]:
    lab = result.lab
    notes = []
    for vip in lab.vips:
        master = lab.elected_master(vip)
        for priority, order in lab.priority_ties(vip):
            names, likely = [n for n in vip.priorities if n in order], order[0]  # names: as written
            instance = next(i for i in result.instances[vip.name] if i.node == names[0])
            where = instance.priority.where if instance.priority else instance.where
            addresses = ", ".join(f"{n} {lab.node(n).address}" for n in sorted(names))
            notes.append(
                Note(
                    where,
                    f"{vip.name}: backups {' and '.join(sorted(names))} share priority {priority} ({addresses}): when "
                    f"the balancers above them fail (master {master}), the one whose master-down timer fires first "
                    f"takes {vip.address}; only a simultaneous claim goes to the higher address, {likely}",
                )
            )
    return notes


def _shared_vrids(groups: dict[str, list[Instance]]) -> list[Note]:
    notes = []
    by_vrid: dict[str, dict[str, Instance]] = defaultdict(dict)
    for name, group in groups.items():
        vrids = {i.vrid.text for i in group if i.vrid}
        if len(vrids) > 1:
            notes.append(
                Note(
                    group[0].where,
                    f"{name}: virtual_router_id differs between nodes ({', '.join(sorted(vrids))}): "
                    "they are separate VRRP routers, each electing its own master",
                )
            )
        for instance in group:
            if instance.vrid:
                by_vrid[instance.vrid.text].setdefault(name, instance)
    for vrid, named in by_vrid.items():
        if len(named) > 1:
            first, *others = named.values()
            assert first.vrid is not None
            # Measured (keepalived 2.2.7): two instances of one VRID on one interface of a node stop
            # keepalived there ("both use VRID ...", "exited with permanent error CONFIG").
            nodes = [n for n in {i.node for g in groups.values() for i in g} if _vrid_count(groups, n, vrid) > 1]
            what = (
                f"keepalived on {', '.join(sorted(nodes))} refuses the config and runs no VRRP at all"
                if nodes
                else "their adverts collide (same VRID, different addresses), keepalived logs them as errors "
                "and the elections mix"
            )
            notes.append(
                Note(
                    first.vrid.where,
                    f"virtual_router_id {vrid} is used by {', '.join(sorted(named))} on one segment: {what}",
                )
            )
    return notes


def _vrid_count(groups: dict[str, list[Instance]], node: str, vrid: str) -> int:
    return sum(1 for g in groups.values() for i in g if i.node == node and i.vrid and i.vrid.text == vrid)


def _advert_ints(groups: dict[str, list[Instance]]) -> list[Note]:
    notes = []
    for name, group in groups.items():
        values = {i.advert_value for i in group}
        if len(values) > 1:
            shown = ", ".join(f"{i.node} {i.advert_value}" for i in group)
            where = next((i.advert_int.where for i in group if i.advert_int), group[0].where)
            notes.append(
                Note(
                    where,
                    f"{name}: advert_int differs between nodes ({shown}): VRRPv2 drops adverts whose interval differs "
                    "from its own, so each node may consider itself master",
                )
            )
    return notes


def _lonely_masters(groups: dict[str, list[Instance]], lab: model.Lab) -> list[Note]:
    notes = []
    for name, group in groups.items():
        if len(group) == 1:
            vips = ", ".join(v.address for v in group[0].vips) or "no VIP"
            notes.append(
                Note(
                    group[0].where,
                    f"{name} ({vips}) is configured on {group[0].node} only: no backup takes it over when "
                    f"{group[0].node} fails",
                )
            )
    return notes


def _ipvs_coverage(result: Imported) -> list[Note]:
    notes: list[Note] = []
    vrrp_vips: dict[str, Where] = {}
    for group in result.instances.values():
        for instance in group:
            for vip in instance.vips:
                vrrp_vips.setdefault(vip.address, vip.where)
    served: dict[str, Where] = {s.address: s.where for s in result.services if s.proto != "FWM"}
    for item in result.virtual_servers:
        if item.value and item.value not in ("fwmark", "group"):
            served.setdefault(item.value, item.where)
    if not served:
        if vrrp_vips:
            notes.append(
                Note(
                    None,
                    "no IPVS service in the submission: its VIPs move between balancers but nothing balances "
                    f"traffic behind them (the lab adds {result.lab.ipvs.scheduler} services to its reals)",
                )
            )
        return notes
    for address, where in vrrp_vips.items():
        if address not in served:
            notes.append(Note(where, f"VIP {address} has no IPVS service: its holder answers nothing on it"))
    for address, where in served.items():
        if address not in vrrp_vips:
            notes.append(Note(where, f"IPVS service for {address}, which no VRRP instance holds: no client reaches it"))
    return notes


def _loads(lab: model.Lab, traffic_bps: float, link_bps: float) -> list[Note]:
    """Homework question 3: each survivor's load after each single failure, VIPs equally loaded."""
    balancers = [b.name for b in lab.balancers]
    if not lab.vips or len(balancers) < 2:
        return []
    matrix = [
        VipOrder(i + 1, lab.backup_order(v)[0], tuple(lab.backup_order(v)), dict(v.priorities))
        for i, v in enumerate(lab.vips)
    ]
    notes = []
    share = format_rate(traffic_bps / len(lab.vips))
    for failed in balancers:
        loads = evaluate(matrix, balancers, traffic_bps, frozenset({failed}))
        parts = [f"{name} {format_rate(load)} ({100 * load / link_bps:.0f} %)" for name, load in loads.items()]
        worst = max(loads.values())
        verdict = "degraded: a link is full" if worst >= link_bps else "within the links"
        notes.append(
            Note(
                None,
                f"{failed} fails: {', '.join(parts)} of {format_rate(link_bps)} links, {format_rate(traffic_bps)} over "
                f"{len(lab.vips)} VIPs ({share} each): {verdict}",
            )
        )
    return notes
