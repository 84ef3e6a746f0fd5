"""Figures of several runs side by side: distributions per figure, verdict counts, labels.

Pure functions over summary dicts (as labctl.report.build.build returns them); the only I/O is
plot_distributions, which writes the PNG it is asked for, and the template read by
comparison_markdown.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from labctl.templating import render

# The per-VIP figures worth comparing across runs, in the order a hand-over happens.
FIGURE_KEYS = ("detection_s", "arp_s", "client_s", "outage_s", "moved_after_s", "preemption_s", "duplicate_s")
# Always plotted when present; the others only when some run measured something non-zero.
CORE_KEYS = ("detection_s", "arp_s", "client_s", "outage_s")
# Panels that get the VRRP theory as a reference line (theory_s predicts these two).
THEORY_KEYS = ("detection_s", "moved_after_s")
VERDICTS = ("pass", "fail", "inconclusive")
# The traffic experiment's answer to homework question 3, first in a comparison: the most
# loaded survivor after any failure, the worst loss the receivers counted, what got through.
TRAFFIC_KEYS = ("max_survivor_load_pct", "max_loss_pct", "delivered_pct")


# --- figures and distributions ---------------------------------------------------------------


def _number(value: Any) -> float | None:
    # bool is an int in Python; True is not 1 second.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def figures(summary: dict[str, Any]) -> dict[str, float]:
    """The comparable numeric figures of one run, keyed like 'VI_1.detection_s'."""
    found: dict[str, float] = {}
    for vip, values in (summary.get("vips") or {}).items():
        for key in FIGURE_KEYS:
            number = _number((values or {}).get(key))
            if number is not None:
                found[f"{vip}.{key}"] = number
    for key in TRAFFIC_KEYS:
        number = _number((summary.get("traffic") or {}).get(key))
        if number is not None:
            found[f"traffic.{key}"] = number
    return found


def figure_sort_key(name: str) -> tuple[str, int, str]:
    """The traffic figures first, then VIPs in name order, and within a VIP the hand-over's
    order (FIGURE_KEYS)."""
    vip, _, key = name.partition(".")
    if vip == "traffic":
        return "", TRAFFIC_KEYS.index(key) if key in TRAFFIC_KEYS else len(TRAFFIC_KEYS), key
    rank = FIGURE_KEYS.index(key) if key in FIGURE_KEYS else len(FIGURE_KEYS)
    return vip, rank, key


def nearest_rank(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile: a value that was measured, never an interpolation."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def distribution(values: Iterable[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "min": None, "median": None, "p95": None, "max": None}
    return {
        "n": len(ordered),
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p95": round(nearest_rank(ordered, 0.95), 3),
        "max": round(ordered[-1], 3),
    }


def verdict_of(summary: dict[str, Any]) -> str:
    # A summary without a verdict did not judge anything: counted as a failure, like exit_code.
    verdict = (summary.get("verdict") or {}).get("verdict")
    return verdict if verdict in VERDICTS else "fail"


def values_by_figure(summaries: list[dict[str, Any]]) -> dict[str, list[float]]:
    collected: dict[str, list[float]] = {}
    for summary in summaries:
        for name, value in figures(summary).items():
            collected.setdefault(name, []).append(value)
    return {name: collected[name] for name in sorted(collected, key=figure_sort_key)}


def aggregate(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure its distribution over the runs, the verdict counts, and the advert jitter."""
    verdicts = {name: 0 for name in VERDICTS}
    for summary in summaries:
        verdicts[verdict_of(summary)] += 1
    jitter = [j for j in (_number((s.get("fidelity") or {}).get("jitter_p95_ms")) for s in summaries) if j is not None]
    return {
        "runs": len(summaries),
        "verdicts": verdicts,
        "figures": {name: distribution(values) for name, values in values_by_figure(summaries).items()},
        "jitter_p95_ms": distribution(jitter) if jitter else None,
    }


# --- labels and comparison -------------------------------------------------------------------


