"""`probe NAME`: HTTP requests to VIPs from the client side, streamed into probe-NAME.jsonl;
`stop_probe NAME|all`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from labctl.model.lab import Lab
from labctl.observe import runrecords
from labctl.scenario import probe as probe_mod
from labctl.scenario import runfiles
from labctl.scenario.checks import Checker, Path, anything, boolean, known_vips, number, target, text, vip_list
from labctl.scenario.model import Step
from labctl.scenario.runstate import StepFailed
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    options = step.options
    if "on" in options:
        target(check, options["on"], (*path, "on"), lab, refs)
    vips = options.get("vips", "all")
    known_vips(check, vips, path, lab)


def run(engine: RunContext, step: Step) -> None:
    name = str(step.value)
    node = engine.nodes(step.options.get("on"), "client")[0]
    vips = step.options.get("vips", "all")
    chosen = engine.lab.vips if vips == "all" else [engine.lab.vip(v) for v in vips]
    spec = probe_mod.ProbeSpec(
        vips=tuple(v.address for v in chosen),
        rate=float(step.options.get("rate", 20)),
        timeout=float(step.options.get("timeout", 0.5)),
        count=int(step.options.get("count", 0)),
        duration=float(step.options.get("duration", 0)),
        sequential=bool(step.options.get("sequential", False)),
        port=engine.lab.ipvs.port,
    )
    raw = f"probe-{name}.jsonl"
    if name in engine.probes and not engine.probes[name].finished:
        raise StepFailed(f"probe {name} is already running")
    stream = None
    if step.options.get("on") is None:
        # Where the lab is sandboxed the probe runs on the host side of the lab network:
        # the emulated client pays nothing and the records carry the host's clock.
        stream = probe_mod.start_host_probe(
            engine.access, spec, engine.out / raw, name, lambda line: engine.probe_line(line, 0.0)
        )
        if stream is not None:
            node = "host"
            engine.clocks[raw] = {"node": "host", "offset": 0.0, "rtt": 0.0}
            runfiles.write_json(engine.out / runrecords.CLOCK_JSON, engine.clocks)
    if stream is None:
        offset = engine.clock(node, raw)
        stream = probe_mod.start_probe(
            engine.access, node, spec, engine.out / raw, name, lambda line: engine.probe_line(line, offset.offset)
        )
    engine.probes[name] = stream
    engine.event(
        "probe_start",
        name=name,
        node=node,
        vips=list(spec.vips),
        rate=spec.rate,
        timeout=spec.timeout,
        count=spec.count,
        sequential=spec.sequential,
    )
    if step.options.get("foreground"):
        limit = spec.count * (spec.timeout + 0.5) * len(spec.vips) + 30 if spec.count else None
        deadline = time.time() + limit if limit else None
        while not stream.wait(0.2):
            engine.sleep(0)
            if deadline is not None and time.time() > deadline:
                raise StepFailed(f"probe {name} did not finish within {limit:.0f} s")
        engine.event("probe_end", name=name)


def run_stop(engine: RunContext, step: Step) -> None:
    names = list(engine.probes) if step.value == "all" else [str(step.value)]
    for name in names:
        if name in engine.probes:
            engine.probes[name].stop()
            engine.event("probe_stop", name=name)


OPTIONS: dict[str, Any] = {
    "on": anything,
    "vips": vip_list,
    "rate": number(0.1),
    "timeout": number(0.01),
    "count": number(0, True),
    "duration": number(0),
    "sequential": boolean,
    "foreground": boolean,
}

register(
    StepKind("probe", text, run, OPTIONS, check=check, doc="HTTP requests to VIPs, one record per request"),
    StepKind("stop_probe", text, run_stop, doc="end a probe (or all)"),
)
