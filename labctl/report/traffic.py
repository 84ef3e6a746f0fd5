"""The traffic experiment measured (homework question 3): pure code on the run's records.

Two sources, both read after the run. Each balancer's load is what its tap carried toward it
per second (host-side counters, after the tbf that stands for its link), as a share of the
shaped rate. What the load was and what got through come from iperf3 itself: the clients' logs
say how many datagrams each VIP was offered per second, the servers' logs on the reals (summed
over the reals) how many arrived and how many were lost, by the datagrams' sequence numbers.
With a balancer powered off, each survivor carries its VIPs' share of the offered load: up to
its link, and the excess is lost. The planner predicts the same split from the priority
matrix; the figures put the three side by side, per steady window (before the first failure,
and during each failure once VRRP has settled).

Rates are on the wire (payload + UDP, IPv4 and Ethernet headers), as the tap counters and the
tbf count them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from labctl.model import planner as plan
from labctl.model.lab import Lab
from labctl.observe.iperf import DATAGRAM as DEFAULT_DATAGRAM
from labctl.observe.iperf import WIRE_OVERHEAD, IperfTest
from labctl.observe.runrecords import PHASE
from labctl.observe.summary import TrafficFigures
from labctl.observe.tapcounters import Count, rates

# After a failure the VIPs move within the master-down interval (about 3.6 s) and the link
# counters need a tick to show it: the steady window starts this long after the action.
SETTLE_INTERVALS = 3
SETTLE_EXTRA_S = 2.5
# How far labctl's start time of a stream may sit outside the window the logs' whole-second
# timestamps allow (a line printed late, an imprecise clock offset) and still be believed.
START_SLACK_S = 1.0

HoldersAt = Callable[[str, float], list[str]]


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
    """(time, bits/s toward the node), following the node's interface as it changes.

    A rebooted VM's new tap is named only by the node's next shaping, often seconds after
    the VM took its VIPs back. It is the node's from when it first showed in the counters,
    provided the events tell: it appeared after the node's previous tap had gone (so it is not
    some other node's, which would have been there all along) and stayed, counting up, until
    it was named."""
    series = []
    for index, (since, interface) in enumerate(named):
        until = named[index + 1][0] if index + 1 < len(named) else float("inf")
        start = since if index else float("-inf")  # the first name holds from the start
        born = _born(counts, interface, since, gone=_last_seen(counts, named[index - 1][1])) if index else since
        # From its birth, the rates between its own ticks only (not one across a gap before it).
        series += [(t, bps) for t, bps in rates(counts, interface) if (start <= t or born < t) and t < until]
    return sorted(set(series))


def _last_seen(counts: list[Count], interface: str) -> float:
    return max((c.t for c in counts if c.interface == interface), default=float("-inf"))


def _born(counts: list[Count], interface: str, named_at: float, gone: float) -> float:
    """When INTERFACE, there when it was named at NAMED_AT, first showed in the counters: the
    earliest tick from which it was in every tick up to NAMED_AT with a counter that never went
    back. NAMED_AT itself when that is not after GONE (the tick the node's previous tap was
    last seen at): then it cannot be told from a tap that was someone else's."""
    ticks = sorted({c.t for c in counts if c.t <= named_at})
    seen = {c.t: c.tx_bytes for c in counts if c.interface == interface and c.t <= named_at}
    born, later = named_at, None
    for tick in reversed(ticks):
        if tick not in seen or (later is not None and seen[tick] > later):
            break
        born, later = tick, seen[tick]
    return born if born > gone else named_at


def _typical(series: list[tuple[float, float]], start: float, end: float) -> float | None:
    """The median second of the window: a stall of the emulating host (every rate dips at
    once, then a catch-up burst) is not what the link carried."""
    values = [bps for t, bps in series if start < t <= end]
    return statistics.median(values) if values else None


# --- iperf3's seconds on the run's clock ------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One interval of one iperf3 log on the host's clock."""

    role: str
    vip: str
    start: float
    end: float
    datagrams: int  # client: sent; server: expected (sequence numbers)
    lost: int  # server only (0 for a client)
    wire_bits: int  # bits on the wire per datagram

    @property
    def received(self) -> int:
        return self.datagrams - self.lost


