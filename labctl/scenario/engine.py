"""Runs a validated scenario against a LabAccess and writes its results folder.

Steps run in order; probes and captures stream in the background into raw files. Whatever
happens (a failed step, an exception, Ctrl-C) cleanup stops the probes, puts back every node the
run changed, stops the captures and writes what was gathered; the report is then built from the
raw files alone (the same code `labctl report` runs).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from labctl.lab.host import safefiles
from labctl.lab.links.packet_capture import NodeCapture, PacketCapture
from labctl.lab.runtime import Capability, LabAccess
from labctl.model.labrecord import lab_to_dict
from labctl.model.targets import Target, TargetError, parse_target, resolve
from labctl.observe import runrecords
from labctl.observe.packets import decode_pcap
from labctl.observe.probes import parse_probe_line
from labctl.observe.snapshot import parse_snapshots
from labctl.scenario import actions, atonce, runfiles
from labctl.scenario import polling as capture_mod
from labctl.scenario import traffic as traffic_mod
from labctl.scenario.clock import ClockOffset, measure_offset
from labctl.scenario.model import Scenario, Step
from labctl.scenario.narration import Narration, Narrator
from labctl.scenario.packet_moments import key_moments
from labctl.scenario.runstate import LiveState, StepFailed
from labctl.scenario.steps import all_kinds
from labctl.scenario.streams import RecordedStream

log = logging.getLogger(__name__)


class StopRequested(KeyboardInterrupt):
    """Ctrl-C seen by the thread showing the live view, delivered at the next step or wait."""


class HostLoad:
    """The host's own load during a run (1-minute load average every 2 s), read from /proc:
    a figure for the report's fidelity verdict, at no cost to the lab."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        try:
            self.samples.append(os.getloadavg()[0])
        except OSError:
            pass

    def start(self) -> None:
        self._read()

        def loop() -> None:
            while not self._done.wait(self.every):
                self._read()

        self._thread = threading.Thread(target=loop, name="host-load", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        self._read()
        return {
            "cores": os.cpu_count(),
            "load1_start": self.samples[0] if self.samples else None,
            "load1_max": max(self.samples) if self.samples else None,
            "load1_end": self.samples[-1] if self.samples else None,
        }


class Engine:
    def __init__(
        self,
        access: LabAccess,
        scenario: Scenario,
        out_dir: Path,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        narrator: Narrator | None = None,
    ) -> None:
        self.access = access
        self.lab = access.lab
        self.scenario = scenario
        self.out = out_dir
        self.on_event = on_event
        self.narrator = narrator
        self.last_event: dict[str, Any] | None = None
        self.live = LiveState()
        self.refs: dict[str, str] = {}
        self.restorer = actions.Restorer()
        self.probes: dict[str, RecordedStream] = {}
        self.traffic: dict[str, traffic_mod.TrafficRun] = {}  # iperf3 load: stopped and fetched at cleanup
        self.captures: dict[str, RecordedStream] = {}
        self.capture_specs: dict[str, capture_mod.CaptureSpec] = {}
        self.clocks: dict[str, dict[str, Any]] = {}  # raw file name -> offset record
        self.interrupted = False
        self.error: str | None = None
        self._stop = threading.Event()
        self._records = threading.RLock()  # events.jsonl and clock.json, written from node threads
        self.packet_capture: PacketCapture | NodeCapture | None = None
        self.capture_info: dict[str, Any] | None = None
        self.host = HostLoad()
        self._narration = Narration(self) if narrator is not None else None

    def request_stop(self) -> None:
        self._stop.set()

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(max(seconds, 0.0)):
            raise StopRequested()

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        safefiles.write_file(self.out / "scenario.yaml", self.scenario.source, 0o644)  # no link followed
        runfiles.write_json(self.out / runrecords.RUN_JSON, self._run_info(time.time()))
        self.event("start", scenario=self.scenario.name, params=self.scenario.values)
        self.host.start()
        self._start_packet_capture()
        try:
            self.steps(self.scenario.steps)
        except KeyboardInterrupt:
            self.interrupted = True
            self.error = "interrupted (Ctrl-C)"
            self.event("error", message=self.error)
        except Exception as exc:  # noqa: BLE001 - the run stops; cleanup and the report still happen
            self.error = f"{type(exc).__name__}: {exc}"
            self.event("error", message=self.error)
        finally:
            self.cleanup()
        info = self._run_info(None)
        info["finished"] = time.time()
        info["error"] = self.error
        info["interrupted"] = self.interrupted
        info["capture"] = self.capture_info
        info["host"] = self.host.stop()
        runfiles.write_json(self.out / runrecords.RUN_JSON, info)

    def _start_packet_capture(self) -> None:
        """Record the lab segment for the whole run, from the host side when the lab allows it.
        A capture that cannot start is noted, never fatal: the report says what is missing."""
        try:
            point = self.access.capture_point() if Capability.CAPTURE in self.access.capabilities else None
        except Exception as exc:  # noqa: BLE001 - the run goes on without packets
            self.capture_info = {"ok": False, "error": f"no capture point: {exc}"}
            self.event("packet_capture", **self.capture_info)
            return
        capture: PacketCapture | NodeCapture
        if point is not None:
            capture = PacketCapture(point, self.out / runrecords.PCAP, self.lab.ipvs.port)
        elif self.lab.clients:
            # No host side to listen on: the client hears VRRP, ARP and its own requests.
            client = self.lab.clients[0].name
            capture = NodeCapture(
                self.access,
                client,
                self.lab.network.interface,
                self.out / runrecords.PCAP,
                self.lab.ipvs.port,
                lambda: self.clock(client, runrecords.PCAP).offset,
            )
        else:
            self.capture_info = {
                "ok": False,
                "error": "no capture point: the lab is not sandboxed and has no client to capture in",
            }
            self.event("packet_capture", **self.capture_info)
            return
        if capture.start():
            self.packet_capture = capture
            self.event("packet_capture", ok=True, where=type(capture).__name__)
        else:
            self.capture_info = capture.stop()
            self.event("packet_capture", **self.capture_info)

    def _stop_packet_capture(self) -> None:
        if self.packet_capture is not None:
            # Let the last frames of the run (the final adverts) reach the file.
            time.sleep(0.2)
            self.capture_info = self.packet_capture.stop()
            self.packet_capture = None
            self.event(
                "packet_capture_stop",
                frames=self.capture_info.get("frames"),
                dropped=self.capture_info.get("dropped"),
                error=self.capture_info.get("error"),
            )
            if self.capture_info.get("ok"):
                self._record_packet_moments()

    def _record_packet_moments(self) -> None:
        """The protocol's turning points, at the capture's resolution, into events.jsonl."""
        decoded = decode_pcap(
            self.out / runrecords.PCAP, self.lab.ipvs.port, (self.capture_info or {}).get("clock_offset") or 0.0
        )
        for moment in key_moments(decoded, self.lab):
            runfiles.append_event(self.out / runrecords.EVENTS, {"kind": "packet", **moment})

    def _run_info(self, started: float | None) -> dict[str, Any]:
        previous = {}
        path = self.out / runrecords.RUN_JSON
        if path.exists():
            import json

            previous = json.loads(path.read_text())
        return {
            "scenario": self.scenario.name,
            "description": self.scenario.description,
            "explanation": self.scenario.explanation,
            "file": self.scenario.file,
            "params": self.scenario.values,
            "started": previous.get("started", started),
            "lab": lab_to_dict(self.lab),
            "expectations": [{"name": s.value, "where": s.where, **s.options} for s in self.scenario.expectations()],
        }

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self._records:
            record = {"t": time.time(), "kind": kind, **fields}
            log.info("%s %s: %s", self.scenario.name, kind, fields)
            runfiles.append_event(self.out / runrecords.EVENTS, record)
            self.last_event = record
            if self.on_event is not None:
                self.on_event(record)
            return record

    def for_each_node(self, nodes: list[str], fn: Callable[[str], Any]) -> None:
        """FN(node) for every node at once (see atonce.for_each_node)."""
        atonce.for_each_node(nodes, fn)

    def steps(self, steps: list[Step]) -> None:
        for step in steps:
            if self._stop.is_set():
                raise StopRequested()
            self.live.step = f"{step.where}: {step.describe()}"
            self.event("step", where=step.where, step=step.describe())
            kind = all_kinds()[step.kind]
            self._narrate_before(step)
            try:
                kind.run(self, step)
            except (StepFailed, TargetError, actions.ActionFailed) as exc:
                raise StepFailed(f"{step.where}: {step.kind}: {exc}") from exc
            self._narrate_after(step)

    def _narrate_before(self, step: Step) -> None:
        if self.narrator is None or self._narration is None or step.kind != "action":
            return
        text = self._narration.before(step)
        # Into events.jsonl before waiting: the dashboard shows it while the class reads it.
        self.event("narration", phase="before", text=text)
        self.narrator.before(text)

    def _narrate_after(self, step: Step) -> None:
        if self.narrator is None or self._narration is None:
            return
        said = self._narration.after(step, self.last_event)
        if said:
            self.event("narration", phase="after", text=said)
            self.narrator.after(said)

    # -- what step kinds use (labctl/scenario/steps/) ---------------------------------------

    def nodes(self, value: Any, default_role: str) -> list[str]:
        target = parse_target(value) if value not in (None, "all") else Target("role", default_role)
        return resolve(target, self.lab, self.refs, self._current_holder)

    def _current_holder(self, vip_address: str) -> str | None:
        holders = self.live.holders(vip_address)
        return holders[0] if len(holders) == 1 else None

    def clock(self, node: str, raw_name: str) -> ClockOffset:
        offset = measure_offset(self.access, node)
        with self._records:
            self.clocks[raw_name] = {"node": node, **offset.to_dict()}
            runfiles.write_json(self.out / runrecords.CLOCK_JSON, self.clocks)
        return offset

    def probe_line(self, line: str, offset: float) -> None:
        record = parse_probe_line(line, offset)
        if record is None:
            return
        with self.live.lock:
            self.live.last_probe[record.vip] = record
            counts = self.live.probe_counts.setdefault(record.vip, [0, 0])
            counts[0 if record.ok else 1] += 1

    def start_capture(self, node: str) -> None:
        spec = self.capture_specs[node]
        with self._records:
            part = sum(1 for name in self.clocks if name.startswith(f"capture-{node}."))
        raw = f"capture-{node}.{part + 1}.txt"
        offset = self.clock(node, raw)
        buffer: list[str] = []

        def on_line(line: str) -> None:
            buffer.append(line)
            if line == "@@end":
                for sample in parse_snapshots(buffer, node, offset.offset):
                    with self.live.lock:
                        self.live.latest[node] = sample
                buffer.clear()

        stream = capture_mod.start_capture(self.access, node, spec, self.out / raw, on_line)
        self.live.intervals[node] = spec.interval
        self.captures[node] = stream
        self.event("capture_start", node=node, raw=raw, interval=spec.interval)

    def stop_capture(self, node: str) -> None:
        stream = self.captures.pop(node, None)
        if stream is not None:
            stream.stop()
            self.event("capture_stop", node=node)

    def act(self, node: str, action: str, options: dict[str, Any] | None = None, **extra: Any) -> None:
        if action == "power-off":
            self.stop_capture(node)  # the node is going away; its stream would hang
        before = {v.name: self.live.holders(v.address) for v in self.lab.vips}
        started = time.time()
        try:
            details = actions.perform(self.access, node, action, self.restorer, options)
        finally:
            self.event(
                "action",
                action=action,
                node=node,
                phase=runrecords.PHASE.get(action),
                t_start=started,
                t_end=time.time(),
                holders_before=before,
                **extra,
            )
        if details:
            self.event("action_details", action=action, node=node, **details)
        if action == "power-on" and node in self.capture_specs:
            self.start_capture(node)

    def stop_traffic(self, name: str) -> None:
        """End traffic stream NAME (clients, then servers) and save every node's logs."""
        load = self.traffic[name]
        if load.finished:
            return
        result = load.stop()
        self.event("traffic_stop", name=name, fetched=result["fetched"], errors=result["errors"])

    # -- cleanup ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        self.live.step = "cleanup"
        for stream in list(self.probes.values()):
            self._quietly(stream.stop)
        for name, load in list(self.traffic.items()):
            if not load.finished:
                self._quietly(partial(self.stop_traffic, name))
        # Powered-off nodes first, all booting at once; then each node's other undos, in order
        # per node and every node at the same time.
        undos = self.restorer.undo_list()
        powered = [node for node, undo in undos if undo == "power-on"]
        self._quietly(partial(self.for_each_node, powered, lambda node: self._undo(node, "power-on")))
        rest: dict[str, list[str]] = {}
        for node, undo in undos:
            if undo != "power-on":
                rest.setdefault(node, []).append(undo)
        self._quietly(partial(self.for_each_node, list(rest), lambda node: self._undo_all(node, rest[node])))
        for node, original in self.restorer.timeouts.items():
            self.event("cleanup", node=node, action="ipvs-timeouts", restore=original.to_dict())
            self._quietly(partial(actions.set_timeouts, self.access, node, original))
        for node in list(self.captures):
            self._quietly(partial(self.stop_capture, node))
        self._quietly(self._stop_packet_capture)
        self.event("end", error=self.error)

    def _undo_all(self, node: str, undos: list[str]) -> None:
        for undo in undos:
            self._undo(node, undo)

    def _undo(self, node: str, undo: str) -> None:
        self.event("cleanup", node=node, action=undo)
        self._quietly(partial(self.act, node, undo, restored=True))

    def _quietly(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - one failed undo must not stop the others
            self.event("cleanup_error", message=f"{type(exc).__name__}: {exc}")
            if isinstance(exc, KeyboardInterrupt):
                self.interrupted = True
