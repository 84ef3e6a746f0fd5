"""What lost advertisements do to VRRP (the `flapping` scenario), from packets: pure code.

A backup declares the master dead after three advert intervals (plus its skew) without an
advert; with random loss on the master's link, three lost in a row happen now and then, the
backup takes the VIP, and the master (still alive) takes it back with its next advert that gets
through. Each hand-over is a transition; the client may lose requests at each one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from labctl.model.lab import Lab
from labctl.observe.packets import Decoded
from labctl.observe.probes import ProbeRecord
from labctl.report.linkspells import Spell, advertisers_after, spells, transitions

Outage = Callable[[list[ProbeRecord], float, float | None], dict[str, Any]]


def flapping(
    lab: Lab,
    events: list[dict[str, Any]],
    decoded: Decoded | None,
    probes: dict[str, list[ProbeRecord]],
    outage: Outage,
) -> dict[str, Any] | None:
    """Transitions per VIP while a link was impaired (and until VRRP settled after), the
    client's outage at each, and whether every planned master had its VIP back after."""
    impaired = spells(events, "impair", "impair-clear")
    if not impaired:
        return None
    advert_int = float(lab.vrrp.advert_int)
    start = min(s.start for s in impaired)
    end = max((s.end for s in impaired if s.end is not None), default=None)
    result: dict[str, Any] = {"impaired": [_spell(s) for s in impaired], "captured": decoded is not None}
    if decoded is None or end is None:
        return result
    finish = decoded.last_t if decoded.last_t is not None else end
    # Who advertises at the end of the recording: the last intervals after the cleanup.
    final = max(end, finish - 2.5 * advert_int)
    per_vip: dict[str, Any] = {}
    outages: list[float] = []
    for vip in lab.vips:
        changes = [c for c in transitions(decoded, lab, vip.vrid) if c["t"] >= start]
        records = probes.get(vip.address, [])
        for index, change in enumerate(changes):
            following = changes[index + 1]["t"] if index + 1 < len(changes) else finish
            seen = outage(records, change["t"] - max(change["silence_s"], 0.0), following) if records else {}
            change["client_outage_s"] = seen.get("outage_s")
            change["failed"] = seen.get("failed")
            if seen.get("outage_s") is not None:
                outages.append(seen["outage_s"])
        planned = lab.elected_master(vip)
        for change in changes:
            if change["from"] == planned and change["to"] in vip.priorities:
                # VRRP theory for the claim: the claimer's master-down interval.
                change["theory_s"] = round(3 * advert_int + (256 - vip.priorities[change["to"]]) / 256, 4)
        back = [c["t"] for c in changes if c["t"] >= end and c["to"] == planned]
        per_vip[vip.name] = {
            "planned_master": planned,
            "transitions": len(changes),
            "changes": changes,
            "advertisers_at_end": advertisers_after(decoded, lab, vip.vrid, final),
            "back_after_s": round(back[-1] - end, 3) if back else 0.0,
        }
    during = [r for records in probes.values() for r in records if start <= r.t <= end]
    failed = sum(1 for r in during if not r.ok)
    # How long the planned master was silent before a backup claimed its VIP: the master-down
    # interval when VRRP keeps its timers (the way back is immediate: the master's next advert).
    claims = [c for v in per_vip.values() for c in v["changes"] if c["from"] == v["planned_master"]]
    silences = [c["silence_s"] for c in claims]
    theory = [c["theory_s"] for c in claims if "theory_s" in c]
    recovered = all(v["advertisers_at_end"] == [v["planned_master"]] for v in per_vip.values())
    result.update(
        {
            "impaired_s": round(end - start, 3),
            "transitions": sum(v["transitions"] for v in per_vip.values()),
            "per_vip": per_vip,
            "outage_per_transition_s": round(statistics.mean(outages), 3) if outages else None,
            "max_outage_s": round(max(outages), 3) if outages else None,
            "claim_silence_s": round(statistics.mean(silences), 3) if silences else None,
            "claim_theory_s": round(statistics.mean(theory), 3) if theory else None,
            "requests_during": len(during),
            "requests_failed_pct": round(100 * failed / len(during), 1) if during else None,
            "recovered": recovered,
            "recovered_after_s": max(v["back_after_s"] for v in per_vip.values()) if recovered else None,
        }
    )
    return result


def _spell(spell: Spell) -> dict[str, Any]:
    return {"node": spell.node, "start": spell.start, "end": spell.end, **spell.details}
