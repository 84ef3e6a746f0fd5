"""The protocol's turning points in a capture, as events for events.jsonl."""

from __future__ import annotations

from typing import Any

from labctl.model.lab import Lab
from labctl.observe.packets import RUN_GAP_INTERVALS, Decoded, adverts_for, garps_for, mastership_runs


def _name(names: dict[str, str], address: str) -> str:
    return names.get(address, address)


def key_moments(decoded: Decoded, lab: Lab) -> list[dict[str, Any]]:
    """The protocol's turning points, for events.jsonl: each spell of mastership's first and
    last advert, every priority-0 advert, and the first gratuitous ARP of each burst."""
    names = {n.address: n.name for n in lab.nodes}
    advert_int = float(lab.vrrp.advert_int)
    moments: list[dict[str, Any]] = []
    last_t = decoded.last_t
    for vip in lab.vips:
        adverts = adverts_for(decoded, vip.vrid)
        for run in mastership_runs(adverts, advert_int):
            node = _name(names, run["source"])
            moments.append(
                {
                    "t": run["start"],
                    "what": "vrrp_first_advert",
                    "vip": vip.name,
                    "node": node,
                    "priority": run["priority"],
                }
            )
            if last_t is None or last_t - run["end"] > RUN_GAP_INTERVALS * advert_int or run["ended_by"]:
                moments.append(
                    {
                        "t": run["end"],
                        "what": "vrrp_last_advert",
                        "vip": vip.name,
                        "node": node,
                        "adverts": run["adverts"],
                    }
                )
        for advert in adverts:
            if advert.priority == 0:
                moments.append(
                    {"t": advert.t, "what": "vrrp_priority_0", "vip": vip.name, "node": _name(names, advert.source)}
                )
        mac_owner = {a.mac: _name(names, a.source) for a in adverts}
        previous: dict[str, float] = {}
        for arp in garps_for(decoded.arps, vip.address):
            if arp.t - previous.get(arp.sender_mac, -1e9) > 1.0:
                moments.append(
                    {
                        "t": arp.t,
                        "what": "gratuitous_arp",
                        "vip": vip.name,
                        "node": mac_owner.get(arp.sender_mac, arp.sender_mac),
                    }
                )
            previous[arp.sender_mac] = arp.t
    return sorted(moments, key=lambda m: m["t"])
