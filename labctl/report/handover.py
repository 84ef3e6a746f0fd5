"""The hand-over read from packets: pure functions on decoded records, no I/O.

For a master taken down at time T (a scenario action), per VIP:
- t0: the old master's last advert before the new master's first one (a priority-0 advert when
  keepalived stopped gracefully);
- detection: t0 -> the new master's first advert. VRRP theory for the backup that won:
  Master_Down_Interval = 3 x advert_int + (256 - priority)/256 s after a dead master's last
  advert, or the skew time (256 - priority)/256 s after a priority-0 advert;
- ARP update: t0 -> the new master's first gratuitous ARP for the VIP;
- client: t0 -> the first HTTP answer from the VIP after that.
Every time is the host's, from one capture: no clock offsets.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from labctl.model.lab import Lab
from labctl.observe.packets import (
    RUN_GAP_INTERVALS,
    Decoded,
    TcpSegment,
    VrrpAdvert,
    adverts_for,
    garps_for,
    mastership_runs,
)

TOLERANCE = 0.15  # a detection within 15 % of theory (plus the run's timing allowance) matches it
# The largest p95 advert jitter at which timing figures still mean something: past it the
# emulated balancers are too starved for a verdict on timing (a tenth of advert_int).
MAX_JITTER_SHARE = 0.10

T = TypeVar("T")


def skew_time(priority: int) -> float:
    return (256 - priority) / 256


def master_down_interval(advert_int: float, priority: int) -> float:
    return 3 * advert_int + skew_time(priority)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Names:
    """Addresses and MACs -> node names, as far as the capture tells them."""

    by_address: dict[str, str]

    @classmethod
    def of(cls, lab: Lab) -> Names:
        return cls({n.address: n.name for n in lab.nodes})

    def name(self, address: str) -> str:
        return self.by_address.get(address, address)


# --- fidelity ---------------------------------------------------------------------------------


def advert_jitter(decoded: Decoded, names: Names, advert_int: float) -> dict[str, dict[str, Any]]:
    """Per advertising balancer: how far its advert intervals strayed from advert_int (ms).
    A master's advert timer is the same kind of timer a backup's master-down timer is, so its
    jitter tells how precisely the emulated balancers kept time during the run."""
    deviations: dict[str, list[float]] = {}
    for vrid in sorted({a.vrid for a in decoded.adverts}):
        for run in _intervals_by_source(adverts_for(decoded, vrid), advert_int):
            source, gaps = run
            deviations.setdefault(names.name(source), []).extend(abs(g - advert_int) for g in gaps)
    result = {}
    for node, values in sorted(deviations.items()):
        if not values:
            continue
        result[node] = {
            "intervals": len(values),
            "p50_ms": round(1000 * statistics.median(values), 1),
            "p95_ms": round(1000 * _percentile(values, 0.95), 1),
            "max_ms": round(1000 * max(values), 1),
        }
    return result


def _intervals_by_source(adverts: list[VrrpAdvert], advert_int: float) -> list[tuple[str, list[float]]]:
    last: dict[str, float] = {}
    gaps: dict[str, list[float]] = {}
    for advert in adverts:
        if advert.priority == 0:
            last.pop(advert.source, None)
            continue
        previous = last.get(advert.source)
        if previous is not None and advert.t - previous <= RUN_GAP_INTERVALS * advert_int:
            gaps.setdefault(advert.source, []).append(advert.t - previous)
        last[advert.source] = advert.t
    return sorted(gaps.items())


def fidelity(
    jitter: dict[str, dict[str, Any]], advert_int: float, host: dict[str, Any], capture: dict[str, Any] | None
) -> dict[str, Any]:
    """Can this run's timing be judged? It cannot when the capture is missing or lost frames,
    or when the balancers' own timers strayed by more than a tenth of advert_int."""
    reasons = []
    worst = max((j["p95_ms"] for j in jitter.values()), default=None)
    limit_ms = round(1000 * MAX_JITTER_SHARE * advert_int, 1)
    if capture is None or not capture.get("ok"):
        why = (capture or {}).get("error") or "no packet capture"
        reasons.append(f"no packet evidence: {why}")
    elif capture.get("dropped"):
        reasons.append(f"the capture lost {capture['dropped']} frames (host too busy to record)")
    if worst is None:
        if capture and capture.get("ok"):
            reasons.append("no VRRP adverts were captured")
    elif worst > limit_ms:
        noisy = ", ".join(f"{n} {j['p95_ms']:g} ms" for n, j in jitter.items() if j["p95_ms"] > limit_ms)
        reasons.append(
            f"advert timing jitter (p95) {noisy} exceeds {limit_ms:g} ms: the emulated "
            "balancers were too starved of CPU to judge timing"
        )
    # The host's load is reported beside the jitter but does not decide: qemu's threads count
    # in it whether or not the balancers' timers suffered, and the jitter shows whether they did.
    return {
        "ok": not reasons,
        "jitter_p95_ms": worst,
        "jitter_limit_ms": limit_ms,
        "per_balancer": jitter,
        "host": host,
        "reasons": reasons,
    }


