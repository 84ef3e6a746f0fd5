"""What a run measured, from its records alone: pure functions, no I/O.

Inputs are probe records and capture samples on the host's time base, plus the engine's events
(actions with their times). Outputs are plain dicts for summary.json: per-VIP outages, the VIP
holder timeline, duplicate holders, preemption, the InActConn series, and the comparison with
VRRP theory (master-down interval = 3 x advert_int + (256 - priority) / 256 s; a graceful stop
sends priority 0, so a backup takes over after its skew time alone, (256 - priority) / 256 s).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from labctl.model import planner as plan
from labctl.model import when
from labctl.model.lab import Lab
from labctl.observe.iperf import IperfTest
from labctl.observe.packets import Decoded
from labctl.observe.probes import ProbeRecord
from labctl.observe.snapshot import NodeSnapshot
from labctl.observe.summary import (
    Failover,
    Figures,
    Requests,
    RunSummary,
    RunVerdict,
    TimelinePart,
    VipFigures,
    VipRequests,
)
from labctl.observe.tapcounters import Count
from labctl.report import handover as phases
from labctl.report.clientpath import CLIENT_METRICS, client_path
from labctl.report.flapping import flapping
from labctl.report.splitbrain import split_brain
from labctl.report.traffic import traffic

STABLE_OKS = 5  # successes in a row that end an outage
MIN_DUPLICATE_S = 0.5  # shorter overlaps are sampling artefacts of a normal hand-over
# Two polls of different nodes are up to one interval apart: an overlap shorter than this many
# intervals is how a clean hand-over looks when sampled, not two holders.
DUPLICATE_INTERVALS = 1.5
GRACEFUL = {"keepalived-stop"}


@dataclass
class RunData:
    lab: Lab
    params: dict[str, Any]
    events: list[dict[str, Any]]
    probes: list[ProbeRecord]
    samples: list[NodeSnapshot]
    expectations: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    packets: Decoded | None = None  # the lab segment as captured from the host side
    counters: list[Count] = field(default_factory=list)  # host-side link byte counters
    iperf: list[IperfTest] = field(default_factory=list)  # the traffic's iperf3 logs, clients and servers


# Figures whose judgement depends on the balancers keeping time: on a host too loaded for that,
# their failure makes a run inconclusive, not failed.
TIMING_METRICS = {
    "matches_theory",
    "moved_after_s",
    "detection_s",
    "arp_s",
    "client_s",
    "duplicate_s",
    "preemption_s",
    "outage_s",
    "max_outage_s",
    "preemption_matches_theory",
}


# --- VRRP theory -----------------------------------------------------------------------------


def skew_time(priority: int) -> float:
    return (256 - priority) / 256


def master_down_interval(advert_int: float, priority: int) -> float:
    return 3 * advert_int + skew_time(priority)


# --- holder timeline -------------------------------------------------------------------------


def _node_intervals(samples: list[NodeSnapshot]) -> dict[str, float]:
    by_node: dict[str, list[float]] = {}
    for sample in samples:
        by_node.setdefault(sample.node, []).append(sample.t)
    result = {}
    for node, times in by_node.items():
        times.sort()
        gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
        result[node] = statistics.median(gaps) if gaps else 0.2
    return result


def holding_segments(samples: list[NodeSnapshot], vip: str) -> list[tuple[str, float, float]]:
    """(node, start, end) while NODE held VIP. A sample stands until the node's next sample,
    unless that is far off (the node was down): then only for one interval."""
    intervals = _node_intervals(samples)
    by_node: dict[str, list[NodeSnapshot]] = {}
    for sample in sorted(samples, key=lambda s: s.t):
        by_node.setdefault(sample.node, []).append(sample)
    segments: list[tuple[str, float, float]] = []
    for node, series in by_node.items():
        step = intervals[node]
        limit = max(3 * step, 1.0)
        start = None
        for index, sample in enumerate(series):
            following = series[index + 1].t if index + 1 < len(series) else None
            end = following if following is not None and following - sample.t <= limit else sample.t + step
            held = vip in {a.address for a in sample.addresses}
            if held and start is None:
                start = sample.t
            if held and end != following:  # a gap or the last sample: close here
                assert start is not None  # set above when it first held
                segments.append((node, start, end))
                start = None
            elif not held and start is not None:
                segments.append((node, start, sample.t))
                start = None
    return sorted(segments, key=lambda s: s[1])


def observed_windows(samples: list[NodeSnapshot]) -> dict[str, list[tuple[float, float]]]:
    """Per node, the spans its capture covered: a node being rebooted (or whose capture had
    not started yet) is not observed, which is not the same as holding nothing."""
    intervals = _node_intervals(samples)
    windows: dict[str, list[tuple[float, float]]] = {}
    for node in intervals:
        times = sorted(s.t for s in samples if s.node == node)
        step = intervals[node]
        limit = max(3 * step, 1.0)
        spans: list[tuple[float, float]] = []
        for index, t in enumerate(times):
            following = times[index + 1] if index + 1 < len(times) else None
            end = following if following is not None and following - t <= limit else t + step
            if spans and abs(spans[-1][1] - t) < 1e-9:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((t, end))
        windows[node] = spans
    return windows


def holder_timeline(samples: list[NodeSnapshot], vip: str) -> list[TimelinePart]:
    """[{start, end, holders, unobserved}] covering the captured time, adjacent equal parts
    merged; `unobserved` names the balancers whose capture did not cover that part."""
    segments = holding_segments(samples, vip)
    if not samples:
        return []
    windows = observed_windows(samples)
    edges = sorted(
        {s.t for s in samples}
        | {p for seg in segments for p in seg[1:]}
        | {p for spans in windows.values() for span in spans for p in span}
    )
    timeline: list[TimelinePart] = []
    for a, b in zip(edges, edges[1:]):
        mid = (a + b) / 2
        holders = sorted({n for n, s, e in segments if s <= mid < e})
        unobserved = sorted(n for n, spans in windows.items() if not any(s <= mid < e for s, e in spans))
        last = timeline[-1] if timeline else None
        if last and last["holders"] == holders and last["unobserved"] == unobserved and abs(last["end"] - a) < 1e-9:
            last["end"] = b
        else:
            timeline.append({"start": a, "end": b, "holders": holders, "unobserved": unobserved})
    return timeline


def first_released_to(timeline: list[TimelinePart], after: float, node: str) -> float | None:
    """When VIP went back to NODE: it holds it alone, or (NODE still unobserved, e.g. booting)
    every observed balancer let it go."""
    for part in timeline:
        if part["end"] <= after:
            continue
        if part["holders"] == [node] or (not part["holders"] and node in part.get("unobserved", [])):
            return max(part["start"], after)
    return None


def holders_at(timeline: list[TimelinePart], t: float) -> list[str]:
    for part in timeline:
        if part["start"] <= t < part["end"]:
            return part["holders"]
    return []


def duplicates(timeline: list[TimelinePart], minimum: float = MIN_DUPLICATE_S) -> list[dict[str, Any]]:
    found = []
    for part in timeline:
        duration = part["end"] - part["start"]
        if len(part["holders"]) > 1 and duration >= minimum:
            found.append(
                {
                    "holders": part["holders"],
                    "start": part["start"],
                    "end": part["end"],
                    "duration_s": round(duration, 3),
                }
            )
    return found


def first_held_by_other(timeline: list[TimelinePart], after: float, node: str) -> tuple[float, str] | None:
    for part in timeline:
        if part["end"] <= after:
            continue
        others = [h for h in part["holders"] if h != node]
        if others:
            return max(part["start"], after), others[0]
    return None


def first_held_only_by(timeline: list[TimelinePart], after: float, node: str) -> float | None:
    for part in timeline:
        if part["end"] > after and part["holders"] == [node]:
            return max(part["start"], after)
    return None


# --- outages from probes ---------------------------------------------------------------------


def outage(records: list[ProbeRecord], start: float, end: float | None) -> dict[str, Any]:
    """The client's view of one disruption: from the first failure after START (a request
    started up to 1 s before may be caught too) until STABLE_OKS successes in a row."""
    window = [r for r in records if r.t >= start - 1.0 and (end is None or r.t < end)]
    first_fail = next((i for i, r in enumerate(window) if not r.ok), None)
    if first_fail is None:
        return {"outage_s": 0.0, "failed": 0, "requests": len(window), "answered_by_after": _answered_by(window, start)}
    failed, run, last_fail, recovered = 0, 0, first_fail, None
    for index in range(first_fail, len(window)):
        if window[index].ok:
            run += 1
            if run == 1:
                recovered = index
            if run >= STABLE_OKS:
                break
        else:
            failed += 1
            run, recovered, last_fail = 0, None, index
    before = [r for r in records if r.t < window[first_fail].t and r.ok]
    last_ok = before[-1].t if before else None
    first_ok = window[recovered].t if recovered is not None else None
    span_end = first_ok if first_ok is not None else window[last_fail].t
    span_start = last_ok if last_ok is not None else window[first_fail].t
    return {
        "outage_s": round(span_end - span_start, 3),
        "failed": failed,
        "requests": len(window),
        "last_ok_before": last_ok,
        "first_failed": window[first_fail].t,
        "last_failed": window[last_fail].t,
        "first_ok_after": first_ok,
        "recovered": first_ok is not None,
        "errors": sorted({r.error or f"HTTP {r.status}" for r in window[first_fail : last_fail + 1] if not r.ok}),
        "answered_by_after": _answered_by(window, start),
    }


def _answered_by(window: list[ProbeRecord], start: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in window:
        if record.ok and record.t >= start and record.real:
            counts[record.real] = counts.get(record.real, 0) + 1
    return counts


# --- the whole run ---------------------------------------------------------------------------


def _actions(events: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("kind") == "action" and e.get("phase") == phase and not e.get("restored")]


def _by_vip(probes: list[ProbeRecord]) -> dict[str, list[ProbeRecord]]:
    result: dict[str, list[ProbeRecord]] = {}
    for record in sorted(probes, key=lambda r: r.t):
        result.setdefault(record.vip, []).append(record)
    return result


def analyze(run: RunData) -> RunSummary:
    lab = run.lab
    by_vip = _by_vip(run.probes)
    timelines = {v.name: holder_timeline(run.samples, v.address) for v in lab.vips}
    resolution = max(_node_intervals(run.samples).values(), default=0.0)
    downs, ups = _actions(run.events, "down"), _actions(run.events, "up")
    jitter = (
        phases.advert_jitter(run.packets, phases.Names.of(lab), float(lab.vrrp.advert_int))
        if run.packets is not None
        else {}
    )
    fidelity = phases.fidelity(jitter, float(lab.vrrp.advert_int), run.info.get("host", {}), run.info.get("capture"))
    requests = _request_totals(run.probes)
    vips: dict[str, VipFigures] = {}
    for vip in lab.vips:
        minimum = max(MIN_DUPLICATE_S, DUPLICATE_INTERVALS * resolution)
        found = duplicates(timelines[vip.name], minimum)
        vips[vip.name] = {
            "address": vip.address,
            "duplicate_holders": found,
            "duplicate_s": round(sum(d["duration_s"] for d in found), 3),
        }
    all_actions = sorted(downs + ups, key=lambda e: e["t_start"])
    if all_actions:
        # Failures while VRRP was still electing at the start are not the experiment's.
        requests["failed_before_first_action"] = sum(
            1 for r in run.probes if not r.ok and r.t < all_actions[0]["t_start"] - 1.0
        )
    path = client_path(
        timelines,
        by_vip,
        {v.name: v.address for v in lab.vips},
        {str(a["node"]) for a in all_actions if a.get("node")},
        all_actions[0]["t_start"] if all_actions else None,
    )
    disruptions = [
        _disruption(run, action, all_actions, by_vip, timelines, resolution, jitter, fidelity) for action in all_actions
    ]
    _fold_into_vips(vips, disruptions)
    capacity = _capacity(run, timelines)
    figures = traffic(lab, run.events, run.counters, run.iperf, lambda name, t: holders_at(timelines[name], t))
    if figures is not None:
        # For scripts: per balancer taken down, each survivor's measured load against the plan.
        capacity = capacity or {"rounds": []}
        capacity["failures"] = [
            {
                "down": f["down"],
                "offered_bps": f["offered_bps"],
                "delivered_bps": f["delivered_bps"],
                "survivors": {
                    node: {k: s[k] for k in ("load_pct", "loss_pct", "predicted_pct")}
                    for node, s in f["survivors"].items()
                },
            }
            for f in figures["failures"]
        ]
    measured: Figures = {
        "scenario": run.info.get("scenario"),
        "params": run.params,
        "capture_resolution_s": round(resolution, 3),
        "requests": requests,
        "vips": vips,
        "disruptions": disruptions,
        "timelines": {
            name: [{**p, "start": round(p["start"], 3), "end": round(p["end"], 3)} for p in tl]
            for name, tl in timelines.items()
        },
        "fidelity": fidelity,
        "packets": _packet_overview(run),
        "client_path": path,
        "failover": _failover_verdict(vips, disruptions),
        "inactconn": inactconn_summary(run),
        "real_down": _real_down(run, by_vip, all_actions),
        "capacity": capacity,
        "traffic": figures,
        "flapping": flapping(lab, run.events, run.packets, by_vip, outage),
        "split_brain": split_brain(
            lab, run.events, run.packets, by_vip, {n: v["duplicate_holders"] for n, v in vips.items()}
        ),
    }
    # Judged on the figures alone: an expectation on the verdict or the error is not measured.
    expectations = evaluate_expectations(run.expectations, measured)
    error = run.info.get("error")
    judged = verdict({**measured, "expectations": expectations, "error": error})
    return {
        **measured,
        "expectations": expectations,
        "error": error,
        "verdict": judged,
        "passed": judged["verdict"] == "pass",
    }


def _packet_overview(run: RunData) -> dict[str, Any]:
    capture = run.info.get("capture")
    if run.packets is None:
        return {"captured": False, "capture": capture}
    return {
        "captured": True,
        "capture": capture,
        "decoded": run.packets.to_dict(),
        "duplicate_advertisers": phases.duplicate_advertisers(run.packets, run.lab),
        "requests": phases.client_answers(run.packets, run.lab, run.lab.ipvs.port),
    }


def verdict(summary: Mapping[str, Any]) -> RunVerdict:
    """pass, fail or inconclusive, with the reasons. A run whose only failures are timing
    figures, on a host whose fidelity was too poor to judge timing, is inconclusive: neither a
    false FAILED nor a false PASS."""
    if summary.get("error"):
        return {"verdict": "fail", "reasons": [f"the run stopped: {summary['error']}"]}
    expectations = summary.get("expectations") or []
    if not expectations:
        return {"verdict": "fail", "reasons": ["the scenario judged nothing (no expectations)"]}
    failed = [e for e in expectations if not e["passed"] and not e.get("skipped")]
    fidelity = summary.get("fidelity") or {}
    notes = [f"fidelity: {r}" for r in fidelity.get("reasons", [])]
    if not failed:
        return {"verdict": "pass", "reasons": notes}
    timers_poor = not fidelity.get("ok", False) and bool(fidelity.get("reasons"))
    path = summary.get("client_path") or {}
    path_poor = not path.get("ok", True) and bool(path.get("reasons"))

    def excused(expectation: dict[str, Any]) -> bool:
        if expectation.get("unmeasurable"):
            return False
        leaf = expectation["metric"].rsplit(".", 1)[-1]
        if leaf in CLIENT_METRICS:  # the client's figures need both its probes and VRRP's timers
            return timers_poor or path_poor
        return leaf in TIMING_METRICS and timers_poor

    listed = [f"{e['name']}: {e['reason']}" for e in failed]
    if all(excused(e) for e in failed):
        why = (
            [f"host fidelity too poor to judge timing: {r}" for r in fidelity.get("reasons", [])] if timers_poor else []
        )
        if path_poor and any(e["metric"].rsplit(".", 1)[-1] in CLIENT_METRICS for e in failed):
            why += [f"client probes too disturbed to judge outages: {r}" for r in path["reasons"]]
        return {"verdict": "inconclusive", "reasons": why + [f"not judged: {line}" for line in listed]}
    return {"verdict": "fail", "reasons": listed + notes}


def _request_totals(probes: list[ProbeRecord]) -> Requests:
    by_vip: dict[str, VipRequests] = {}
    for record in probes:
        entry = by_vip.setdefault(record.vip, {"total": 0, "failed": 0, "reals": {}})
        entry["total"] += 1
        entry["failed"] += 0 if record.ok else 1
        if record.ok and record.real:  # who answered (X-Real-Server): `labctl check`'s serves reads it
            entry["reals"][record.real] = entry["reals"].get(record.real, 0) + 1
    return {"total": len(probes), "failed": sum(1 for r in probes if not r.ok), "by_vip": by_vip}


def _disruption(
    run: RunData,
    action: dict[str, Any],
    all_actions: list[dict[str, Any]],
    by_vip: dict[str, list[ProbeRecord]],
    timelines: dict[str, list[TimelinePart]],
    resolution: float,
    jitter: dict[str, dict[str, Any]] | None = None,
    fidelity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    lab = run.lab
    node = action["node"]
    start = action["t_start"] if action["phase"] == "down" else action["t_end"]
    later = [a["t_start"] for a in all_actions if a["t_start"] > action["t_start"]]
    end = later[0] if later else None
    entry: dict[str, Any] = {
        "action": action["action"],
        "node": node,
        "phase": action["phase"],
        "t": start,
        "t_start": action["t_start"],
        "t_end": action["t_end"],
        "vips": {},
    }
    balancers = [n.name for n in lab.balancers]
    for vip in lab.vips:
        result: dict[str, Any] = {}
        if vip.address in by_vip:
            result.update(outage(by_vip[vip.address], start, end))
        timeline = timelines[vip.name]
        held_before = action.get("holders_before", {}).get(vip.name) or holders_at(timeline, action["t_start"] - 1e-3)
        result["holders_before"] = held_before
        if action["phase"] == "down" and node in held_before and node in balancers:
            graceful = action["action"] in GRACEFUL
            moved = first_held_by_other(timeline, start, node)
            alive = set(balancers) - {node}
            expected_master = lab.elected_master(vip, alive)
            if expected_master is None:
                # No other balancer is configured for it: nothing takes it over, no theory to match.
                result.update(
                    {
                        "moved": moved is not None,
                        "new_holder": moved[1] if moved else None,
                        "expected_new_holder": None,
                        "moved_after_s": None,
                        "no_backup": f"{vip.name} is configured on {node} only: no balancer takes it over "
                        f"when {node} fails",
                    }
                )
                entry["vips"][vip.name] = result
                continue
            priority = vip.priorities[expected_master]
            theory = skew_time(priority) if graceful else master_down_interval(lab.vrrp.advert_int, priority)
            low = 0.0 if graceful else max(theory - lab.vrrp.advert_int - 0.3, 0.0)
            high = theory + 0.5 + resolution
            # Measure from when the master really stopped, not from when labctl asked (on
            # emulated VMs commands take a second or more): the client's last good answer marks
            # it. After a SIGKILL the dead master keeps answering, so there the end of the
            # kill command does.
            if action["action"] != "keepalived-kill" and result.get("failed") and result.get("last_ok_before"):
                effect = result["last_ok_before"]
            else:
                effect = action["t_end"]
            moved_after = max(moved[0] - effect, 0.0) if moved else None
            result.update(
                {
                    "moved": moved is not None,
                    "moved_after_s": round(moved_after, 3) if moved_after is not None else None,
                    "measured_from": "last answer before the outage"
                    if effect != action["t_end"]
                    else "end of the action",
                    "new_holder": moved[1] if moved else None,
                    "expected_new_holder": expected_master,
                    "theory_s": round(theory, 3),
                    "theory_window_s": [round(low, 3), round(high, 3)],
                    "theory_basis": (f"graceful stop: priority-0 advert, backup waits its skew (256-{priority})/256 s")
                    if graceful
                    else (f"dead master: master-down interval 3 x {lab.vrrp.advert_int} + (256-{priority})/256 s"),
                }
            )
            result["matches_theory"] = moved_after is not None and low <= moved_after <= high
            result["source"] = "polling"
        if action["phase"] == "down" and node in balancers and run.packets is not None:
            _apply_packet_handover(run, result, vip.name, node, action["t_start"], end, jitter or {}, fidelity or {})
        if action["phase"] == "up" and lab.elected_master(vip) == node and node in balancers:
            if action["action"] == "power-on":
                # The booting node cannot be watched; its peers' captures show the hand-back.
                start = action["t_start"]
                back = first_released_to(timeline, start, node)
            else:
                back = first_held_only_by(timeline, start - 1.0, node)
            priority = vip.priorities[node]
            theory = master_down_interval(lab.vrrp.advert_int, priority)
            result.update(
                {
                    "preempted": back is not None,
                    "preemption_s": round(back - start, 3) if back is not None else None,
                    "theory_s": round(theory, 3),
                }
            )
            if action["action"] != "power-on" and back is not None:
                result["matches_theory"] = back - start <= theory + 1.0 + resolution
            if run.packets is not None:
                seen = phases.preemption(run.packets, lab, vip.name, node, action["t_start"], end)
                if seen is not None:
                    result["packets"] = seen
                    if seen["garp_after_s"] is not None:
                        # The VIP is back when its master announces it: packets, one clock.
                        result["preempted"] = True
                        result["preemption_s"] = seen["garp_after_s"]
                        result["source"] = "packets"
        entry["vips"][vip.name] = result
    return entry


def _apply_packet_handover(
    run: RunData,
    result: dict[str, Any],
    vip: str,
    node: str,
    start: float,
    end: float | None,
    jitter: dict[str, dict[str, Any]],
    fidelity: dict[str, Any],
) -> None:
    """Replace the polled hand-over by the one the packets show, when they show one."""
    assert run.packets is not None  # the caller checked
    seen = phases.handover(run.packets, run.lab, vip, node, start, end, jitter, run.lab.ipvs.port)
    if seen is None:
        return
    result["packets"] = seen
    result["source"] = "packets"
    for key in ("detection_s", "arp_s", "client_s", "theory_s", "theory_basis"):
        result[key] = seen.get(key)
    result["holders_before"] = sorted(set(result.get("holders_before") or []) | {node})
    if seen.get("new_master"):
        result["moved"] = True
        result["new_holder"] = seen["new_master"]
        if seen.get("arp_s") is not None:
            result["moved_after_s"] = seen["arp_s"]
            result["measured_from"] = "the old master's last advert (packets)"
    if seen.get("decided_by", {}).get("by") == "noise":
        result["decided_by_noise"] = seen["decided_by"]["why"]
    theory = seen.get("theory_s")
    if theory is not None:
        result["theory_window_s"] = [round(theory - seen["tolerance_s"], 3), round(theory + seen["tolerance_s"], 3)]
    # A host too loaded to keep VRRP's timers cannot confirm or refute the theory.
    result["matches_theory"] = seen["matches_theory"] if fidelity.get("ok") else None
    if not fidelity.get("ok"):
        result["judgement"] = "inconclusive: " + "; ".join(fidelity.get("reasons", []))


def _fold_into_vips(vips: dict[str, VipFigures], disruptions: list[dict[str, Any]]) -> None:
    """The first disruption's numbers per VIP, for expectations such as vips.VI_1.outage_s."""
    for disruption in disruptions:
        for name, result in disruption["vips"].items():
            target = cast(dict[str, Any], vips[name])  # the keys of VipFigures, copied by name
            if disruption["phase"] == "down":
                for key in (
                    "outage_s",
                    "failed",
                    "moved_after_s",
                    "new_holder",
                    "expected_new_holder",
                    "theory_s",
                    "theory_window_s",
                    "matches_theory",
                    "errors",
                    "detection_s",
                    "arp_s",
                    "client_s",
                    "source",
                    "decided_by_noise",
                    "judgement",
                    "no_backup",
                ):
                    if key in result and key not in target:
                        target[key] = result[key]
                target["max_outage_s"] = max(target.get("max_outage_s", 0.0), result.get("outage_s", 0.0))
            else:
                for key, out in (
                    ("preemption_s", "preemption_s"),
                    ("outage_s", "preemption_outage_s"),
                    ("theory_s", "preemption_theory_s"),
                    ("matches_theory", "preemption_matches_theory"),
                ):
                    if key in result and out not in target and (key != "theory_s" or "preemption_s" in result):
                        target[out] = result[key]


