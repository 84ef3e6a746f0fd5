"""What a capture holds, in a teacher's words: who advertised which VRRP instance, the
gratuitous ARPs for each VIP, and the requests the VIPs answered. Pure code on decoded records."""

from __future__ import annotations

from typing import Any

from labctl.model.lab import Lab
from labctl.observe.packets import Decoded, adverts_for
from labctl.report import handover as phases


def overview(decoded: Decoded, lab: Lab) -> dict[str, Any]:
    names = phases.Names.of(lab)
    mac_owner = {a.mac: names.name(a.source) for a in decoded.adverts}
    vips: dict[str, Any] = {}
    answers = phases.client_answers(decoded, lab, lab.ipvs.port)
    duplicates = phases.duplicate_advertisers(decoded, lab)
    for vip in lab.vips:
        adverts = adverts_for(decoded, vip.vrid)
        by_node: dict[str, dict[str, Any]] = {}
        for advert in adverts:
            entry = by_node.setdefault(
                names.name(advert.source), {"adverts": 0, "priorities": set(), "first": advert.t, "last": advert.t}
            )
            entry["adverts"] += 1
            entry["priorities"].add(advert.priority)
            entry["last"] = advert.t
        garps: dict[str, int] = {}
        for arp in decoded.arps:
            if arp.gratuitous and arp.sender_ip == vip.address:
                owner = mac_owner.get(arp.sender_mac, arp.sender_mac)
                garps[owner] = garps.get(owner, 0) + 1
        vips[vip.name] = {
            "address": vip.address,
            "vrid": vip.vrid,
            "advertisers": {n: {**e, "priorities": sorted(e["priorities"])} for n, e in by_node.items()},
            "gratuitous_arps": garps,
            "requests": answers[vip.name],
            "two_advertisers": duplicates[vip.name],
        }
    return {
        "decoded": decoded.to_dict(),
        "jitter": phases.advert_jitter(decoded, names, float(lab.vrrp.advert_int)),
        "vips": vips,
    }