# --- hand-over --------------------------------------------------------------------------------


def _first(items: Iterable[T], predicate: Callable[[T], bool]) -> T | None:
    return next((item for item in items if predicate(item)), None)


def _http_answers(tcp: list[TcpSegment], vip: str, port: int) -> list[TcpSegment]:
    return [s for s in tcp if s.src == vip and s.sport == port and s.http_status is not None]


def timing_allowance(jitter: dict[str, dict[str, Any]]) -> float:
    """How late this run's emulated balancers could be, in seconds: twice the worst advert
    lateness any of them showed. A detection spans two such events on the new master (taking in
    the old master's last word, then sending its own first advert), and a winner's own sample is
    a few dozen intervals: its p95 alone once failed a hand-over 141 ms late on a host whose
    balancers strayed by up to 52 ms."""
    worst = max((j.get("max_ms", j["p95_ms"]) for j in jitter.values()), default=0.0)
    return 2 * worst / 1000


def handover(
    decoded: Decoded,
    lab: Lab,
    vip_name: str,
    victim: str,
    start: float,
    end: float | None,
    jitter: dict[str, dict[str, Any]],
    port: int = 80,
) -> dict[str, Any] | None:
    """The hand-over of VIP away from VICTIM after START (until END), or None when the capture
    shows VICTIM was not its master then."""
    vip = lab.vip(vip_name)
    names = Names.of(lab)
    advert_int = float(lab.vrrp.advert_int)
    victim_address = lab.node(victim).address
    adverts = [a for a in adverts_for(decoded, vip.vrid) if end is None or a.t < end]
    # The victim must have been the master when the action began: the last advert before it
    # came from the victim, no more than one interval (and some jitter) earlier.
    before = [a for a in adverts if a.t < start and a.priority > 0]
    if not before or before[-1].source != victim_address or start - before[-1].t > 1.5 * advert_int:
        return None
    recent = [a for a in adverts if a.source == victim_address and a.t >= before[-1].t]
    claims = [a for a in adverts if a.t >= start and a.source != victim_address and a.priority > 0]
    first_claim = claims[0] if claims else None
    new_first = _keeper(claims, advert_int) if claims else None
    result: dict[str, Any] = {"source": "packets", "vrid": vip.vrid}
    if new_first is None or first_claim is None:
        last = recent[-1]
        result.update(
            {
                "t0": last.t,
                "graceful": last.priority == 0,
                "new_master": None,
                "detection_s": None,
                "arp_s": None,
                "client_s": None,
                "matches_theory": False,
                "why": "no other balancer advertised the VRID",
            }
        )
        return result
    victim_before = [a for a in adverts if a.source == victim_address and a.t < new_first.t]
    t0_advert = victim_before[-1] if victim_before else recent[0]
    graceful = t0_advert.priority == 0
    winner = names.name(new_first.source)
    priority = new_first.priority
    theory = skew_time(priority) if graceful else master_down_interval(advert_int, priority)
    garp = _first(
        garps_for(decoded.arps, vip.address), lambda a: a.t >= new_first.t - 0.05 and a.sender_mac == new_first.mac
    )
    after = garp.t if garp else new_first.t
    answer = _first(_http_answers(decoded.tcp, vip.address, port), lambda s: s.t >= after)
    t0 = t0_advert.t
    detection = new_first.t - t0
    # Other backups that claimed the VRID while the winner was taking over.
    rivals = sorted(
        {
            names.name(a.source)
            for a in adverts
            if new_first.t - advert_int <= a.t <= new_first.t + 3 * advert_int
            and a.source not in (victim_address, new_first.source)
            and a.priority > 0
        }
    )
    tolerance = TOLERANCE * theory + timing_allowance(jitter)
    result.update(
        {
            "t0": round(t0, 6),
            "t0_advert": "priority 0" if graceful else "last advert",
            "graceful": graceful,
            "old_master": victim,
            "new_master": winner,
            "new_master_priority": priority,
            "new_master_first_advert": round(new_first.t, 6),
            "first_garp": round(garp.t, 6) if garp else None,
            "first_answer": round(answer.t, 6) if answer else None,
            "detection_s": round(detection, 4),
            "arp_s": round(garp.t - t0, 4) if garp else None,
            "client_s": round(answer.t - t0, 4) if answer else None,
            "theory_s": round(theory, 4),
            "theory_basis": (
                f"priority-0 advert: skew time (256-{priority})/256 s"
                if graceful
                else f"dead master: 3 x {advert_int:g} + (256-{priority})/256 s"
            ),
            "tolerance_s": round(tolerance, 4),
            "matches_theory": abs(detection - theory) <= tolerance,
            "rivals": rivals,
            "first_claim": names.name(first_claim.source),
        }
    )
    result["decided_by"] = decided_by(lab, vip_name, victim, winner, jitter, graceful, names.name(first_claim.source))
    return result


