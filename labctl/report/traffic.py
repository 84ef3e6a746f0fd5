"""The traffic experiment measured (homework question 3): pure code on the run's records.

Each balancer's load is what its tap carried toward it per second (after the tbf that stands
for its link), as a share of the shaped rate. With a balancer powered off, each survivor
carries its VIPs' share of the offered load: up to its link, and the excess is lost. The
planner predicts the same split from the priority matrix; the figures put the two side by side.
"""

from __future__ import annotations

import statistics
from typing import Any

from labctl.lab.tapcounters import Count, rates
from labctl.model import planner as plan
from labctl.model.lab import Lab
from labctl.scenario.traffic import Offered

# After a power-off the VIPs move within the master-down interval (about 3.6 s) and the link
# counters need a tick to show it: the steady window starts this long after the action.
SETTLE_INTERVALS = 3
SETTLE_EXTRA_S = 2.5


def interfaces(events: list[dict[str, Any]]) -> dict[str, list[tuple[float, str]]]:
    """Per node, (since, interface) of its host-side link: named when the counters started and
    again by each shaping (a rebooted VM has a new tap)."""
    found: dict[str, list[tuple[float, str]]] = {}
    for event in sorted(events, key=lambda e: e.get("t", 0.0)):
        if event.get("kind") == "counters_start":
            for node, interface in (event.get("links") or {}).items():
                found.setdefault(node, []).append((event["t"], interface))
        elif event.get("kind") == "action_details" and event.get("action") == "shape" and event.get("interface"):
            found.setdefault(event["node"], []).append((event["t"], event["interface"]))
    return found


def node_series(counts: list[Count], named: list[tuple[float, str]]) -> list[tuple[float, float]]:
    """(time, bits/s toward the node), following the node's interface as it changes."""
    series = []
    for index, (since, interface) in enumerate(named):
        until = named[index + 1][0] if index + 1 < len(named) else float("inf")
        start = since if index else float("-inf")  # the first name holds from the start
        series += [(t, bps) for t, bps in rates(counts, interface) if start <= t < until]
    return sorted(set(series))


def _typical(series: list[tuple[float, float]], start: float, end: float) -> float | None:
    """The median second of the window: a stall of the emulating host (every rate dips at
    once, then a catch-up burst) is not what the link carried."""
    values = [bps for t, bps in series if start < t <= end]
    return statistics.median(values) if values else None


def _offered_bps(offered: list[Offered]) -> dict[str, float]:
    """The average rate offered to each VIP address over the sender's records."""
    result = {}
    for vip in sorted({o.vip for o in offered}):
        mine = sorted((o for o in offered if o.vip == vip), key=lambda o: o.t)
        if len(mine) >= 2 and mine[-1].t > mine[0].t:
            result[vip] = 8 * (mine[-1].bytes_total - mine[0].bytes_total) / (mine[-1].t - mine[0].t)
    return result