def stream_start(test: IperfTest, hint: float | None = None) -> float | None:
    """When TEST's first interval began, on the host's clock.

    Precision, explicitly: iperf3 stamps each line with the whole second of the node's clock
    at which it printed it, just after the interval ended (STAMP <= start + END < STAMP + 1),
    so the test began within [STAMP - END, STAMP - END + 1). A line printed late only raises
    that bound, so the lowest one over the lines is kept: moved to host time with the node's
    measured clock offset, it places the start within one second. HINT is the host time
    labctl recorded as the clients started (the node's own clock read right after they were
    launched: off by the launch and iperf3's handshake, a few tens of milliseconds); it is used
    when it agrees with that second, give or take START_SLACK_S. Otherwise the start is the
    middle of the second (within half a second), and without timestamps it is HINT."""
    bounds = [i.stamp - i.end for i in test.intervals if i.stamp is not None]
    if not bounds:
        return hint
    low = min(bounds) - test.offset
    high = low + 1.0
    if hint is not None and low - START_SLACK_S <= hint <= high + START_SLACK_S:
        return hint
    return (low + high) / 2


def rows(tests: list[IperfTest], events: list[dict[str, Any]]) -> list[Row]:
    """Every interval of every test, on the host's clock."""
    starts = [e for e in events if e.get("kind") == "traffic_start"]
    found = []
    for test in tests:
        mine = [e for e in starts if e.get("name") == test.stream]
        hint = float(mine[-1]["started"]) if mine and mine[-1].get("started") is not None else None
        datagram = int(mine[-1].get("datagram") or DEFAULT_DATAGRAM) if mine else DEFAULT_DATAGRAM
        begun = stream_start(test, hint)
        if begun is None:
            continue
        for i in test.intervals:
            found.append(
                Row(
                    test.role,
                    test.vip,
                    begun + i.start,
                    begun + i.end,
                    i.datagrams,
                    i.lost or 0,
                    8 * (datagram + WIRE_OVERHEAD),
                )
            )
    return sorted(found, key=lambda r: (r.start, r.role, r.vip))


