"""A picture of the lab from the lab file alone: the segment, the nodes, the VIPs on their
masters and the VRRP priority matrix, in type large enough for a slide.

Pure drawing: `topology_figure` returns a matplotlib Figure and touches no file; `save` is the
only I/O and picks SVG or PNG from the suffix (`image_format` refuses anything else).

The drawing is laid out in inches (the axes span the whole figure, one data unit is one inch),
so the font sizes in points and the boxes in data units stay in proportion whatever the lab's
size; the figure grows with the number of nodes and VIPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from labctl.model.lab import Lab, Node, Vip

FORMATS = {".svg": "svg", ".png": "png"}
PNG_DPI = 150


@dataclass(frozen=True)
class Style:
    face: str
    edge: str
    caption: str


STYLES = {
    "client": Style("#f5f5f5", "#616161", "client (probes)"),
    "balancer": Style("#e3f2fd", "#1565c0", "keepalived + IPVS"),
    "real": Style("#e8f5e9", "#2e7d32", "nginx, VIPs on lo (DR)"),
}
VIP_FACE, VIP_EDGE = "#fff8e1", "#f9a825"
MASTER_FACE, TIE_FACE, CELL_FACE, HEAD_FACE = "#ffd54f", "#ffe0b2", "#ffffff", "#eceff1"
SEGMENT = "#37474f"
INK = "#212121"
MUTED = "#546e7a"
TIE_INK = "#bf360c"

# Sizes in inches (data units) and points.
MARGIN = 0.6
BOX_W, BOX_H = 2.6, 1.35
SLOT = 3.1  # one node's column
GROUP_GAP = 0.9  # between the balancers and the reals
TAG_W, TAG_H, TAG_GAP = 2.6, 0.85, 0.18
BAR_H = 0.55
ROW_H, HEAD_H = 0.78, 0.8
FIRST_COL_W, COL_W = 3.4, 2.3
NAME_PT, ADDRESS_PT, CAPTION_PT = 22, 17, 12
TITLE_PT, HEADING_PT, NOTE_PT = 28, 20, 13


def image_format(path: Path) -> str:
    """'svg' or 'png' from PATH's suffix; ValueError for anything else."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        if not suffix:
            raise ValueError(f"{path.name}: no suffix; labctl draws .svg or .png")
        raise ValueError(f"{path.name}: labctl draws .svg or .png, not {suffix}")
    return FORMATS[suffix]


def priority_cells(lab: Lab, vip: Vip) -> dict[str, tuple[str, str, bool]]:
    """Per balancer: (priority text, role text, tied) for VIP's row of the matrix.

    The master is the balancer VRRP elects when all run; backups are numbered in the order
    they take over (#1 first). Equal priorities share a number and are marked as a tie: the
    backup whose master-down timer fires first wins, the address only settles a simultaneous
    claim (see `labctl validate`)."""
    master = lab.elected_master(vip)
    cells: dict[str, tuple[str, str, bool]] = {}
    for balancer in lab.balancers:
        name = balancer.name
        if name not in vip.priorities:
            cells[name] = ("-", "not in this instance", False)
            continue
        mine = vip.priorities[name]
        tied = sum(1 for p in vip.priorities.values() if p == mine) > 1
        if name == master:
            role = "MASTER"
        else:
            above = {p for n, p in vip.priorities.items() if n != master and p > mine}
            role = f"backup #{len(above) + 1}"
        cells[name] = (str(mine), f"{role} (tie)" if tied else role, tied)
    return cells


def masters(lab: Lab) -> dict[str, list[Vip]]:
    """Each balancer's VIPs when every balancer runs, in the lab file's order."""
    found: dict[str, list[Vip]] = {b.name: [] for b in lab.balancers}
    for vip in lab.vips:
        master = lab.elected_master(vip)
        if master is not None:
            found.setdefault(master, []).append(vip)
    return found


def _text(ax: Axes, x: float, y: float, text: str, size: float, **style: object) -> None:
    options: dict[str, object] = {"ha": "center", "va": "center", "color": INK, **style}
    ax.text(x, y, text, fontsize=size, parse_math=False, **options)  # type: ignore[arg-type]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _fit(text: str, size: float, width: float) -> float:
    """SIZE, or smaller so that TEXT fits WIDTH inches (a character is ~0.6 em wide)."""
    needed = len(text) * 0.6 * size / 72
    return size if needed <= width else max(8.0, size * width / needed)


