"""A split brain (the `split-brain` scenario), from packets: pure code.

While VRRP is cut between one balancer and its peers, each side elects its own masters: two
sources advertise one VRID (handover.duplicate_advertisers finds those spells), both announce
the VIP with gratuitous ARP, and the client follows whichever announced last. When VRRP is
restored the lower priority yields at the first advert it hears: recovery takes about one
advert interval.
"""

from __future__ import annotations

from typing import Any

from labctl.model.lab import Lab
from labctl.observe.packets import Decoded
from labctl.observe.probes import ProbeRecord
from labctl.report.handover import Names, duplicate_advertisers
from labctl.report.linkspells import advertisers_after, spells


def split_brain(
    lab: Lab,
    events: list[dict[str, Any]],
    decoded: Decoded | None,
    probes: dict[str, list[ProbeRecord]],
    polled: dict[str, list[dict[str, Any]]],
) -> dict[str, Any] | None:
    """The cut's figures. POLLED: per VIP, the duplicate holders the balancers' own address
    lists showed (analysis.duplicates), a second witness for adverts the segment never saw."""
    cuts = spells(events, "vrrp-cut", "vrrp-restore")
    if not cuts:
        return None
    start = min(c.start for c in cuts)
    restored = max((c.end for c in cuts if c.end is not None), default=None)
    result: dict[str, Any] = {
        "cut": [{"node": c.node, "start": c.start, "end": c.end, **c.details} for c in cuts],
        "captured": decoded is not None,
        "client": _client(probes, lab, start, restored),
        # After the restore the client may still send to the MAC the losing side announced,
        # until its ARP entry is refreshed (unless the winner announces itself again).
        "client_after": _client(probes, lab, restored, None) if restored is not None else None,
        "polled_duplicates": {
            name: sorted({h for d in found if d["end"] >= start for h in d["holders"]})
            for name, found in polled.items()
            if any(d["end"] >= start for d in found)
        },
    }
    if decoded is None or restored is None:
        return result
    advert_int = float(lab.vrrp.advert_int)
    spans = {
        name: [d for d in found if d["kind"] == "split brain" and d["end"] >= start]
        for name, found in duplicate_advertisers(decoded, lab).items()
    }
    duplicates = {name: sorted({s for d in found for s in d["sources"]}) for name, found in spans.items() if found}
    ends = [d["end"] for found in spans.values() for d in found]
    starts = [d["start"] for found in spans.values() for d in found]
    finish = decoded.last_t if decoded.last_t is not None else restored
    final = max(restored, finish - 2.5 * advert_int)  # the last adverts: who is master now
    at_end = {v.name: advertisers_after(decoded, lab, v.vrid, final) for v in lab.vips}
    result.update(
        {
            "detected": bool(duplicates),
            "duplicate_holders": duplicates,
            "spells": spans,
            "duration_s": round(max(ends) - min(starts), 3) if ends else 0.0,
            "recovery_s": round(max(max(ends) - restored, 0.0), 3) if ends else None,
            "advertisers_at_end": at_end,
            "recovered": all(at_end[v.name] == [lab.elected_master(v)] for v in lab.vips),
            "arp": _announcers(decoded, lab, start, restored),
        }
    )
    return result


def _announcers(decoded: Decoded, lab: Lab, start: float, end: float) -> dict[str, Any]:
    """Per VIP, which balancers' MACs answered or announced it during the cut, in order: the
    client's ARP cache follows the last one, so a sequence that alternates is what it saw."""
    names = Names.of(lab)
    mac_to_node = {a.mac: names.name(a.source) for a in decoded.adverts}
    result = {}
    for vip in lab.vips:
        sequence = [
            mac_to_node.get(a.sender_mac, a.sender_mac)
            for a in sorted(decoded.arps, key=lambda a: a.t)
            if start <= a.t <= end and a.sender_ip == vip.address and (a.op == 2 or a.gratuitous)
        ]
        switches = sum(1 for a, b in zip(sequence, sequence[1:]) if a != b)
        result[vip.name] = {"macs_of": sorted(set(sequence)), "frames": len(sequence), "switches": switches}
    return result


def _client(probes: dict[str, list[ProbeRecord]], lab: Lab, start: float, end: float | None) -> dict[str, Any]:
    """The probe's view during the cut, per VIP: requests, failures, and who answered."""
    result = {}
    for vip in lab.vips:
        window = [r for r in probes.get(vip.address, []) if r.t >= start and (end is None or r.t <= end)]
        answered: dict[str, int] = {}
        for record in window:
            if record.ok and record.real:
                answered[record.real] = answered.get(record.real, 0) + 1
        result[vip.name] = {
            "requests": len(window),
            "failed": sum(1 for r in window if not r.ok),
            "answered_by": answered,
        }
    return result
