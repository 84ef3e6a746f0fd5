"""What a step kind and the narration see of a running scenario: the run's live state, the error
that ends a run, and the engine as a protocol (RunContext), so labctl.scenario.steps and
labctl.scenario.narration need not import labctl.scenario.engine, which runs them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labctl.errors import LabctlError
from labctl.lab.runtime import LabAccess
from labctl.model.lab import Lab
from labctl.observe.probes import ProbeRecord
from labctl.observe.snapshot import NodeSnapshot
from labctl.scenario.actions import Restorer
from labctl.scenario.clock import ClockOffset
from labctl.scenario.model import Step
from labctl.scenario.polling import CaptureSpec
from labctl.scenario.streams import RecordedStream
from labctl.scenario.traffic import TrafficRun


class StepFailed(LabctlError, RuntimeError):
    """A step that ended the run: a failed wait_until, a probe that would not start..."""


@dataclass
class LiveState:
    """What the live view and `wait_until` look at: the freshest facts from the streams."""

    latest: dict[str, NodeSnapshot] = field(default_factory=dict)
    intervals: dict[str, float] = field(default_factory=dict)
    last_probe: dict[str, ProbeRecord] = field(default_factory=dict)
    probe_counts: dict[str, list[int]] = field(default_factory=dict)  # vip -> [ok, failed]
    step: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def holders(self, vip_address: str, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        with self.lock:
            return sorted(
                node
                for node, sample in self.latest.items()
                if self._fresh(node, sample, now) and vip_address in {a.address for a in sample.addresses}
            )

    def fresh_samples(self, now: float | None = None) -> dict[str, NodeSnapshot]:
        now = time.time() if now is None else now
        with self.lock:
            return {n: s for n, s in self.latest.items() if self._fresh(n, s, now)}

    def _fresh(self, node: str, sample: NodeSnapshot, now: float) -> bool:
        return now - sample.t < max(3 * self.intervals.get(node, 0.2), 1.0) + 0.5


class RunContext(Protocol):
    """The engine running a scenario (labctl.scenario.engine.Engine), as its steps use it."""

    access: LabAccess
    lab: Lab
    out: Path  # the run folder
    live: LiveState
    refs: dict[str, str]  # names set by foreach and targets
    restorer: Restorer
    probes: dict[str, RecordedStream]
    traffic: dict[str, TrafficRun]
    captures: dict[str, RecordedStream]
    capture_specs: dict[str, CaptureSpec]
    clocks: dict[str, dict[str, Any]]  # raw file name -> offset record

    def sleep(self, seconds: float) -> None: ...

    def event(self, kind: str, **fields: Any) -> dict[str, Any]: ...

    def for_each_node(self, nodes: list[str], fn: Callable[[str], Any]) -> None: ...

    def steps(self, steps: list[Step]) -> None: ...

    def nodes(self, value: Any, default_role: str) -> list[str]: ...

    def clock(self, node: str, raw_name: str) -> ClockOffset: ...

    def probe_line(self, line: str, offset: float) -> None: ...

    def start_capture(self, node: str) -> None: ...

    def stop_capture(self, node: str) -> None: ...

    def act(self, node: str, action: str, options: dict[str, Any] | None = None, **extra: Any) -> None: ...

    def stop_traffic(self, name: str) -> None: ...