def _box(ax: Axes, cx: float, cy: float, w: float, h: float, face: str, edge: str, width: float = 2.5) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (cx - w / 2, cy - h / 2),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.14",
            facecolor=face,
            edgecolor=edge,
            linewidth=width,
            zorder=2,
        )
    )


def _node(ax: Axes, node: Node, cx: float, cy: float) -> None:
    style = STYLES.get(node.role, STYLES["client"])
    _box(ax, cx, cy, BOX_W, BOX_H, style.face, style.edge)
    inner = BOX_W - 0.25
    _text(ax, cx, cy + 0.36, node.name, _fit(node.name, NAME_PT, inner), weight="bold", zorder=3)
    _text(ax, cx, cy - 0.06, node.address, _fit(node.address, ADDRESS_PT, inner), family="monospace", zorder=3)
    _text(ax, cx, cy - 0.43, style.caption, _fit(style.caption, CAPTION_PT, inner), color=MUTED, zorder=3)


def _vip_tag(ax: Axes, vip: Vip, cx: float, cy: float) -> None:
    _box(ax, cx, cy, TAG_W, TAG_H, VIP_FACE, VIP_EDGE, width=2.0)
    head = f"{vip.name} · VRID {vip.vrid}"
    _text(ax, cx, cy + 0.18, head, _fit(head, ADDRESS_PT, TAG_W - 0.2), weight="bold", zorder=3)
    _text(ax, cx, cy - 0.19, vip.address, _fit(vip.address, ADDRESS_PT, TAG_W - 0.2), family="monospace", zorder=3)


def _link(ax: Axes, x: float, y_from: float, y_to: float, colour: str = SEGMENT, dashed: bool = False) -> None:
    ax.plot([x, x], [y_from, y_to], color=colour, linewidth=3, linestyle=(0, (3, 2)) if dashed else "-", zorder=1)


def _matrix(ax: Axes, lab: Lab, left: float, top: float) -> float:
    """The priority matrix with its heading and legend from TOP down; returns its bottom."""
    balancers = [b.name for b in lab.balancers]
    _text(ax, left, top - 0.3, "VRRP priorities", HEADING_PT, ha="left", weight="bold")
    _text(
        ax,
        left + 3.1,
        top - 0.3,
        "rows: VIPs, columns: balancers; the master holds the VIP while every balancer runs",
        NOTE_PT,
        ha="left",
        color=MUTED,
    )
    y = top - 0.75
    widths = [FIRST_COL_W] + [COL_W] * len(balancers)
    xs = [left + sum(widths[:i]) for i in range(len(widths))]
    heads = [("VIP", "")] + [(b, lab.node(b).address) for b in balancers]
    for x, w, (head, address) in zip(xs, widths, heads):
        ax.add_patch(Rectangle((x, y - HEAD_H), w, HEAD_H, facecolor=HEAD_FACE, edgecolor=MUTED, linewidth=1.2))
        _text(ax, x + w / 2, y - (0.27 if address else HEAD_H / 2), head, _fit(head, 16, w - 0.15), weight="bold")
        if address:
            _text(ax, x + w / 2, y - 0.58, address, _fit(address, 13, w - 0.15), family="monospace", color=MUTED)
    y -= HEAD_H
    for vip in lab.vips:
        ax.add_patch(Rectangle((xs[0], y - ROW_H), widths[0], ROW_H, facecolor=CELL_FACE, edgecolor=MUTED))
        label = f"{vip.name} {vip.address}"
        _text(ax, xs[0] + 0.15, y - ROW_H / 2, label, _fit(label, 16, widths[0] - 0.3), ha="left", weight="bold")
        cells = priority_cells(lab, vip)
        for x, name in zip(xs[1:], balancers):
            priority, role, tied = cells[name]
            master = role.startswith("MASTER")
            face = MASTER_FACE if master else (TIE_FACE if tied else CELL_FACE)
            ax.add_patch(Rectangle((x, y - ROW_H), COL_W, ROW_H, facecolor=face, edgecolor=MUTED, linewidth=1.0))
            if master:  # a thick frame on top of the grid lines
                ax.add_patch(
                    Rectangle((x, y - ROW_H), COL_W, ROW_H, fill=False, edgecolor="#e65100", linewidth=3.5, zorder=3)
                )
            _text(ax, x + COL_W / 2, y - 0.27, priority, 19, weight="bold", zorder=4)
            _text(
                ax,
                x + COL_W / 2,
                y - 0.57,
                role,
                _fit(role, CAPTION_PT + 1, COL_W - 0.2),
                weight="bold" if master or tied else "normal",
                color=INK if master else (TIE_INK if tied else MUTED),
                zorder=4,
            )
        y -= ROW_H
    legend = ["MASTER (framed): holds the VIP.   backup #n: who takes it over, in order, when the master fails."]
    if any(tied for vip in lab.vips for _, _, tied in priority_cells(lab, vip).values()):
        legend.append(
            "tie (orange): equal priorities; the backup whose master-down timer fires first wins, not the address."
        )
    for line in legend:
        y -= 0.4
        _text(ax, left, y, line, NOTE_PT, ha="left", color=MUTED)
    return y - 0.4