def _failover_verdict(vips: dict[str, VipFigures], disruptions: list[dict[str, Any]]) -> Failover:
    verdicts = [
        r["matches_theory"] for d in disruptions for r in d["vips"].values() if r.get("matches_theory") is not None
    ]
    duplicate = any(v["duplicate_holders"] for v in vips.values())
    return {
        "judged": len(verdicts),
        "matches_theory": all(verdicts) if verdicts else None,
        "duplicate_detected": duplicate,
    }


# --- InActConn -------------------------------------------------------------------------------


def inactconn_series(run: RunData) -> list[dict[str, Any]]:
    names = {n.address: n.name for n in run.lab.nodes}
    series = []
    for sample in sorted(run.samples, key=lambda s: s.t):
        if sample.ipvs is None:
            continue
        for service in sample.ipvs.services:
            for real in service.reals:
                series.append(
                    {
                        "t": round(sample.t, 3),
                        "node": sample.node,
                        "vip": service.vip,
                        "real": names.get(real.address, real.address),
                        "active": real.active_conn,
                        "inact": real.inact_conn,
                    }
                )
    return series


def inactconn_summary(run: RunData) -> dict[str, Any]:
    """InActConn of the burst's VIP on the director that carried it: its level just before the
    burst (connections left by earlier runs expire on their own, older timers), the peak the
    burst added, and when it fell back to that level (the tcpfin timeout at work)."""
    series = inactconn_series(run)
    if not series:
        return {"series": [], "captured": False}
    burst = next((e for e in run.events if e.get("kind") == "probe_start"), None)
    burst_t = burst["t"] if burst else min(p["t"] for p in series)
    burst_vips = _addresses(run, burst.get("vips", []) if burst else [])
    totals: dict[str, dict[float, int]] = {}
    for point in series:
        if burst_vips and point["vip"] not in burst_vips:
            continue
        by_t = totals.setdefault(point["node"], {})
        by_t[point["t"]] = by_t.get(point["t"], 0) + point["inact"]
    if not totals:
        return {"series": series, "captured": False}

    def rise(node: str) -> int:
        points = sorted(totals[node].items())
        base = next((v for t, v in reversed(points) if t <= burst_t), 0)
        return max((v for t, v in points if t > burst_t), default=0) - base

    director = max(totals, key=rise)
    points = sorted(totals[director].items())
    baseline = next((v for t, v in reversed(points) if t <= burst_t), 0)
    after = [(t, v) for t, v in points if t > burst_t]
    peak_t, peak = max(after, key=lambda item: item[1]) if after else (burst_t, baseline)
    cleared = next((t for t, v in after if t > peak_t and v <= baseline), None)
    timeouts = [s.timeout.to_dict() for s in run.samples if s.timeout is not None]
    details = [e for e in run.events if e.get("kind") == "action_details"]
    burst_end = next((e["t"] for e in run.events if e.get("kind") == "probe_end"), None)
    per_real: dict[str, int] = {}
    for point in series:
        if point["t"] == peak_t and point["node"] == director and (not burst_vips or point["vip"] in burst_vips):
            per_real[point["real"]] = per_real.get(point["real"], 0) + point["inact"]
    return {
        "captured": True,
        "series": series,
        "director": director,
        "baseline": baseline,
        "peak": peak,
        "rise": peak - baseline,
        "peak_t": peak_t,
        "peak_per_real": per_real,
        "cleared": cleared is not None and peak > baseline,
        "cleared_t": cleared,
        "cleared_after_s": round(cleared - burst_end, 3) if cleared and burst_end else None,
        "timeouts": timeouts[0] if timeouts else (details[0].get("after") if details else None),
        "timeouts_before": details[0].get("before") if details else None,
    }


