"""`vagrant halt`, the clean shutdown every provider can fall back on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab


def vagrant_halt(run: RunningLab, nodes: list[str] | None) -> None:
    """`vagrant halt` of NODES, one after the other, or of every machine."""
    if nodes is None:
        run.vagrant.halt()
    for node in nodes or []:
        run.vagrant.halt(node)
