"""Reading the lab gently: every INTERVAL seconds one snapshot per balancer (reals and the
client every third round), each node in its own worker so a node that does not answer never
holds up the others, and never more than one request in flight per node. The emulated VMs are
slow: this is all the dashboard asks of them."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from labctl.dashboard.model import LabReading, NodeReading
from labctl.dashboard.runs import RunReadings
from labctl.dashboard.sources import LabCheck, StateSource
from labctl.observe.snapshot import NodeSnapshot

log = logging.getLogger(__name__)

OTHERS_EVERY = 3  # rounds between readings of reals and the client (they hold no VIP)


class Poller:
    def __init__(self, source: StateSource, interval: float = 2.0, run_readings: RunReadings | None = None) -> None:
        self.source = source
        # While a scenario runs, its own polling files stand in for SSH readings.
        self.run_readings = run_readings
        self.interval = interval
        self.lab = source.lab
        # A reading older than this is no reading: the node stopped answering.
        self.stale_after = 3 * interval + 5.0
        self._results: dict[str, tuple[float, NodeSnapshot | None, str | None]] = {}
        self._inflight: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=len(self.lab.nodes), thread_name_prefix="dashboard-read")
        self._lock = threading.Lock()
        self._latest: LabReading | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dashboard-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.source.close()

    def latest(self) -> LabReading | None:
        with self._lock:
            return self._latest

    def _read(self, node: str) -> None:
        try:
            snapshot = self.source.read(node)
            outcome: tuple[float, NodeSnapshot | None, str | None] = (time.time(), snapshot, None)
        except Exception as exc:  # noqa: BLE001 - any failure to read is "this node did not answer"
            outcome = (time.time(), None, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        with self._lock:
            self._results[node] = outcome

    def _loop(self) -> None:
        round_no = 0
        while not self._stop.is_set():
            started = time.time()
            try:
                self._round(round_no)
            except Exception:  # noqa: BLE001 - the dashboard stays up whatever the lab does
                log.exception("dashboard poll failed")
            round_no += 1
            self._stop.wait(max(0.1, self.interval - (time.time() - started)))

    def _round(self, round_no: int) -> None:
        check = self.source.check()
        now = time.time()
        if not check.up:
            with self._lock:
                self._results.clear()
                self._latest = LabReading(now, False, check.why)
            return
        if self.run_readings is not None and self.run_readings.busy():
            self._borrow(now)
            self._publish(check, now)
            return
        balancers = {b.name for b in self.lab.balancers}
        for node in self.lab.nodes:
            powered = check.running is None or node.name in check.running
            due = node.name in balancers or round_no % OTHERS_EVERY == 0
            busy = node.name in self._inflight and not self._inflight[node.name].done()
            if powered and due and not busy:
                self._inflight[node.name] = self._pool.submit(self._read, node.name)
        # Wait a little for this round's answers, so a page sees them in this round's state.
        self._wait_for_answers(now)
        self._publish(check, now)

    def _borrow(self, now: float) -> None:
        """A scenario runs: no SSH at all. Balancers as the run's polling saw them; the other
        nodes keep their last reading (the run polls only balancers)."""
        assert self.run_readings is not None
        with self._lock:
            for node in self.lab.nodes:
                snapshot = self.run_readings.read(node.name, now)
                if snapshot is not None:
                    self._results[node.name] = (now, snapshot, None)
                elif node.name in self._results:
                    _, kept, error = self._results[node.name]
                    self._results[node.name] = (now, kept, error)

    def _wait_for_answers(self, now: float) -> None:
        pending = [f for f in self._inflight.values() if not f.done()]
        deadline = now + min(1.5, self.interval * 0.75)
        for future in pending:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            try:
                future.result(timeout=remaining)
            except Exception:  # noqa: BLE001 - timeouts: the answer lands in a later round
                pass

    def _publish(self, check: LabCheck, now: float) -> None:
        with self._lock:
            nodes = {}
            for node in self.lab.nodes:
                powered = check.running is None or node.name in check.running
                t, snapshot, error = self._results.get(node.name, (0.0, None, "no answer yet"))
                if not powered:
                    nodes[node.name] = NodeReading(None, "powered off", False)
                elif snapshot is not None and now - t <= self.stale_after:
                    nodes[node.name] = NodeReading(snapshot)
                elif snapshot is not None:
                    nodes[node.name] = NodeReading(None, f"no answer for {now - t:.0f} s", None)
                else:
                    nodes[node.name] = NodeReading(None, error, None)
            self._latest = LabReading(now, True, check.why, nodes)