def _addresses(run: RunData, vips: list[str]) -> set[str]:
    """VIP names (VI_1) or addresses, as addresses."""
    names = {v.name: v.address for v in run.lab.vips}
    return {names.get(v, v) for v in vips}


# --- real down -------------------------------------------------------------------------------


def _real_down(
    run: RunData, by_vip: dict[str, list[ProbeRecord]], all_actions: list[dict[str, Any]]
) -> dict[str, Any] | None:
    stop = next((a for a in all_actions if a["action"] == "nginx-stop"), None)
    if stop is None:
        return None
    lab = run.lab
    start = stop["t_end"]
    back = next((a["t_start"] for a in all_actions if a["action"] == "nginx-start" and a["t_start"] > start), None)
    window = [r for records in by_vip.values() for r in records if r.t >= start and (back is None or r.t < back)]
    failed = [r for r in window if not r.ok]
    address = lab.node(stop["node"]).address
    left = None
    for sample in sorted(run.samples, key=lambda s: s.t):
        if sample.t < start or sample.ipvs is None or (back is not None and sample.t >= back):
            continue
        if not any(r.address == address for svc in sample.ipvs.services for r in svc.reals):
            left = sample.t
            break
    hc = lab.ipvs.health_check
    check_bound = hc.delay_loop * (hc.retry + 1) + hc.connect_timeout + 1
    last_failure = failed[-1].t - start if failed else None
    return {
        "real": stop["node"],
        "manager": lab.ipvs.manager,
        "requests": len(window),
        "failed": len(failed),
        "failed_share": round(len(failed) / len(window), 3) if window else None,
        "left_table_after_s": round(left - start, 3) if left is not None else None,
        "last_failure_after_s": round(last_failure, 3) if last_failure is not None else None,
        "check_bound_s": check_bound,
        "failures_stopped": (
            last_failure is not None
            and last_failure <= check_bound
            and (back is None or back - start > check_bound + 1)
        ),
    }


