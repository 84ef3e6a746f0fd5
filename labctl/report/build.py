"""Results of a run: summary.json, report.md, timeline.png, and the terminal's summary table.

Everything is rebuilt from the run folder's raw files (probe-*.jsonl, capture-*.txt,
events.jsonl, run.json, clock.json; labctl.observe.runrecords reads them), so
`labctl report PATH` gives the same answer later.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # files only: no display on a CI machine or over SSH
import matplotlib.pyplot as plt  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from labctl.lab.host import safefiles  # noqa: E402
from labctl.model.lab import Vip  # noqa: E402
from labctl.model.labrecord import lab_from_dict  # noqa: E402
from labctl.observe import runrecords  # noqa: E402
from labctl.observe.summary import RunSummary  # noqa: E402
from labctl.report import analysis  # noqa: E402
from labctl.report.html import REPORT_HTML, report_html  # noqa: E402
from labctl.report.loadplot import LOAD_PNG, load_plot  # noqa: E402
from labctl.report.wording import STEP_KINDS, disruption_lines, event_text, fmt, mbit, run_start  # noqa: E402
from labctl.templating import render  # noqa: E402


def load_run(folder: Path) -> analysis.RunData:
    raw = runrecords.read_run(folder)
    info = raw.info
    return analysis.RunData(
        packets=raw.packets,
        counters=raw.counters,
        iperf=raw.iperf,
        lab=lab_from_dict(info["lab"]),
        params=info.get("params", {}),
        events=raw.events,
        probes=raw.probes,
        samples=raw.samples,
        expectations=info.get("expectations", []),
        info=info,
    )


def build(folder: Path) -> dict[str, Any]:
    """build_run's summary as the plain dict labctl.cli's commands take (until they take a RunSummary)."""
    return cast(dict[str, Any], build_run(folder))


def build_run(folder: Path) -> RunSummary:
    """Analyse the run in FOLDER and write summary.json, timeline.png, report.md and report.html."""
    run = load_run(folder)
    summary = analysis.analyze(run)
    # A run may be made by root in the user's folder: written by the safe writer, never via a link.
    safefiles.write_file(folder / runrecords.SUMMARY, runrecords.json_text(summary), 0o644)
    timeline(run, summary, folder / runrecords.TIMELINE)
    figures = summary["traffic"]
    if figures:
        load_plot(run.lab, figures, folder / LOAD_PNG)
    (folder / runrecords.REPORT).write_text(markdown(run, summary))
    load = folder / LOAD_PNG
    page = report_html(
        run, summary, (folder / runrecords.TIMELINE).read_bytes(), load.read_bytes() if load.exists() else None
    )
    (folder / REPORT_HTML).write_text(page, encoding="utf-8")
    return summary


# --- report.md -------------------------------------------------------------------------------


def markdown(run: analysis.RunData, summary: RunSummary) -> str:
    t0 = run_start(run)
    steps = [(f"{e['t'] - t0:+.3f}", event_text(e)) for e in run.events if e.get("kind") in STEP_KINDS]
    return render(
        "report.md.j2",
        run=run,
        info=run.info,
        summary=summary,
        t0=t0,
        steps=steps,
        explanation=run.info.get("explanation") or "",
        rel=lambda t: f"{t - t0:+.3f}" if t else "-",
        fmt=fmt,
        mbit=mbit,
        disruption_lines=disruption_lines,
    )


# --- timeline.png ----------------------------------------------------------------------------


def timeline(run: analysis.RunData, summary: RunSummary, path: Path) -> None:
    t0 = run_start(run)
    lab = run.lab
    inact = summary["inactconn"].get("series") if summary.get("inactconn") else []
    if not any(p["inact"] or p["active"] for p in inact or []):
        inact = []  # a flat zero line says nothing: no lane
    lanes = len(lab.vips)
    rows = lanes + (1 if inact else 0)
    handovers = _packet_handovers(summary) if run.packets is not None else []
    zoom = 1 if handovers else 0
    fig = plt.figure(figsize=(13, 1.6 * rows + 1.5 + 2.6 * zoom))
    grid = fig.add_gridspec(rows + zoom, 1, height_ratios=[1.0] * rows + [1.6] * zoom)
    first = fig.add_subplot(grid[0, 0])
    axes = [[first]] + [[fig.add_subplot(grid[i, 0], sharex=first)] for i in range(1, rows)]
    colours = {n.name: plt.cm.tab10(i % 10) for i, n in enumerate(lab.balancers)}
    actions = [e for e in run.events if e.get("kind") == "action"]
    for index, vip in enumerate(lab.vips):
        ax = axes[index][0]
        for part in summary["timelines"].get(vip.name, []):
            holders = part["holders"]
            width = part["end"] - part["start"]
            if not holders and part.get("unobserved"):
                ax.barh(
                    1,
                    width,
                    left=part["start"] - t0,
                    height=0.5,
                    color="white",
                    hatch="..",
                    edgecolor="grey",
                    label="not observed (no capture)",
                )
            elif not holders:
                ax.barh(
                    1,
                    width,
                    left=part["start"] - t0,
                    height=0.5,
                    color="lightgrey",
                    hatch="//",
                    edgecolor="grey",
                    label="no holder",
                )
            for k, holder in enumerate(holders):
                height = 0.5 / len(holders)
                ax.barh(
                    0.75 + height * (k + 0.5),
                    width,
                    left=part["start"] - t0,
                    height=height,
                    color=colours.get(holder, "black"),
                    label=holder,
                )
        _packet_lane(ax, run, summary, vip, t0, colours)
        records = [r for r in run.probes if r.vip == vip.address]
        ok = [r.t - t0 for r in records if r.ok]
        bad = [r.t - t0 for r in records if not r.ok]
        if ok:
            ax.scatter(ok, [0.25] * len(ok), marker="|", color="tab:green", s=30, label="request ok")
        if bad:
            ax.scatter(bad, [0.25] * len(bad), marker="x", color="tab:red", s=20, label="request failed")
        for action in actions:
            ax.axvline(action["t_start"] - t0, color="black", linestyle="--", linewidth=0.8)
            if index == 0:
                ax.annotate(
                    f"{action['action']} {action['node']}",
                    (action["t_start"] - t0, 2.1 if run.packets is not None else 1.35),
                    fontsize=7,
                    rotation=0,
                    ha="left",
                )
        packets = run.packets is not None
        ax.set_yticks([0.25, 1, 1.75] if packets else [0.25, 1])
        ax.set_yticklabels(["probe", "holder (polled)", "VRRP/ARP"] if packets else ["probe", "holder"])
        ax.set_ylim(0, 2.25 if packets else 1.5)
        ax.set_title(f"{vip.name} {vip.address}", fontsize=9, loc="left")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        if unique:
            # Beside the lane, not over it: the adverts and requests stay visible.
            ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if inact:
        ax = axes[lanes][0]
        # One line per VIP and real, read on the balancer that carried that VIP's traffic (the
        # others only hold backup copies of the rules): 18 lines would say less than 6.
        by_key: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        for p in inact:
            by_key.setdefault((p["vip"], p["real"]), {}).setdefault(p["node"], []).append(p)
        for (vip_address, real), per_node in sorted(by_key.items()):
            node, points = max(per_node.items(), key=lambda item: max(p["inact"] + p["active"] for p in item[1]))
            times = [p["t"] - t0 for p in points]
            if any(p["inact"] for p in points):
                ax.plot(times, [p["inact"] for p in points], label=f"InActConn {vip_address} -> {real} ({node})")
            if any(p["active"] for p in points):
                ax.plot(
                    times,
                    [p["active"] for p in points],
                    linestyle=":",
                    label=f"ActiveConn {vip_address} -> {real} ({node})",
                )
        ax.set_ylabel("connections")
        ax.set_title("IPVS connections per real (ipvsadm -Ln)", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1][0].set_xlabel("seconds since the start of the run")
    if handovers:
        _zoom_on_handover(fig.add_subplot(grid[rows, 0]), run, *handovers[0], colours)
    fig.suptitle(f"{run.info.get('scenario', 'scenario')}: VIP holders, requests and IPVS", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _packet_handovers(summary: RunSummary) -> list[tuple[str, dict[str, Any]]]:
    """(VIP, packet phases) of every hand-over the capture showed, in run order."""
    found = []
    for disruption in summary.get("disruptions", []):
        for name, result in disruption["vips"].items():
            seen = result.get("packets") or {}
            if seen.get("detection_s") is not None:
                found.append((name, seen))
    return found


def _zoom_on_handover(
    ax: Any, run: analysis.RunData, vip_name: str, seen: dict[str, Any], colours: dict[str, Any]
) -> None:
    """The seconds that matter, at the capture's resolution: each balancer's adverts for the
    VRID, the gratuitous ARPs and the requests, against the phases and VRRP theory."""
    assert run.packets is not None
    vip = run.lab.vip(vip_name)
    t0 = seen["t0"]
    end = max(seen.get("client_s") or 0.0, seen["theory_s"] + seen["tolerance_s"]) + 1.0
    start = -1.5
    names = {n.address: n.name for n in run.lab.nodes}
    balancers = [n.name for n in run.lab.balancers]
    rows = {name: i + 1 for i, name in enumerate(balancers)}
    for advert in run.packets.adverts:
        rel = advert.t - t0
        if advert.vrid != vip.vrid or not start <= rel <= end:
            continue
        node = names.get(advert.source, advert.source)
        marker, size = ("v", 60) if advert.priority == 0 else ("|", 300)
        ax.scatter([rel], [rows.get(node, 0)], marker=marker, s=size, color=colours.get(node, "black"))
    macs = {a.mac: names.get(a.source, a.source) for a in run.packets.adverts}
    for arp in run.packets.arps:
        rel = arp.t - t0
        if arp.gratuitous and arp.sender_ip == vip.address and start <= rel <= end:
            ax.scatter([rel], [rows.get(macs.get(arp.sender_mac, ""), 0) + 0.3], marker="^", s=30,
                       color="tab:purple")  # fmt: skip
    records = [r for r in run.probes if r.vip == vip.address and start <= r.t - t0 <= end]
    ax.scatter([r.t - t0 for r in records if r.ok], [0] * sum(r.ok for r in records), marker="|", s=120,
               color="tab:green", label="request answered")  # fmt: skip
    failed = [r.t - t0 for r in records if not r.ok]
    if failed:
        ax.scatter(failed, [0] * len(failed), marker="x", s=30, color="tab:red", label="request failed")
    low, high = seen["theory_s"] - seen["tolerance_s"], seen["theory_s"] + seen["tolerance_s"]
    ax.axvspan(low, high, color="gold", alpha=0.3, label=f"VRRP theory {seen['theory_s']:.3f} s ± tolerance")
    phases = [("t0: " + seen["t0_advert"], 0.0), ("detection", seen["detection_s"]), ("ARP", seen.get("arp_s")),
              ("client", seen.get("client_s"))]  # fmt: skip
    for step, (label, at) in enumerate(phases):
        if at is None:
            continue
        ax.axvline(at, color="black", linewidth=0.8, linestyle=":")
        # Staggered: the phases are often milliseconds apart.
        ax.annotate(f"{label} {at:.3f} s" if at else label, (at, len(balancers) + 0.8 - 0.38 * step),
                    fontsize=7, ha="left", backgroundcolor="white")  # fmt: skip
    ax.set_yticks([0, *rows.values()])
    ax.set_yticklabels(["client", *(f"{n} adverts" for n in rows)])
    ax.set_ylim(-0.6, len(balancers) + 1.1)
    ax.set_xlim(start, end)
    ax.set_xlabel(f"seconds after {seen['old_master']}'s {seen['t0_advert']} (packets, one clock)")
    ax.set_title(
        f"{vip_name} hand-over {seen['old_master']} -> {seen['new_master']}: detection "
        f"{seen['detection_s']:.3f} s (theory {seen['theory_s']:.3f} s), ARP {seen.get('arp_s') or 0:.3f} s, "
        f"client {seen.get('client_s') or 0:.3f} s",
        fontsize=9,
        loc="left",
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _packet_lane(
    ax: Any, run: analysis.RunData, summary: RunSummary, vip: Vip, t0: float, colours: dict[str, Any]
) -> None:
    """The VRID's adverts as ticks in their sender's colour, priority-0 adverts and gratuitous
    ARPs marked, and each hand-over's phases written beside the new master's first advert."""
    if run.packets is None:
        return
    names = {n.address: n.name for n in run.lab.nodes}
    adverts = [a for a in run.packets.adverts if a.vrid == vip.vrid]
    for source in sorted({a.source for a in adverts}):
        node = names.get(source, source)
        mine = [a.t - t0 for a in adverts if a.source == source and a.priority > 0]
        ax.scatter(
            mine, [1.75] * len(mine), marker="|", s=120, color=colours.get(node, "black"), label=f"{node} adverts"
        )
    goodbye = [a.t - t0 for a in adverts if a.priority == 0]
    if goodbye:
        ax.scatter(goodbye, [1.75] * len(goodbye), marker="v", s=40, color="black", label="priority-0 advert")
    garps = [a.t - t0 for a in run.packets.arps if a.gratuitous and a.sender_ip == vip.address]
    if garps:
        ax.scatter(garps, [1.55] * len(garps), marker="^", s=25, color="tab:purple", label="gratuitous ARP")
    for disruption in summary.get("disruptions", []):
        seen = disruption["vips"].get(vip.name, {}).get("packets") or {}
        if seen.get("detection_s") is None:
            continue
        text = f"detect {seen['detection_s']:.3f} s (theory {seen['theory_s']:.3f})"
        if seen.get("arp_s") is not None:
            text += f", ARP {seen['arp_s']:.3f}"
        if seen.get("client_s") is not None:
            text += f", client {seen['client_s']:.3f}"
        ax.annotate(
            text,
            (seen["new_master_first_advert"] - t0, 1.9),
            fontsize=7,
            ha="left",
            color="black",
            backgroundcolor="white",
        )


# --- terminal --------------------------------------------------------------------------------


def summary_table(summary: Mapping[str, Any]) -> Table:
    # Text: the scenario's own words are printed, never read as rich markup.
    table = Table(title=Text(f"{summary.get('scenario')}: measured"), show_lines=False)
    for column in (
        "VIP",
        "outage s",
        "failed",
        "moved after s",
        "new holder",
        "theory s",
        "duplicate s",
        "preemption s",
    ):
        table.add_column(column, justify="right" if column != "VIP" else "left")
    for name, vip in summary["vips"].items():
        table.add_row(
            name,
            fmt(vip.get("outage_s")),
            fmt(vip.get("failed")),
            fmt(vip.get("moved_after_s")),
            fmt(vip.get("new_holder")),
            fmt(vip.get("theory_s")),
            fmt(vip.get("duplicate_s")),
            fmt(vip.get("preemption_s")),
        )
    return table


def traffic_table(summary: Mapping[str, Any]) -> Table | None:
    """The traffic experiment per steady window: each balancer's load, what its VIPs were
    offered and what the receivers got (None when the run had no traffic)."""
    figures = summary.get("traffic")
    if not figures:
        return None
    asked = f", {mbit(figures['planned_bps'])} Mbit/s asked" if figures.get("planned_bps") else ""
    table = Table(title=f"traffic: links of {mbit(figures.get('link_bps'))} Mbit/s{asked}")
    for column in ("down", "balancer", "VIPs", "load %", "offered Mbit/s", "delivered Mbit/s", "loss %", "predicted %"):
        table.add_column(column, justify="left" if column in ("down", "balancer", "VIPs") else "right")
    windows = [("(none)", figures["baseline"])] + [(f["down"], f) for f in figures.get("failures") or []]
    for down, window in windows:
        nodes = window.get("nodes") or window.get("survivors") or {}
        for node, x in nodes.items():
            table.add_row(
                down,
                node,
                " ".join(x["vips"]),
                fmt(x.get("load_pct")),
                mbit(x.get("offered_bps")),
                mbit(x.get("delivered_bps")),
                fmt(x.get("loss_pct")),
                fmt(x.get("predicted_pct")),
            )
        table.add_row(
            down, "[b]all[/]", "", "", mbit(window.get("offered_bps")), mbit(window.get("delivered_bps")),
            fmt(window.get("loss_pct")), "", end_section=True,
        )  # fmt: skip
    return table


def expectations_table(summary: Mapping[str, Any]) -> Table:
    table = Table(title="expectations")
    for column in ("", "expectation", "value", "reason"):
        table.add_column(column)
    for item in summary["expectations"]:
        mark = "[dim]skip[/]" if item.get("skipped") else ("[green]PASS[/]" if item["passed"] else "[red]FAIL[/]")
        table.add_row(mark, Text(str(item["name"])), Text(fmt(item.get("value"))), Text(str(item["reason"])))
    return table
