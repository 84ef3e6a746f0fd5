"""`traffic NAME`: UDP load from iperf3 in the lab, spread evenly over VIPs, through IPVS to
iperf3 servers on the reals (labctl/scenario/traffic.py); `stop_traffic NAME|all` ends it and
fetches the logs into traffic-NAME-NODE.txt. `counters: start`: the host-side byte counters of
every node's link every second, in counters.txt; `stop_counters`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labctl.model import planner
from labctl.model.lab import Lab
from labctl.observe.iperf import DATAGRAM
from labctl.observe.runrecords import COUNTERS
from labctl.scenario import traffic
from labctl.scenario.checks import Checker, Path, known_vips, number, text, vip_list
from labctl.scenario.linkactions import host_link
from labctl.scenario.model import Step
from labctl.scenario.runstate import StepFailed
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.clock import ClockOffset
    from labctl.scenario.runstate import RunContext

COUNTERS_STREAM = "counters"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # it names files on the nodes and in the run folder


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    if isinstance(step.value, str) and "${" not in step.value and not NAME.match(step.value):
        check.problem((*path, "traffic"), "a traffic stream's name is letters, digits, - and _ (at most 40)")
    rate = step.options.get("rate")
    if isinstance(rate, str) and "${" not in rate:
        try:
            planner.parse_rate(rate)
        except planner.PlanError as exc:
            check.problem((*path, "rate"), str(exc))
    vips = step.options.get("vips", "all")
    known_vips(check, vips, path, lab)


def run(engine: RunContext, step: Step) -> None:
    name = str(step.value)
    if not NAME.match(name):
        raise StepFailed(f"bad traffic stream name {name!r}")
    if name in engine.traffic and not engine.traffic[name].finished:
        raise StepFailed(f"traffic {name} is already running")
    vips = step.options.get("vips", "all")
    chosen = engine.lab.vips if vips == "all" else [engine.lab.vip(v) for v in vips]
    spec = traffic.TrafficSpec(
        name=name,
        vips=tuple(v.address for v in chosen),
        rate_bps=planner.parse_rate(str(step.options["rate"])),
        port=int(step.options.get("port", traffic.PORT)),
        datagram=int(step.options.get("datagram", DATAGRAM)),
        duration=float(step.options.get("duration", 0)),
    )
    # Every balancer gets the services (a VIP may move to any of them), kept for its boots: a
    # balancer powered off and on has them back before keepalived claims a VIP.
    balancers = [b.name for b in engine.lab.balancers]
    engine.for_each_node(balancers, lambda node: engine.act(node, "iperf-services", {"port": spec.port}))
    client = engine.nodes(None, "client")[0]
    reals = [r.name for r in engine.lab.reals]
    # The nodes' clocks against the host's, for the logs' whole-second timestamps.
    clocks: dict[str, ClockOffset] = {}
    engine.for_each_node(
        [client, *reals], lambda node: clocks.__setitem__(node, engine.clock(node, traffic.raw_name(name, node)))
    )

    def stopped(node: str) -> None:
        engine.restorer.changed(node, "iperf-stop")

    load = traffic.TrafficRun(engine.access, spec, client, reals, engine.out, on_stopped=stopped)
    engine.traffic[name] = load  # from here on, cleanup stops it and fetches its logs
    try:
        for real in reals:
            engine.restorer.about_to(real, "iperf-start")
        load.start_servers()
        engine.restorer.about_to(client, "iperf-start")
        started = load.start_clients(clocks[client])
    except traffic.TrafficError as exc:
        raise StepFailed(str(exc)) from exc
    engine.event(
        "traffic_start",
        name=name,
        client=client,
        reals=reals,
        vips=list(spec.vips),
        rate_bps=spec.rate_bps,
        payload_bps_per_vip=round(spec.payload_bps),
        port=spec.port,
        datagram=spec.datagram,
        started=started,
    )


def run_stop(engine: RunContext, step: Step) -> None:
    names = list(engine.traffic) if step.value == "all" else [str(step.value)]
    for name in names:
        if name in engine.traffic:
            engine.stop_traffic(name)


def run_counters(engine: RunContext, step: Step) -> None:
    nodes = [n.name for n in engine.lab.nodes]
    links = {node: link.interface for node in nodes if (link := host_link(engine.access, node)) is not None}
    interval = float(step.options.get("interval", 1.0))
    stream = traffic.start_counters(engine.access, nodes[0], engine.out / COUNTERS, interval)
    engine.probes[COUNTERS_STREAM] = stream
    # Which tap is whose, now; a rebooted VM's new tap is named by its next link action.
    engine.event("counters_start", interval=interval, links=links)


def run_stop_counters(engine: RunContext, step: Step) -> None:
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
        doc="iperf3 UDP load from the client through IPVS to the reals, spread evenly over VIPs",
    ),
    StepKind("stop_traffic", text, run_stop, doc="end a traffic stream (or all) and fetch its logs"),
    StepKind("counters", text, run_counters, {"interval": number(0.1)}, doc="host-side link byte counters"),
    StepKind("stop_counters", text, run_stop_counters, doc="end the link counters"),
)