def _keeper(claims: list[VrrpAdvert], advert_int: float) -> VrrpAdvert:
    """The first advert of the backup that kept the VIP. Two backups whose master-down timers
    fire within an interval of each other both claim it; VRRP settles that at once (the lower
    priority backs off on the higher one's advert), so the first claim need not be the new
    master: among the claims of that first interval, the one whose run of adverts lasted."""
    runs = mastership_runs(claims, advert_int)
    contenders = [r for r in runs if r["start"] <= claims[0].t + advert_int]
    kept = max(contenders, key=lambda r: (r["end"], r["adverts"]))
    return next(a for a in claims if a.source == kept["source"] and a.t >= kept["start"])


def decided_by(
    lab: Lab,
    vip_name: str,
    victim: str,
    winner: str,
    jitter: dict[str, dict[str, Any]],
    graceful: bool,
    first: str | None = None,
) -> dict[str, Any]:
    """Was the first claim decided by the configuration or by timing noise? Two backups'
    timers differ by their skew difference, (p1 - p2)/256 s; jitter larger than that decides
    which fires first. FIRST (the winner when None) is the backup that claimed the VIP first;
    the WINNER is the one that kept it."""
    first = first or winner
    vip = lab.vip(vip_name)
    backups = sorted(((p, n) for n, p in vip.priorities.items() if n != victim), reverse=True)
    if len(backups) < 2:
        return {"by": "configuration", "gap_ms": None}
    (p1, _), (p2, _) = backups[0], backups[1]
    gap_ms = round(1000 * (p1 - p2) / 256, 1)
    worst = max((j["p95_ms"] for j in jitter.values()), default=0.0)
    expected = [n for p, n in backups if p == p1]
    if p1 == p2:
        why = f"a priority tie ({', '.join(n for p, n in backups if p == p1)} at {p1}): timing decides"
        return {"by": "noise", "gap_ms": 0.0, "jitter_ms": worst, "expected": expected, "why": why}
    if worst > gap_ms:
        return {
            "by": "noise",
            "gap_ms": gap_ms,
            "jitter_ms": worst,
            "expected": expected,
            "why": (
                f"the backups' timers differ by {gap_ms:g} ms (priorities {p1} and {p2}) "
                f"but the balancers' timing jitter was {worst:g} ms: which backup claimed the VIP "
                f"first ({first}) was decided by noise, not by the configuration"
                + (f"; {winner} kept it (VRRP's priority comparison settled it at once)" if first != winner else "")
            ),
        }
    return {
        "by": "configuration",
        "gap_ms": gap_ms,
        "jitter_ms": worst,
        "expected": expected,
        "winner_expected": winner in expected,
    }


