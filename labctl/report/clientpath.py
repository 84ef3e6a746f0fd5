"""Can the client's outage be judged? The probes run on the host, and a host too busy to serve
them makes a request time out whatever the lab does. VIPs whose holder never changed during a
run are the control group: a request to one of them that timed out after the first action was
lost on the probe path, not by the failover, and a client outage measured beside it cannot be
told from that noise (seen in CI: VI_1's outage 8.1 s with the hand-over on time, while
untouched VI_2 lost two requests to timeouts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labctl.observe.probes import ProbeRecord

# Only timeouts are the path's: a refused connection or an HTTP error is an answer from the lab
# (a real with nginx stopped refuses, and that is the experiment's to judge).
NOISE_ERRORS = {"timeout"}

# Figures the client's probes decide: not judged when the control VIPs show the probe path lost
# requests on its own.
CLIENT_METRICS = {"outage_s", "max_outage_s", "preemption_outage_s", "outage_per_transition_s"}


def untouched_vips(timelines: Mapping[str, Sequence[Mapping[str, Any]]], acted_on: set[str]) -> list[str]:
    """VIPs held by one balancer alone for the whole run, one no action touched."""
    names = []
    for name, timeline in timelines.items():
        holders = {tuple(part["holders"]) for part in timeline if part["holders"]}
        if len(holders) == 1 and len(next(iter(holders))) == 1 and not set(next(iter(holders))) & acted_on:
            names.append(name)
    return names


def client_path(
    timelines: Mapping[str, Sequence[Mapping[str, Any]]],
    by_address: dict[str, list[ProbeRecord]],
    addresses: dict[str, str],
    acted_on: set[str],
    since: float | None,
) -> dict[str, Any]:
    """The control VIPs' probes from SINCE (the first action; None: no action, nothing to
    judge): {"ok", "controls": {vip: {"requests", "timeouts"}}, "reasons"}."""
    controls: dict[str, dict[str, int]] = {}
    reasons = []
    if since is not None:
        for name in untouched_vips(timelines, acted_on):
            window = [r for r in by_address.get(addresses[name], []) if r.t >= since - 1.0]
            lost = sum(1 for r in window if not r.ok and (r.error or "") in NOISE_ERRORS)
            controls[name] = {"requests": len(window), "timeouts": lost}
            if lost:
                reasons.append(
                    f"{lost} of {len(window)} requests to {name}, whose holder never changed, timed out: "
                    "the probe path lost requests on its own (host too busy)"
                )
    return {"ok": not reasons, "controls": controls, "reasons": reasons}