# --- capacity --------------------------------------------------------------------------------


def _capacity(run: RunData, timelines: dict[str, list[TimelinePart]]) -> dict[str, Any] | None:
    iterations = [e for e in run.events if e.get("kind") == "iteration"]
    if not iterations or "traffic" not in run.params:
        return None
    lab = run.lab
    balancers = [n.name for n in lab.balancers]
    traffic = plan.parse_rate(run.params["traffic"])
    matrix = [
        plan.VipOrder(i + 1, lab.backup_order(v)[0], tuple(lab.backup_order(v)), dict(v.priorities))
        for i, v in enumerate(lab.vips)
    ]
    rounds = []
    for iteration in iterations:
        victim = iteration["node"]
        down = next(
            (
                e
                for e in run.events
                if e.get("kind") == "action"
                and e.get("node") == victim
                and e.get("phase") == "down"
                and e["t_start"] >= iteration["t"]
            ),
            None,
        )
        up = next(
            (
                e
                for e in run.events
                if e.get("kind") == "action"
                and e.get("node") == victim
                and e.get("phase") == "up"
                and down
                and e["t_start"] > down["t_start"]
            ),
            None,
        )
        if down is None or up is None:
            continue
        moment = up["t_start"] - 0.3  # settled, just before the node comes back
        placed = {v.name: [h for h in holders_at(timelines[v.name], moment) if h != victim] for v in lab.vips}
        counts = {b: 0 for b in balancers if b != victim}
        for holders in placed.values():
            for holder in holders[:1]:
                counts[holder] = counts.get(holder, 0) + 1
        measured = {b: counts[b] * traffic / len(lab.vips) for b in counts}
        predicted = plan.evaluate(matrix, balancers, traffic, {victim})
        survivors = set(balancers) - {victim}
        candidates = {v.name: lab.tied_for_master(v, survivors) for v in lab.vips}
        placement = {name: (h[0] if h else None) for name, h in placed.items()}
        rounds.append(
            {
                "failed": victim,
                "placement": placement,
                "expected_placement": {v.name: lab.elected_master(v, survivors) for v in lab.vips},
                # A priority tie among survivors: the backup whose master-down timer fires first
                # takes the VIP; the higher-address rule only settles two simultaneous masters.
                "ties": {name: c for name, c in candidates.items() if len(c) > 1},
                "measured_bps": measured,
                "predicted_bps": predicted,
                # A VIP no survivor is configured for is rightly held by nobody.
                "placement_ok": all(
                    placement[n] in candidates[n] if candidates[n] else placement[n] is None for n in placement
                ),
                "load_matches": all(abs(measured.get(b, 0) - predicted.get(b, 0)) < 1 for b in predicted),
            }
        )
        rounds[-1]["matches"] = rounds[-1]["placement_ok"]
    return {
        "traffic_bps": traffic,
        "rounds": rounds,
        "load_matches": bool(rounds) and all(r["load_matches"] for r in rounds),
        "matches_prediction": bool(rounds) and all(r["matches"] for r in rounds),
    }