def _differing_params(params: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    keys = set(params).union(*[set(o) for o in others]) if others else set()
    return {k: params.get(k) for k in sorted(keys) if k in params and any(o.get(k) != params.get(k) for o in others)}


def label_of(summary: dict[str, Any], folder: Path | str, others: Iterable[dict[str, Any]] = ()) -> str:
    """'failover method=poweroff': the scenario plus the parameters in which this run differs
    from OTHERS of the same scenario; the folder's name when the run names no scenario."""
    scenario = summary.get("scenario")
    if not scenario:
        return Path(folder).name
    same = [o.get("params") or {} for o in others if o.get("scenario") == scenario]
    differing = _differing_params(summary.get("params") or {}, same)
    return " ".join([scenario] + [f"{k}={v}" for k, v in differing.items()])


def labels_for(groups: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """A unique label per group (keyed by folder), from each group's first run; two groups with
    the same scenario and parameters are told apart by their folder's name."""
    firsts = {folder: runs[0] for folder, runs in groups.items() if runs}
    labels = {}
    for folder, first in firsts.items():
        others = [s for f, s in firsts.items() if f != folder]
        labels[folder] = label_of(first, folder, others)
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {
        folder: (label if counts[label] == 1 else f"{label} ({Path(folder).name})") for folder, label in labels.items()
    }


def compare(groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Groups (label -> runs) side by side: each group's aggregate, and every figure any group
    has, in one order, so a table can put figures in rows and groups in columns."""
    aggregates = {label: aggregate(runs) for label, runs in groups.items()}
    names = sorted({n for a in aggregates.values() for n in a["figures"]}, key=figure_sort_key)
    return {"groups": list(groups), "figures": names, "aggregates": aggregates}


def cell(dist: dict[str, Any] | None) -> str:
    """'median (min-max, n)', or '-' when the group has no such figure."""
    if not dist or not dist.get("n"):
        return "-"
    return f"{dist['median']:g} ({dist['min']:g}-{dist['max']:g}, n={dist['n']})"


def verdict_text(verdicts: dict[str, int]) -> str:
    """'2 pass, 1 fail': the verdicts that occurred ('no runs' when none did)."""
    return ", ".join(f"{verdicts[v]} {v}" for v in VERDICTS if verdicts.get(v)) or "no runs"


def comparison_markdown(comparison: dict[str, Any], image: str = "comparison.png") -> str:
    """The side-by-side table in Markdown; IMAGE is the plot written next to it."""
    return render("comparison.md.j2", comparison=comparison, cell=cell, verdict_text=verdict_text, image=image)


# --- terminal tables -------------------------------------------------------------------------


def comparison_table(comparison: dict[str, Any]) -> Table:
    table = Table(title="median (min-max, n): seconds, or percent for *_pct")
    table.add_column("figure")
    for label in comparison["groups"]:
        table.add_column(Text(label), justify="right")  # a folder's name or --set values: never markup
    aggregates = comparison["aggregates"]
    table.add_row("verdicts", *[verdict_text(aggregates[g]["verdicts"]) for g in comparison["groups"]])
    for name in comparison["figures"]:
        table.add_row(name, *[cell(aggregates[g]["figures"].get(name)) for g in comparison["groups"]])
    return table


def distribution_table(aggregated: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("figure (s)")
    for column in ("n", "min", "median", "p95", "max"):
        table.add_column(column, justify="right")
    for name, dist in aggregated["figures"].items():
        table.add_row(name, *[f"{dist[c]:g}" for c in ("n", "min", "median", "p95", "max")])
    jitter = aggregated.get("jitter_p95_ms")
    if jitter:
        table.add_row("advert jitter p95 (ms)", *[f"{jitter[c]:g}" for c in ("n", "min", "median", "p95", "max")])
    return table


# --- distributions.png -----------------------------------------------------------------------


def plotted_figures(groups: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The core hand-over figures wherever measured; the rest only when not all zero (a panel of
    zeros for every VIP's duplicate_s says nothing)."""
    values: dict[str, list[float]] = {}
    for runs in groups.values():
        for name, found in values_by_figure(runs).items():
            values.setdefault(name, []).extend(found)
    return [
        name
        for name in sorted(values, key=figure_sort_key)
        if name.partition(".")[2] in CORE_KEYS or any(v != 0 for v in values[name])
    ]


def _theory(runs: list[dict[str, Any]], vip: str) -> float | None:
    found = [t for t in (_number((s.get("vips") or {}).get(vip, {}).get("theory_s")) for s in runs) if t is not None]
    return statistics.median(found) if found else None


def plot_distributions(groups: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """One panel per figure; in each, every group's runs as points, its median and p95 as
    short bars, and the VRRP theory where it predicts the figure."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a CI machine or over SSH
    import matplotlib.pyplot as plt

    names = plotted_figures(groups) or ["(no figures)"]
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    width = max(4.5, 1.2 * len(groups) + 2.5)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, 3.6 * rows + 0.8), squeeze=False)
    labels = list(groups)
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        _panel(ax, name, groups, labels)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    runs = sum(len(r) for r in groups.values())
    fig.suptitle(f"figures over {runs} run(s) in {len(groups)} group(s)", fontsize=11, y=0.99)
    unique: dict[str, Any] = {}
    for ax in axes.flat:  # one legend for the figure: panels differ in what they draw
        handles, legend_labels = ax.get_legend_handles_labels()
        for handle, text in zip(handles, legend_labels):
            unique.setdefault(text, handle)
    if unique:
        fig.legend(
            unique.values(),
            unique.keys(),
            loc="upper center",
            bbox_to_anchor=(0.5, 0.96),
            fontsize=8,
            ncol=4,
            frameon=False,
        )
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _panel(ax: Any, name: str, groups: dict[str, list[dict[str, Any]]], labels: list[str]) -> None:
    vip, _, key = name.partition(".")
    highest = 0.0
    for x, label in enumerate(labels):
        values = values_by_figure(groups[label]).get(name, [])
        if values:
            # A small fixed spread so equal values stay visible as several runs.
            spread = [x + 0.15 * ((i % 5) - 2) / 2 for i in range(len(values))]
            ax.scatter(spread, values, s=18, color="tab:blue", alpha=0.7, label="run", zorder=3)
            dist = distribution(values)
            ax.hlines(dist["median"], x - 0.3, x + 0.3, color="black", linewidth=2, label="median", zorder=4)
            ax.hlines(
                dist["p95"], x - 0.3, x + 0.3, color="tab:red", linestyle="--", linewidth=1.5, label="p95", zorder=4
            )
            top_value = dist["max"]
            assert top_value is not None  # VALUES is not empty
            highest = max(highest, top_value)
        theory = _theory(groups[label], vip) if key in THEORY_KEYS else None
        if theory is not None:
            ax.hlines(
                theory, x - 0.4, x + 0.4, color="tab:green", linestyle=":", linewidth=1.5, label="VRRP theory", zorder=2
            )
            highest = max(highest, theory)
    ax.set_title(name, fontsize=10)
    ax.set_ylabel("seconds")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8, rotation=15 if len(labels) > 2 else 0, ha="center")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    # Head-room above the highest mark, and a little below zero so zeros are not on the frame.
    top = max(highest * 1.15, 0.1)
    ax.set_ylim(-0.04 * top, top)
    ax.grid(axis="y", alpha=0.3)