def traffic(
    lab: Lab,
    events: list[dict[str, Any]],
    counts: list[Count],
    offered: list[Offered],
    holders_at: Any,
) -> dict[str, Any] | None:
    """The traffic figures, or None when the run measured no traffic. HOLDERS_AT(vip_name, t)
    gives who held a VIP at a moment (the polled timeline)."""
    if not counts or not offered:
        return None
    balancers = [b.name for b in lab.balancers]
    names = interfaces(events)
    series = {node: node_series(counts, names[node]) for node in balancers if node in names}
    shaped = [e for e in events if e.get("kind") == "action_details" and e.get("action") == "shape"]
    link = float(shaped[0]["rate_bps"]) if shaped else None
    per_vip = _offered_bps(offered)
    total = sum(per_vip.values())
    started = min(o.t for o in offered)
    downs = sorted(
        (e for e in events if e.get("kind") == "action" and e.get("action") == "power-off" and not e.get("restored")),
        key=lambda e: e["t_start"],
    )
    ups = [e for e in events if e.get("kind") == "action" and e.get("action") == "power-on"]
    settle = SETTLE_INTERVALS * float(lab.vrrp.advert_int) + SETTLE_EXTRA_S
    result: dict[str, Any] = {
        "link_bps": link,
        "offered_bps": round(total),
        "per_vip_bps": {v.name: round(per_vip.get(v.address, 0.0)) for v in lab.vips},
        "series": {node: [[round(t, 3), round(bps)] for t, bps in s] for node, s in series.items()},
        "downs": [{"node": d["node"], "t": d["t_end"]} for d in downs],
    }
    first_down = downs[0]["t_start"] if downs else max(o.t for o in offered)
    # Nothing moves before the first failure: the first full second of traffic is steady.
    result["baseline"] = _window(lab, series, per_vip, link, started + 1.5, first_down, None, holders_at, total)
    failures = []
    for down in downs:
        victim = down["node"]
        later = [u for u in ups if u["node"] == victim and u["t_start"] > down["t_end"]]
        up = min(later, key=lambda u: u["t_start"]) if later else None
        end = up["t_start"] if up else max(o.t for o in offered)
        window = _window(lab, series, per_vip, link, down["t_end"] + settle, end, victim, holders_at, total)
        failures.append(
            {"down": victim, "off": [down["t_start"], end], "window": window["window"], "survivors": window["nodes"]}
        )
    result["failures"] = failures
    loads = [s["load_pct"] for f in failures for s in f["survivors"].values() if s["load_pct"] is not None]
    losses = [s["loss_pct"] for f in failures for s in f["survivors"].values() if s["loss_pct"] is not None]
    result["max_survivor_load_pct"] = max(loads) if loads else None
    result["max_loss_pct"] = max(losses) if losses else None
    result["matches_prediction"] = bool(failures) and all(
        s["matches"] for f in failures for s in f["survivors"].values()
    )
    return result


# A survivor matches the planner when its measured load is within this many points of the
# prediction (capped at 100 %: a full link cannot carry more, the rest is lost).
MATCH_POINTS = 10.0


def _window(
    lab: Lab,
    series: dict[str, list[tuple[float, float]]],
    per_vip: dict[str, float],
    link: float | None,
    start: float,
    end: float,
    victim: str | None,
    holders_at: Any,
    total: float,
) -> dict[str, Any]:
    balancers = [b.name for b in lab.balancers]
    middle = (start + end) / 2
    held: dict[str, list[str]] = {b: [] for b in balancers}
    for vip in lab.vips:
        holders = [h for h in holders_at(vip.name, middle) if h != victim]
        if holders:
            held.setdefault(holders[0], []).append(vip.name)
    predicted: dict[str, float] = {}
    if victim is not None:
        matrix = [
            plan.VipOrder(i + 1, lab.backup_order(v)[0], tuple(lab.backup_order(v)), dict(v.priorities))
            for i, v in enumerate(lab.vips)
        ]
        predicted = plan.evaluate(matrix, balancers, total, {victim})
    nodes = {}
    for node in balancers:
        if node == victim:
            continue
        delivered = _typical(series.get(node, []), start, end)
        offered = sum(per_vip.get(lab.vip(name).address, 0.0) for name in held[node])
        load = round(100 * delivered / link, 1) if delivered is not None and link else None
        loss = round(max(0.0, 100 * (1 - delivered / offered)), 1) if delivered is not None and offered else None
        entry: dict[str, Any] = {
            "vips": held[node],
            "delivered_bps": round(delivered) if delivered is not None else None,
            "offered_bps": round(offered),
            "load_pct": load,
            "loss_pct": loss if loss is not None else 0.0,
        }
        if victim is not None:
            expected = round(100 * predicted.get(node, 0.0) / link, 1) if link else None
            entry["predicted_pct"] = expected
            entry["matches"] = (
                load is not None and expected is not None and abs(load - min(expected, 100.0)) <= MATCH_POINTS
            )
        nodes[node] = entry
    return {"window": [round(start, 3), round(end, 3)], "nodes": nodes}
