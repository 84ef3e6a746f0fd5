"""The figures a run's summary.json offers to `expect: metric:` paths, so that a typo is refused
when the scenario is loaded, not reported as "not measured" after minutes of VMs.

The catalogue mirrors what labctl.report.analysis writes; a unit test runs the analysis on a
recorded run and checks that every figure it produced is listed here (the two cannot drift).
"""

from __future__ import annotations

import difflib
from typing import Any

ANY = "*"  # anything below this key (a free-form structure)
LEAF = None  # a figure with nothing below it
VIP = "<vip>"  # one level keyed by a VRRP instance name (VI_1)
INDEX = "<n>"  # one level keyed by a list index

VIP_FIGURES: dict[str, Any] = dict.fromkeys(
    (
        "address", "duplicate_holders", "duplicate_s", "outage_s", "failed", "moved_after_s",
        "new_holder", "expected_new_holder", "theory_s", "theory_window_s", "matches_theory",
        "errors", "detection_s", "arp_s", "client_s", "source", "decided_by_noise", "judgement", "no_backup",
        "max_outage_s", "preemption_s", "preemption_outage_s", "preemption_theory_s",
        "preemption_matches_theory",
    ),
    LEAF,
)  # fmt: skip

CATALOGUE: dict[str, Any] = {
    "scenario": LEAF,
    "params": ANY,
    "capture_resolution_s": LEAF,
    "requests": {"total": LEAF, "failed": LEAF, "failed_before_first_action": LEAF, "by_vip": ANY},
    "vips": {VIP: VIP_FIGURES},
    "disruptions": {INDEX: ANY},
    "timelines": ANY,
    "fidelity": {"ok": LEAF, "jitter_p95_ms": LEAF, "jitter_limit_ms": LEAF, "per_balancer": ANY,
                 "host": ANY, "reasons": ANY},
    "client_path": {"ok": LEAF, "controls": ANY, "reasons": ANY},
    "packets": ANY,
    "failover": {"judged": LEAF, "matches_theory": LEAF, "duplicate_detected": LEAF},
    "inactconn": dict.fromkeys(
        ("captured", "series", "director", "baseline", "peak", "rise", "peak_t", "peak_per_real",
         "cleared", "cleared_t", "cleared_after_s", "timeouts", "timeouts_before"), LEAF),
    "real_down": dict.fromkeys(
        ("real", "manager", "requests", "failed", "failed_share", "left_table_after_s",
         "last_failure_after_s", "check_bound_s", "failures_stopped"), LEAF),
    "capacity": {"traffic_bps": LEAF, "rounds": ANY, "load_matches": LEAF, "matches_prediction": LEAF,
                 "failures": ANY},
    "traffic": dict.fromkeys(("link_bps", "planned_bps", "offered_bps", "delivered_bps", "delivered_pct", "loss_pct",
                              "max_survivor_load_pct", "max_loss_pct", "matches_prediction"), LEAF)
        | dict.fromkeys(("per_vip_bps", "delivered_per_vip_bps", "series", "offered_series", "delivered_series",
                         "downs", "baseline", "failures"), ANY),
    "flapping": dict.fromkeys(
        ("captured", "impaired", "impaired_s", "transitions", "outage_per_transition_s", "max_outage_s",
         "claim_silence_s", "claim_theory_s", "requests_during", "requests_failed_pct", "recovered",
         "recovered_after_s"),
        LEAF) | {"per_vip": ANY},
    "split_brain": dict.fromkeys(
        ("captured", "detected", "duration_s", "recovery_s", "recovered"), LEAF)
        | dict.fromkeys(("cut", "client", "client_after", "duplicate_holders", "polled_duplicates", "spells",
                         "advertisers_at_end", "arp"), ANY),
    "expectations": ANY,
    "error": LEAF,
    "verdict": {"verdict": LEAF, "reasons": ANY},
    "passed": LEAF,
}  # fmt: skip


def check_metric(path: str, vip_names: set[str] | None = None) -> str | None:
    """None when PATH names a figure of the summary, else why not (with a did-you-mean)."""
    node: Any = CATALOGUE
    walked: list[str] = []
    for part in path.split("."):
        if node == ANY:
            return None
        if node is LEAF:
            return f"{'.'.join(walked)} is a figure, it has no {part!r}"
        if VIP in node:
            if vip_names is not None and part not in vip_names:
                return f"no VRRP instance {part!r} in {'.'.join(walked)} ({', '.join(sorted(vip_names))})"
            node = node[VIP]
        elif INDEX in node:
            if not part.isdigit():
                return f"{'.'.join(walked)} is a list: use an index such as {'.'.join(walked)}.0"
            node = node[INDEX]
        elif part in node:
            node = node[part]
        else:
            hint = difflib.get_close_matches(part, list(node), n=1)
            where = ".".join(walked) or "the summary"
            more = f"; did you mean {'.'.join([*walked, hint[0]])!r}?" if hint else f"; {where} has {', '.join(node)}"
            return f"unknown metric {path!r}: {where} has no {part!r}{more}"
        walked.append(part)
    return None


def leaf_paths(summary: dict[str, Any], vip_names: set[str]) -> list[str]:
    """Every path down to a figure in SUMMARY, as `expect` would name it (for the drift test)."""
    found: list[str] = []

    def walk(value: Any, node: Any, prefix: list[str]) -> None:
        if node == ANY or node is LEAF or not isinstance(value, dict):
            found.append(".".join(prefix))
            return
        for key, inner in value.items():
            if VIP in node:
                walk(inner, node[VIP], [*prefix, key])
            elif INDEX in node:
                walk(inner, node[INDEX], [*prefix, key])
            else:
                walk(inner, node.get(key, "?missing"), [*prefix, key])

    walk(summary, CATALOGUE, [])
    return found