# --- expectations ----------------------------------------------------------------------------


def metric(summary: Mapping[str, Any], path: str) -> Any:
    value: Any = summary
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def evaluate_expectations(specs: list[dict[str, Any]], summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    results = []
    for spec in specs:
        entry = {"name": spec["name"], "metric": spec["metric"], "where": spec.get("where")}
        for key in ("max", "min", "equals", "why"):
            if key in spec:
                entry[key] = spec[key]
        if not when.holds(spec.get("when")):
            results.append({**entry, "skipped": True, "passed": True, "reason": f"not applicable ({spec['when']})"})
            continue
        value = metric(summary, spec["metric"])
        entry["value"] = value
        reasons = []
        if value is None:
            # Say why when the analysis knows (a VIP without backup never moves).
            parent = metric(summary, spec["metric"].rpartition(".")[0])
            why = parent.get("no_backup") if isinstance(parent, dict) else None
            if why:
                entry["unmeasurable"] = why  # the configuration's doing: no fidelity excuses it
            reasons.append(f"not measured: {why}" if why else "not measured")
        else:
            if "equals" in spec and value != spec["equals"]:
                reasons.append(f"{value!r} is not {spec['equals']!r}")
            if "max" in spec and (not isinstance(value, (int, float)) or value > spec["max"]):
                reasons.append(f"{value!r} > {spec['max']}")
            if "min" in spec and (not isinstance(value, (int, float)) or value < spec["min"]):
                reasons.append(f"{value!r} < {spec['min']}")
        results.append({**entry, "passed": not reasons, "reason": "; ".join(reasons) or "held"})
    return results
