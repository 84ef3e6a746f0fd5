"""One step on several nodes at once: each per-node action or capture costs an SSH round trip
or two, seconds under emulation, and the nodes do not wait on one another."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from labctl.lab.host import signals


def for_each_node(nodes: list[str], fn: Callable[[str], Any]) -> None:
    """FN(node) for every node at once, one thread each (one node: in this thread). Every node
    is tried; then the first failure, in NODES' order, is raised. Ctrl-C (or SIGTERM) waits for
    the nodes' actions under way to end, each under its own timeout, so that cleanup finds
    them done and recorded, then goes on; a second one stops waiting (the threads are daemons)."""
    if len(nodes) <= 1:
        for node in nodes:
            fn(node)
        return
    errors: dict[str, BaseException] = {}

    def one(node: str) -> None:
        try:
            fn(node)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[node] = exc

    threads = [threading.Thread(target=one, args=(n,), name=f"node-{n}", daemon=True) for n in nodes]
    # A first Ctrl-C is noted, not raised where the main thread happens to be: raised between a
    # thread's start and its bookkeeping, or inside Thread.join (which on Python 3.11 then marks
    # a running thread stopped), it let cleanup start beside actions still under way.
    with signals.deferred() as caught:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins: an interrupt that is no real signal still gets in
    interrupted = signals.interrupt_for(caught)
    if interrupted is not None:
        raise interrupted
    for node in nodes:
        if node in errors:
            raise errors[node]