def topology_figure(lab: Lab) -> Figure:
    """The lab as one figure: title, clients, the L2 segment, balancers with the VIPs they
    master, reals, and the priority matrix underneath."""
    balancers, reals, clients = lab.balancers, lab.reals, lab.clients
    below = balancers + reals
    matrix_w = FIRST_COL_W + COL_W * len(balancers)
    width = max(
        16.0,
        2 * MARGIN + SLOT * len(below) + (GROUP_GAP if balancers and reals else 0),
        2 * MARGIN + SLOT * len(clients),
        2 * MARGIN + matrix_w,
    )
    fig = Figure(figsize=(width, 10.0))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()

    y = -0.55
    title = (
        f"{lab.name}: {_count(len(balancers), 'balancer')}, {_count(len(reals), 'real')}, "
        f"{_count(len(clients), 'client')}, {_count(len(lab.vips), 'VIP')}"
    )
    _text(ax, MARGIN, y, title, _fit(title, TITLE_PT, width - 2 * MARGIN), ha="left", weight="bold")
    subtitle = (
        f"VRRP advert_int {lab.vrrp.advert_int} s · IPVS {lab.ipvs.scheduler}, direct routing, port {lab.ipvs.port}"
    )
    _text(ax, MARGIN, y - 0.5, subtitle, NOTE_PT + 2, ha="left", color=MUTED)

    client_y = y - 2.0
    bar_y = client_y - BOX_H / 2 - 1.0
    node_y = bar_y - BAR_H / 2 - 1.15 - BOX_H / 2
    for i, client in enumerate(clients):
        cx = width / 2 + (i - (len(clients) - 1) / 2) * SLOT
        _link(ax, cx, client_y, bar_y)
        _node(ax, client, cx, client_y)

    ax.add_patch(
        FancyBboxPatch(
            (MARGIN, bar_y - BAR_H / 2),
            width - 2 * MARGIN,
            BAR_H,
            boxstyle="round,pad=0,rounding_size=0.12",
            facecolor=SEGMENT,
            edgecolor=SEGMENT,
            zorder=2,
        )
    )
    segment = f"L2 segment {lab.network.cidr} ({lab.network.interface})"
    _text(ax, MARGIN + 0.3, bar_y, segment, 18, ha="left", color="white", weight="bold", zorder=3)

    mastered = masters(lab)
    lowest = node_y - BOX_H / 2
    used = SLOT * len(below) + (GROUP_GAP if balancers and reals else 0)
    x = (width - used) / 2 + SLOT / 2
    for index, node in enumerate(below):
        if index == len(balancers) and balancers:
            x += GROUP_GAP
        _link(ax, x, bar_y, node_y)
        _node(ax, node, x, node_y)
        tags = mastered.get(node.name, []) if node.role == "balancer" else []
        tag_y = node_y - BOX_H / 2 - 0.35 - TAG_H / 2
        if tags:
            _link(ax, x, node_y - BOX_H / 2, tag_y - (len(tags) - 1) * (TAG_H + TAG_GAP), VIP_EDGE, dashed=True)
        for vip in tags:
            _vip_tag(ax, vip, x, tag_y)
            lowest = min(lowest, tag_y - TAG_H / 2)
            tag_y -= TAG_H + TAG_GAP
        x += SLOT
    bottom = _matrix(ax, lab, (width - matrix_w) / 2, lowest - 0.6)
    height = -bottom + 0.2
    fig.set_size_inches(width, height)
    ax.set_xlim(0, width)
    ax.set_ylim(-height, 0)
    return fig


def save(fig: Figure, path: Path) -> None:
    """Write FIG to PATH as SVG (text kept as text: searchable, selectable) or PNG."""
    kind = image_format(path)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "labctl"}):
        # No date in the file: the same lab file gives the same picture, byte for byte.
        metadata: dict[str, str | None] = {"Date": None} if kind == "svg" else {}
        fig.savefig(path, format=kind, dpi=PNG_DPI if kind == "png" else 72, facecolor="white", metadata=metadata)
