"""The terminal's live view while a scenario runs: current step, VIP holders, probe counts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from labctl.cli.console import plain

if TYPE_CHECKING:
    from labctl.scenario.engine import Engine


def live_table(engine: Engine) -> Table:
    live = engine.live
    table = Table(title=plain(f"{engine.scenario.name}: {live.step}"), title_justify="left")
    for column in ("VIP", "holder(s)", "last request", "ok", "failed"):
        table.add_column(column)
    now = time.time()
    for vip in engine.lab.vips:
        holders = live.holders(vip.address, now)
        style = "" if len(holders) == 1 else "bold red" if holders else "red"  # nobody, or a duplicate holder
        held = plain(", ".join(holders) or "nobody", style)
        last = live.last_probe.get(vip.address)
        if last is None:
            shown = plain("-")
        elif last.ok:
            shown = Text.assemble((str(last.status), "green"), f" {last.real or ''} {last.ms:.0f} ms")
        else:
            shown = plain(last.error or last.status, "red")
        ok, failed = live.probe_counts.get(vip.address, [0, 0])
        table.add_row(plain(f"{vip.name} {vip.address}"), held, shown, str(ok), str(failed))
    return table
