"""The terminal's live view while a scenario runs: current step, VIP holders, probe counts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from labctl.scenario.engine import Engine


def live_table(engine: Engine) -> Table:
    live = engine.live
    table = Table(title=f"{engine.scenario.name}: {live.step}", title_justify="left")
    for column in ("VIP", "holder(s)", "last request", "ok", "failed"):
        table.add_column(column)
    now = time.time()
    for vip in engine.lab.vips:
        holders = live.holders(vip.address, now)
        held = ", ".join(holders) if holders else "[red]nobody[/]"
        if len(holders) > 1:
            held = f"[bold red]{held}[/]"
        last = live.last_probe.get(vip.address)
        if last is None:
            shown = "-"
        elif last.ok:
            shown = f"[green]{last.status}[/] {last.real or ''} {last.ms:.0f} ms"
        else:
            shown = f"[red]{last.error or last.status}[/]"
        ok, failed = live.probe_counts.get(vip.address, [0, 0])
        table.add_row(f"{vip.name} {vip.address}", held, shown, str(ok), str(failed))
    return table
