"""`traffic NAME`: paced UDP load spread evenly over VIPs, recorded in traffic-NAME.txt;
`stop_traffic NAME|all`. `counters: start`: the host-side byte counters of every node's link
every second, in counters.txt; `stop_counters`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.model import planner
from labctl.model.lab import Lab
from labctl.scenario import traffic
from labctl.scenario.checks import Checker, Path, known_vips, number, text, vip_list
from labctl.scenario.linkactions import host_link
from labctl.scenario.model import Step
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.engine import Engine

COUNTERS_STREAM = "counters"


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    rate = step.options.get("rate")
    if isinstance(rate, str) and "${" not in rate:
        try:
            planner.parse_rate(rate)
        except planner.PlanError as exc:
            check.problem((*path, "rate"), str(exc))
    vips = step.options.get("vips", "all")
    known_vips(check, vips, path, lab)


def run(engine: Engine, step: Step) -> None:
    from labctl.scenario.engine import StepFailed

    name = str(step.value)
    stream_name = f"traffic-{name}"
    if stream_name in engine.probes and not engine.probes[stream_name].finished:
        raise StepFailed(f"traffic {name} is already running")
    vips = step.options.get("vips", "all")
    chosen = engine.lab.vips if vips == "all" else [engine.lab.vip(v) for v in vips]
    spec = traffic.TrafficSpec(
        vips=tuple(v.address for v in chosen),
        rate_bps=planner.parse_rate(str(step.options["rate"])),
        port=int(step.options.get("port", 9)),
        datagram=int(step.options.get("datagram", 1200)),
        duration=float(step.options.get("duration", 0)),
    )
    client = engine.nodes(None, "client")[0]
    # The probes' dictionary: cleanup stops every stream in it, whatever happens.
    stream, where = traffic.start_sender(engine.access, client, spec, engine.out / f"{stream_name}.txt", name, None)
    engine.probes[stream_name] = stream
    engine.event("traffic_start", name=name, where=where, vips=list(spec.vips), rate_bps=spec.rate_bps)


def run_stop(engine: Engine, step: Step) -> None:
    names = [n for n in engine.probes if n.startswith("traffic-")] if step.value == "all" else [f"traffic-{step.value}"]
    for name in names:
        if name in engine.probes:
            engine.probes.pop(name).stop()
            engine.event("traffic_stop", name=name.removeprefix("traffic-"))


def run_counters(engine: Engine, step: Step) -> None:
    nodes = [n.name for n in engine.lab.nodes]
    links = {node: link.interface for node in nodes if (link := host_link(engine.access, node)) is not None}
    interval = float(step.options.get("interval", 1.0))
    stream = traffic.start_counters(engine.access, nodes[0], engine.out / traffic.COUNTERS, interval)
    engine.probes[COUNTERS_STREAM] = stream
    # Which tap is whose, now; a rebooted VM's new tap is named by its next link action.
    engine.event("counters_start", interval=interval, links=links)


def run_stop_counters(engine: Engine, step: Step) -> None:
    stream = engine.probes.pop(COUNTERS_STREAM, None)
    if stream is not None:
        stream.stop()
        engine.event("counters_stop")


register(
    StepKind(
        "traffic",
        text,
        run,
        {"rate": text, "vips": vip_list, "port": number(1, True), "datagram": number(64, True), "duration": number(0)},
        required=("rate",),
        check=check,
        doc="paced UDP load spread evenly over VIPs (host side when sandboxed)",
    ),
    StepKind("stop_traffic", text, run_stop, doc="end a traffic stream (or all)"),
    StepKind("counters", text, run_counters, {"interval": number(0.1)}, doc="host-side link byte counters"),
    StepKind("stop_counters", text, run_stop_counters, doc="end the link counters"),
)