def _covered(spans: Iterable[tuple[float, float]]) -> float:
    """The length of the union of SPANS (several reals' seconds of one VIP count once)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def vip_figures(found: list[Row], vip: str, start: float, end: float) -> dict[str, Any]:
    """One VIP between START and END (the intervals whose middle falls inside): offered per
    the client, delivered and lost per the receivers."""
    inside = [r for r in found if r.vip == vip and start < (r.start + r.end) / 2 <= end]
    sent = [r for r in inside if r.role == "client"]
    got = [r for r in inside if r.role == "server"]
    sent_span, got_span = _covered((r.start, r.end) for r in sent), _covered((r.start, r.end) for r in got)
    offered = sum(r.datagrams * r.wire_bits for r in sent) / sent_span if sent_span else None
    delivered = sum(r.received * r.wire_bits for r in got) / got_span if got_span else None
    total, lost = sum(r.datagrams for r in got), sum(r.lost for r in got)
    sent_count = sum(r.datagrams for r in sent)
    if delivered is None and sent_count:
        delivered = 0.0  # offered, and not one receiver's second in the window: nothing arrived
    return {
        "offered_bps": _round(offered),
        "delivered_bps": _round(delivered),
        "sent": sent_count,
        "datagrams": total,
        "lost": lost,
        "loss_pct": loss_pct(lost, total, sent_count),
    }


def planned_bps(starts: list[dict[str, Any]]) -> float | None:
    """The load the experiment was configured to offer (bits/s), summed over its named traffic
    streams (a stream started again counts once, with its last rate); None for a run that
    recorded no start (an older run folder: its measured offer stands in)."""
    rates = {str(e.get("name", "")): float(e["rate_bps"]) for e in starts if e.get("rate_bps") is not None}
    return sum(rates.values()) if rates else None


def loss_pct(lost: int, total: int, sent: int = 0) -> float | None:
    """Lost of TOTAL datagrams per the receivers; with none expected but SENT offered, all of
    them (the receivers count a gap only once a later datagram arrives)."""
    if total > 0:
        return round(min(100.0, max(0.0, 100 * lost / total)), 1)
    return 100.0 if sent > 0 else None


def _round(value: float | None) -> int | None:
    return round(value) if value is not None else None


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _per_second(found: list[Row], role: str) -> list[list[float]]:
    """All VIPs together, per second (by each interval's end): [time, bits/s] on the wire;
    for the servers, what arrived."""
    buckets: dict[int, float] = {}
    for r in found:
        # A test's short last interval (10.00-10.45, say) would land in the bucket of the full
        # second before it and double that point: only whole seconds are drawn.
        if r.role == role and r.end - r.start >= 0.5:
            count = r.datagrams if role == "client" else r.received
            key = round(r.end)
            buckets[key] = buckets.get(key, 0.0) + count * r.wire_bits / (r.end - r.start)
    return [[float(t), round(bps)] for t, bps in sorted(buckets.items())]


# --- the figures ------------------------------------------------------------------------------


def traffic(
    lab: Lab,
    events: list[dict[str, Any]],
    counts: list[Count],
    tests: list[IperfTest],
    holders_at: HoldersAt,
) -> TrafficFigures | None:
    """The traffic figures, or None when the run offered no traffic. HOLDERS_AT(vip_name, t)
    gives who held a VIP at a moment (the polled timeline)."""
    starts = [e for e in events if e.get("kind") == "traffic_start"]
    if not tests and not starts:
        return None
    balancers = [b.name for b in lab.balancers]
    names = interfaces(events)
    series = {node: node_series(counts, names[node]) for node in balancers if node in names}
    shaped = [e for e in events if e.get("kind") == "action_details" and e.get("action") == "shape"]
    link = float(shaped[0]["rate_bps"]) if shaped else None
    found = rows(tests, events)
    sent = [r for r in found if r.role == "client"]
    if sent:
        begun, ended = min(r.start for r in sent), max(r.end for r in sent)
    else:
        stops = [e["t"] for e in events if e.get("kind") == "traffic_stop"]
        # No client log and no start event (the clients never started) leaves the servers'.
        first: float | None = min((float(e.get("started") or e["t"]) for e in starts), default=None)
        begun = first if first is not None else min((r.start for r in found), default=0.0)
        ended = max(stops) if stops else max((float(e.get("t", 0.0)) for e in events), default=begun)
    whole = {v.address: vip_figures(found, v.address, begun - 1, ended + 1) for v in lab.vips}
    per_vip = {address: float(f["offered_bps"]) for address, f in whole.items() if f["offered_bps"] is not None}
    if not per_vip and starts:  # no client log: what was asked for
        asked = starts[-1]
        per_vip = {vip: float(asked["rate_bps"]) / len(asked["vips"]) for vip in asked["vips"]}
    total = sum(per_vip.values())
    # The prediction comes from what the experiment was given, never from what it measured: a
    # slower host that offers 14.7 of the 15 Mbit/s asked must not move the planner's answer.
    planned = planned_bps(starts)
    delivered = _sum(f["delivered_bps"] for f in whole.values())
    # A failure is any action that takes a node down (power-off, keepalived-stop, ...), its end
    # the next one that brings it back.
    actions = [e for e in events if e.get("kind") == "action"]
    downs = sorted((e for e in actions if _phase(e) == "down" and not e.get("restored")), key=lambda e: e["t_start"])
    ups = [e for e in actions if _phase(e) == "up"]
    settle = SETTLE_INTERVALS * float(lab.vrrp.advert_int) + SETTLE_EXTRA_S
    first_down = downs[0]["t_start"] if downs else ended
    window = _Window(lab, series, found, per_vip, link, holders_at, planned if planned is not None else total)
    # Nothing moves before the first failure: the first full second of traffic is steady.
    baseline = window.measure(begun + 1.5, first_down, None)
    failures = []
    for down in downs:
        victim = down["node"]
        later = [u for u in ups if u["node"] == victim and u["t_start"] > down["t_end"]]
        up = min(later, key=lambda u: u["t_start"]) if later else None
        end = up["t_start"] if up else ended
        seen = window.measure(down["t_end"] + settle, end, victim)
        failures.append(
            {
                "down": victim,
                "off": [down["t_start"], end],
                "window": seen["window"],
                "survivors": seen["nodes"],
                **{k: seen[k] for k in ("offered_bps", "delivered_bps", "delivered_pct", "loss_pct", "vips")},
            }
        )
    loads = [s["load_pct"] for f in failures for s in f["survivors"].values() if s["load_pct"] is not None]
    losses = [s["loss_pct"] for f in failures for s in f["survivors"].values() if s["loss_pct"] is not None]
    return {
        "link_bps": link,
        "planned_bps": round(planned) if planned is not None else None,
        "offered_bps": round(total),
        "delivered_bps": _round(delivered),
        "delivered_pct": round(100 * delivered / total, 1) if delivered is not None and total else None,
        "loss_pct": loss_pct(sum(f["lost"] for f in whole.values()), sum(f["datagrams"] for f in whole.values())),
        "per_vip_bps": {v.name: round(per_vip.get(v.address, 0.0)) for v in lab.vips},
        "delivered_per_vip_bps": {v.name: whole[v.address]["delivered_bps"] for v in lab.vips},
        "series": {node: [[round(t, 3), round(bps)] for t, bps in s] for node, s in series.items()},
        "offered_series": _per_second(found, "client"),
        "delivered_series": _per_second(found, "server"),
        "downs": [{"node": d["node"], "t": d["t_end"]} for d in downs],
        "baseline": baseline,
        "failures": failures,
        "max_survivor_load_pct": max(loads) if loads else None,
        "max_loss_pct": max(losses) if losses else None,
        "matches_prediction": bool(failures) and all(s["matches"] for f in failures for s in f["survivors"].values()),
    }


# A survivor matches the planner when its measured load is within this many points of the
# prediction (capped at 100 %: a full link cannot carry more, the rest is lost).
MATCH_POINTS = 10.0


@dataclass(frozen=True)
class _Window:
    lab: Lab
    series: dict[str, list[tuple[float, float]]]
    found: list[Row]
    per_vip: dict[str, float]  # address -> offered bits/s over the run
    link: float | None
    holders_at: HoldersAt
    planned: float  # bits/s the experiment was told to offer: what the planner predicts from

    def measure(self, start: float, end: float, victim: str | None) -> dict[str, Any]:
        """Each balancer's load (tap), its VIPs' offered, delivered and lost (iperf3) between
        START and END, with VICTIM (when set) powered off, against the planner."""
        lab, link = self.lab, self.link
        balancers = [b.name for b in lab.balancers]
        middle = (start + end) / 2
        held: dict[str, list[str]] = {b: [] for b in balancers}
        for vip in lab.vips:
            holders = [h for h in self.holders_at(vip.name, middle) if h != victim]
            if holders:
                held.setdefault(holders[0], []).append(vip.name)
        vips = {v.name: vip_figures(self.found, v.address, start, end) for v in lab.vips}
        predicted: dict[str, float] = {}
        if victim is not None:
            matrix = [
                plan.VipOrder(i + 1, lab.backup_order(v)[0], tuple(lab.backup_order(v)), dict(v.priorities))
                for i, v in enumerate(lab.vips)
            ]
            predicted = plan.evaluate(matrix, balancers, self.planned, {victim})
            _follow_ties(predicted, lab, held, victim, self.planned / len(lab.vips))
        nodes = {}
        for node in balancers:
            if node == victim:
                continue
            carried = _typical(self.series.get(node, []), start, end)
            mine = [vips[name] for name in held[node]]
            offered = _sum(f["offered_bps"] for f in mine)
            if offered is None:  # no client log: the run's average share
                offered = sum(self.per_vip.get(lab.vip(name).address, 0.0) for name in held[node])
            entry: dict[str, Any] = {
                "vips": held[node],
                "carried_bps": _round(carried),
                "offered_bps": _round(offered),
                "delivered_bps": _round(_sum(f["delivered_bps"] for f in mine)),
                "datagrams": sum(f["datagrams"] for f in mine),
                "lost": sum(f["lost"] for f in mine),
                "load_pct": round(100 * carried / link, 1) if carried is not None and link else None,
                "loss_pct": loss_pct(
                    sum(f["lost"] for f in mine), sum(f["datagrams"] for f in mine), sum(f["sent"] for f in mine)
                ),
            }
            if victim is not None:
                expected = round(100 * predicted.get(node, 0.0) / link, 1) if link else None
                load = entry["load_pct"]
                entry["predicted_pct"] = expected
                entry["matches"] = (
                    load is not None and expected is not None and abs(load - min(expected, 100.0)) <= MATCH_POINTS
                )
            nodes[node] = entry
        offered_all = _sum(f["offered_bps"] for f in vips.values())
        delivered_all = _sum(f["delivered_bps"] for f in vips.values())
        return {
            "window": [round(start, 3), round(end, 3)],
            "nodes": nodes,
            "vips": vips,
            "offered_bps": _round(offered_all),
            "delivered_bps": _round(delivered_all),
            "delivered_pct": (
                round(100 * delivered_all / offered_all, 1) if offered_all and delivered_all is not None else None
            ),
            "loss_pct": loss_pct(
                sum(f["lost"] for f in vips.values()),
                sum(f["datagrams"] for f in vips.values()),
                sum(f["sent"] for f in vips.values()),
            ),
        }


def _follow_ties(predicted: dict[str, float], lab: Lab, held: dict[str, list[str]], victim: str, share: float) -> None:
    """Where survivors tie on a VIP's priority, any of them may take it (the first master-down
    timer to fire wins): the prediction follows the one that did, if it was one of them."""
    survivors = {b.name for b in lab.balancers} - {victim}
    for vip in lab.vips:
        tied = lab.tied_for_master(vip, survivors)
        chosen = lab.elected_master(vip, survivors)
        holder = next((node for node, names in held.items() if vip.name in names), None)
        if len(tied) > 1 and holder in tied and holder != chosen and chosen is not None:
            predicted[chosen] = predicted.get(chosen, 0.0) - share
            predicted[holder] = predicted.get(holder, 0.0) + share


def _phase(action: dict[str, Any]) -> str | None:
    """Which way an action pushed the lab (its event says so; the action's name tells too)."""
    return action.get("phase") or PHASE.get(str(action.get("action")))
