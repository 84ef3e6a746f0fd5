"""The run summary's shape: what labctl.report.analysis writes to summary.json, and what the
checks (labctl.assignment.kinds) and `labctl check`/`grade` read back from it.

Typed here, below both, as TypedDicts (summary.json stays plain JSON): every top-level key, and
the parts the checks read (requests per VIP and real, each VIP's figures, the holder timelines,
the traffic figures, the verdict). The other parts stay `dict[str, Any]`. A key the analysis
writes must be declared here: tests/unit/test_summary_types.py compares the keys of a built
summary with these.

No `from __future__ import annotations`: Required/NotRequired must be seen at runtime, where
the test reads __required_keys__ and __optional_keys__.
"""

from typing import Any, Literal, NotRequired, Required, TypedDict

Verdict = Literal["pass", "fail", "inconclusive"]


class TimelinePart(TypedDict):
    """One part of a VIP's holder timeline."""

    start: float
    end: float
    holders: list[str]
    unobserved: list[str]  # balancers whose capture did not cover this part


class VipRequests(TypedDict):
    total: int
    failed: int
    reals: dict[str, int]  # who answered (X-Real-Server) -> answers; `serves` reads it


class Requests(TypedDict):
    total: int
    failed: int
    by_vip: dict[str, VipRequests]  # by VIP address
    failed_before_first_action: NotRequired[int]  # when the run had actions


class VipFigures(TypedDict, total=False):
    """One VIP's figures: its duplicates, and the first disruption's numbers folded in (for
    expectations such as vips.VI_1.outage_s; `survives` reads outage_s, moved_after_s, new_holder)."""

    address: Required[str]
    duplicate_holders: Required[list[dict[str, Any]]]
    duplicate_s: Required[float]
    # From the first "down" disruption that touched the VIP.
    outage_s: float | None
    failed: int
    moved_after_s: float | None
    new_holder: str | None
    expected_new_holder: str | None
    theory_s: float
    theory_window_s: list[float]
    matches_theory: bool | None
    errors: list[str]
    detection_s: float | None
    arp_s: float | None
    client_s: float | None
    source: str  # polling or packets
    decided_by_noise: Any
    judgement: str
    no_backup: str  # why the VIP cannot move (configured on one balancer only)
    max_outage_s: float
    # From the first "up" disruption.
    preemption_s: float | None
    preemption_outage_s: float | None
    preemption_theory_s: float
    preemption_matches_theory: bool | None


class Failover(TypedDict):
    judged: int
    matches_theory: bool | None
    duplicate_detected: bool


class TrafficFigures(TypedDict):
    """The traffic experiment measured (labctl.report.traffic); `capacity` reads the maxima."""

    link_bps: float | None
    planned_bps: int | None
    offered_bps: int
    delivered_bps: Any
    delivered_pct: float | None
    loss_pct: float | None
    per_vip_bps: dict[str, int]
    delivered_per_vip_bps: dict[str, Any]
    series: dict[str, list[list[float]]]
    offered_series: Any
    delivered_series: Any
    downs: list[dict[str, Any]]
    baseline: dict[str, Any]
    failures: list[dict[str, Any]]
    max_survivor_load_pct: float | None
    max_loss_pct: float | None
    matches_prediction: bool


class RunVerdict(TypedDict):
    verdict: Verdict
    reasons: list[str]


class Figures(TypedDict):
    """What the analysis measured: the summary as the scenario's expectations are judged on."""

    scenario: str | None
    params: dict[str, Any]
    capture_resolution_s: float
    requests: Requests
    vips: dict[str, VipFigures]  # by VIP name
    disruptions: list[dict[str, Any]]  # one per action, in run order
    timelines: dict[str, list[TimelinePart]]  # by VIP name; `owners` reads them
    fidelity: dict[str, Any]
    packets: dict[str, Any]
    client_path: dict[str, Any]
    failover: Failover
    inactconn: dict[str, Any]
    real_down: dict[str, Any] | None
    capacity: dict[str, Any] | None
    traffic: TrafficFigures | None  # None: the run offered no traffic
    flapping: dict[str, Any] | None
    split_brain: dict[str, Any] | None


class RunSummary(Figures):
    """summary.json: the figures, the expectations judged on them, and the run's verdict."""

    expectations: list[dict[str, Any]]
    error: str | None  # the run stopped on it
    verdict: RunVerdict
    passed: bool
