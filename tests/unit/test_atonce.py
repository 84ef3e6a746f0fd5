"""Per-node steps run on every node at once, and every node is tried."""

from __future__ import annotations

import threading

import pytest

from labctl.scenario.atonce import for_each_node


def test_every_node_runs_at_the_same_time():
    # Each call waits for all the others: run one after the other, the barrier would break.
    nodes = ["b1", "b2", "b3"]
    barrier = threading.Barrier(len(nodes), timeout=5)
    seen: list[str] = []
    for_each_node(nodes, lambda node: (barrier.wait(), seen.append(node)))
    assert sorted(seen) == nodes


def test_a_failure_is_raised_after_every_node_was_tried():
    seen: list[str] = []

    def act(node: str) -> None:
        seen.append(node)
        if node in ("b2", "b3"):
            raise RuntimeError(f"{node} broke")

    with pytest.raises(RuntimeError, match="b2 broke"):  # the first in the nodes' order
        for_each_node(["b1", "b2", "b3", "r1"], act)
    assert sorted(seen) == ["b1", "b2", "b3", "r1"]


def test_one_node_runs_in_the_callers_thread():
    threads: list[threading.Thread] = []
    for_each_node(["b1"], lambda node: threads.append(threading.current_thread()))
    assert threads == [threading.current_thread()]
    for_each_node([], lambda node: threads.append(threading.current_thread()))
    assert len(threads) == 1


def test_ctrl_c_waits_for_the_actions_under_way_then_goes_on():
    # Cleanup must find every node's action done (and recorded), not running beside it.
    import _thread
    import time

    seen: list[str] = []
    # Ordered by events, not by sleeps: Ctrl-C arrives once both actions have started, and they
    # finish only after it was sent, so it always lands while for_each_node waits for them (a
    # timer raced a busy host's threads).
    started = threading.Barrier(3, timeout=10)
    sent = threading.Event()

    def act(node: str) -> None:
        started.wait()
        sent.wait(10)
        time.sleep(0.2)  # still running while the main thread handles the interrupt
        seen.append(node)

    def interrupt() -> None:
        started.wait()
        _thread.interrupt_main()
        sent.set()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        for_each_node(["b1", "b2"], act)
    assert sorted(seen) == ["b1", "b2"]


def test_a_second_ctrl_c_stops_waiting():
    """The first Ctrl-C waits for the actions under way; a second one raises at once, with an
    action still running (its thread is a daemon)."""
    import _thread
    import time

    release = threading.Event()
    started = threading.Barrier(3, timeout=10)

    def act(node: str) -> None:
        started.wait()
        release.wait(30)  # only ends when the test lets it

    def interrupt_twice() -> None:
        started.wait()
        _thread.interrupt_main()
        time.sleep(0.3)  # the first is noted and the main thread waits on
        _thread.interrupt_main()

    threading.Thread(target=interrupt_twice, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for_each_node(["b1", "b2"], act)
    finally:
        release.set()


def test_deferred_interrupts_restore_the_handlers():
    import signal

    from labctl.lab.host import signals

    before = signal.getsignal(signal.SIGINT)
    with signals.deferred() as caught:
        assert signal.getsignal(signal.SIGINT) is not before
        assert caught == []
    assert signal.getsignal(signal.SIGINT) is before
    assert signals.interrupt_for([]) is None
    assert isinstance(signals.interrupt_for([signal.SIGTERM]), KeyboardInterrupt)
