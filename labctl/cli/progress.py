"""A live per-node board for long steps: each node's phase and how long it has been at it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.table import Table

from labctl.cli.console import plain


class NodeBoard:
    def __init__(self, title: str, nodes: list[str], console: Console) -> None:
        self.title = title
        self.console = console
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._phase = {n: ("waiting", self._started) for n in nodes}
        self._live: Live | None = None

    def set(self, node: str, phase: str) -> None:
        with self._lock:
            if node not in self._phase:
                return
            self._phase[node] = (phase, self._phase[node][1])
        if self._live is None and self.console.is_terminal is False:
            # No live display (a log or a pipe): one line per change keeps a readable record.
            self.console.print(f"  {node}: {phase}", markup=False)
        elif self._live is not None:
            self._live.update(self._table())

    def _table(self) -> Table:
        now = time.monotonic()
        table = Table(title=plain(f"{self.title} ({now - self._started:.0f} s)"), header_style="bold")
        table.add_column("node")
        table.add_column("phase")
        with self._lock:
            for node, (phase, _since) in self._phase.items():
                table.add_row(plain(node), plain(phase))
        return table

    @contextmanager
    def shown(self) -> Iterator[NodeBoard]:
        if not self.console.is_terminal:
            self.console.print(f"{self.title}:", markup=False)
            yield self
            return
        with Live(self._table(), console=self.console, refresh_per_second=4, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                live.update(self._table())
                self._live = None


class RichUpProgress:
    """`labctl.lab.bringup.UpProgress` on a rich console: news as lines, phases as a live board."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def board(self, title: str, nodes: list[str]) -> NodeBoard:
        return NodeBoard(title, nodes, self.console)