def preemption(
    decoded: Decoded, lab: Lab, vip_name: str, node: str, start: float, end: float | None
) -> dict[str, Any] | None:
    """NODE, back after START, takes VIP back: its first advert, the interim master's last
    advert, and NODE's first gratuitous ARP for the VIP."""
    vip = lab.vip(vip_name)
    names = Names.of(lab)
    address = lab.node(node).address
    adverts = [a for a in adverts_for(decoded, vip.vrid) if a.t >= start and (end is None or a.t < end)]
    first = _first(adverts, lambda a: a.source == address and a.priority > 0)
    if first is None:
        return None
    others = [a for a in adverts if a.source != address and a.priority > 0 and a.t <= first.t + 3 * lab.vrrp.advert_int]
    interim_last = others[-1] if others else None
    garp = _first(garps_for(decoded.arps, vip.address), lambda a: a.t >= first.t - 0.05 and a.sender_mac == first.mac)
    return {
        "source": "packets",
        "returned_after_s": round(first.t - start, 4),
        "first_advert": round(first.t, 6),
        "interim_master": names.name(interim_last.source) if interim_last else None,
        "interim_last_advert": round(interim_last.t, 6) if interim_last else None,
        "handback_s": round(max(interim_last.t - first.t, 0.0), 4) if interim_last else 0.0,
        "first_garp": round(garp.t, 6) if garp else None,
        "garp_after_s": round(garp.t - start, 4) if garp else None,
    }


def duplicate_advertisers(decoded: Decoded, lab: Lab) -> dict[str, list[dict[str, Any]]]:
    """Per VIP, spells in which two sources both advertised its VRID as master. A spell shorter
    than one advert interval is contention that VRRP settled at once (two backups whose timers
    fired together); longer ones are a split brain."""
    names = Names.of(lab)
    advert_int = float(lab.vrrp.advert_int)
    result: dict[str, list[dict[str, Any]]] = {}
    for vip in lab.vips:
        runs = mastership_runs(adverts_for(decoded, vip.vrid), advert_int)
        found = []
        for i, a in enumerate(runs):
            for b in runs[i + 1 :]:
                if a["source"] == b["source"]:
                    continue
                start, stop = max(a["start"], b["start"]), min(a["end"], b["end"])
                if stop < start:
                    continue
                duration = stop - start
                found.append(
                    {
                        "sources": sorted([names.name(a["source"]), names.name(b["source"])]),
                        "start": round(start, 6),
                        "end": round(stop, 6),
                        "duration_s": round(duration, 4),
                        "kind": "split brain" if duration >= advert_int else "contention",
                    }
                )
        result[vip.name] = sorted(found, key=lambda d: d["start"])
    return result


def client_answers(decoded: Decoded, lab: Lab, port: int = 80) -> dict[str, Any]:
    """How many requests the capture saw per VIP, and how many got an HTTP answer."""
    result = {}
    for vip in lab.vips:
        syns = {(s.src, s.sport) for s in decoded.tcp if s.dst == vip.address and s.dport == port and s.flags == "S"}
        answers = {(s.dst, s.dport) for s in _http_answers(decoded.tcp, vip.address, port)}
        result[vip.name] = {"requests": len(syns), "answered": len(syns & answers)}
    return result
