"""load.png: each balancer's incoming rate over a traffic run against its shaped link, with the
spans during which a balancer was powered off (the traffic experiment's picture), and what the
receivers (iperf3 on the reals) got per second, all VIPs together, against what was offered.
A line breaks where its series has no samples (a balancer powered off has no tap)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402

from labctl.model.lab import Lab  # noqa: E402

LOAD_PNG = "load.png"
# Points further apart than this many of the series' usual steps are not joined: a node
# powered off has no tap, hence no samples, and a line across that would draw load it never had.
GAP_STEPS = 2.5


def broken(points: Sequence[Sequence[float]], t0: float) -> tuple[list[float], list[float]]:
    """(seconds since T0, Mbit/s) of POINTS (time, bits/s), with a NaN wherever samples are
    missing (matplotlib leaves a gap there)."""
    times = [float(p[0]) for p in points]
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    limit = GAP_STEPS * statistics.median(steps) if steps else float("inf")
    xs: list[float] = []
    ys: list[float] = []
    for index, (t, bps) in enumerate(points):
        if index and t - times[index - 1] > limit:
            xs.append(float("nan"))
            ys.append(float("nan"))
        xs.append(t - t0)
        ys.append(bps / 1e6)
    return xs, ys


def load_plot(lab: Lab, figures: Mapping[str, Any], path: Path) -> None:
    series = figures.get("series") or {}
    offered_series = figures.get("offered_series") or []
    delivered_series = figures.get("delivered_series") or []
    starts = [points[0][0] for points in series.values() if points]
    starts += [points[0][0] for points in (offered_series, delivered_series) if points]
    if not starts:
        return
    t0 = min(starts)
    link = figures.get("link_bps")
    fig, ax = plt.subplots(figsize=(12, 4.5))
    colours = {b.name: plt.cm.tab10(i % 10) for i, b in enumerate(lab.balancers)}
    styles = ("-", "--", ":", "-.")  # equal loads overlap exactly: the styles keep them apart
    for index, (node, points) in enumerate(sorted(series.items())):
        ax.plot(
            *broken(points, t0),
            label=node,
            color=colours.get(node),
            linestyle=styles[index % len(styles)],
            linewidth=1.8,
        )
    if offered_series:
        ax.plot(
            *broken(offered_series, t0),
            label="offered (clients, all VIPs)",
            color="grey",
            linestyle=":",
            linewidth=1.2,
        )
    if delivered_series:
        ax.plot(
            *broken(delivered_series, t0),
            label="delivered (receivers, all VIPs)",
            color="dimgrey",
            linewidth=1.2,
        )
    if link:
        ax.axhline(link / 1e6, color="black", linestyle="--", linewidth=1, label=f"link {link / 1e6:g} Mbit/s")
    for failure in figures.get("failures") or []:
        off_start, off_end = failure.get("off") or failure["window"]
        start, end = failure["window"]
        colour = colours.get(failure["down"], "grey")
        ax.axvspan(off_start - t0, off_end - t0, color=colour, alpha=0.06)
        ax.axvspan(start - t0, end - t0, color=colour, alpha=0.12)  # the steady window measured
        ax.text((off_start + off_end) / 2 - t0, (link or 1e6) / 1e6 * 1.04, f"{failure['down']} off", ha="center")
    ax.set_xlabel("seconds")
    ax.set_ylabel("Mbit/s on the wire")
    ax.set_ylim(bottom=0, top=max((link or 0) / 1e6 * 1.15, ax.get_ylim()[1]))
    offered = figures.get("offered_bps") or 0
    delivered = figures.get("delivered_bps")
    got = f", {delivered / 1e6:.1f} delivered" if delivered is not None else ""
    ax.set_title(
        f"incoming rate per balancer (host-side tap): {offered / 1e6:.1f} Mbit/s offered over {len(lab.vips)} VIPs{got}"
    )
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
