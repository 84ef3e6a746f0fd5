"""Spells of a degraded link (impair ... impair-clear, vrrp-cut ... vrrp-restore) from a run's
events, and the changes of VRRP mastership the packets show: pure functions shared by the
flapping and split-brain figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labctl.model.lab import Lab
from labctl.observe.packets import Decoded, adverts_for, mastership_runs
from labctl.report.handover import Names


@dataclass(frozen=True)
class Spell:
    node: str
    start: float  # when the change was in place (end of the action)
    end: float | None  # when it was undone (end of the undoing action), None if never seen
    details: dict[str, Any]


def spells(events: list[dict[str, Any]], begin: str, undo: str) -> list[Spell]:
    """Each BEGIN action (not a cleanup's) up to the UNDO of the same node that followed it."""
    acts = sorted((e for e in events if e.get("kind") == "action"), key=lambda e: e["t_start"])
    details = {(e.get("node"), e.get("action")): e for e in events if e.get("kind") == "action_details"}
    found = []
    for index, act in enumerate(acts):
        if act.get("action") != begin or act.get("restored"):
            continue
        later = next((a for a in acts[index + 1 :] if a.get("action") == undo and a.get("node") == act["node"]), None)
        extra = details.get((act["node"], begin), {})
        found.append(
            Spell(
                act["node"],
                act["t_end"],
                later["t_end"] if later else None,
                {k: v for k, v in extra.items() if k not in ("t", "kind", "action", "node")},
            )
        )
    return found


def transitions(decoded: Decoded, lab: Lab, vrid: int) -> list[dict[str, Any]]:
    """Every change of the advertising master of VRID: a spell of adverts from a source other
    than the one advertising before it. `silence_s` is how long nobody advertised in between
    (the old master's last advert to the new one's first; negative when they overlapped)."""
    names = Names.of(lab)
    runs = sorted(mastership_runs(adverts_for(decoded, vrid), float(lab.vrrp.advert_int)), key=lambda r: r["start"])
    changes = []
    for index, run in enumerate(runs[1:], start=1):
        before = max(runs[:index], key=lambda r: r["end"])
        if before["source"] == run["source"]:
            continue
        changes.append(
            {
                "t": round(run["start"], 6),
                "from": names.name(before["source"]),
                "to": names.name(run["source"]),
                "silence_s": round(run["start"] - before["end"], 4),
            }
        )
    return changes


def advertisers_after(decoded: Decoded, lab: Lab, vrid: int, after: float) -> list[str]:
    """Who advertised VRID as master after AFTER, by node name, in order of last advert."""
    names = Names.of(lab)
    last: dict[str, float] = {}
    for advert in adverts_for(decoded, vrid):
        if advert.t > after and advert.priority > 0:
            last[names.name(advert.source)] = advert.t
    return sorted(last, key=lambda n: last[n])
