"""A run folder's raw records read back: run.json, clock.json, events.jsonl and the files the
run's streams saved (probe-*.jsonl, capture-*.txt, capture.pcap, counters.txt,
traffic-STREAM-NODE.txt), each parsed by its own reader and moved to the host's time base with
the offset clock.json recorded for it.

Pure reading: the engine writes these files (labctl.scenario.runfiles, through the safe writer),
`labctl report` and the dashboard read them here, so nothing above needs to know their names or
formats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from labctl.observe.iperf import IperfTest, parse_fetched
from labctl.observe.packets import Decoded, decode_pcap
from labctl.observe.probes import ProbeRecord, parse_probe_lines
from labctl.observe.snapshot import NodeSnapshot, parse_snapshots
from labctl.observe.tapcounters import Count, parse_lines

RUN_JSON = "run.json"
CLOCK_JSON = "clock.json"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
REPORT = "report.md"
TIMELINE = "timeline.png"
PCAP = "capture.pcap"
COUNTERS = "counters.txt"  # the host-side tap counters of a traffic run

# Which way an action pushes the lab, as its events record it (`phase`): analysis measures
# outages after "down" actions and recovery (preemption) after "up" ones.
PHASE = {
    "power-off": "down",
    "keepalived-stop": "down",
    "keepalived-kill": "down",
    "link-down": "down",
    "nginx-stop": "down",
    "power-on": "up",
    "keepalived-start": "up",
    "link-up": "up",
    "nginx-start": "up",
    "ipvs-timeouts": "config",
    # Link changes degrade or split the lab without taking a node down: analysis reads them
    # as spells (impairment, split brain, shaping), not as failovers.
    "impair": "impair",
    "impair-clear": "restore",
    "vrrp-cut": "impair",
    "vrrp-restore": "restore",
    "shape": "config",
    "unshape": "config",
    "iperf-services": "config",
    "iperf-services-clear": "config",
    "iperf-start": "config",
    "iperf-stop": "config",
}


def json_text(data: Any) -> str:
    """DATA as the run folder's JSON files hold it (run.json, clock.json, summary.json)."""
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def event_line(event: dict[str, Any]) -> str:
    """EVENT as one line of events.jsonl."""
    return json.dumps(event, default=str) + "\n"


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def cleanup_failed(folder: Path) -> bool:
    """True when a run's cleanup could not undo something (its events.jsonl says so, or the
    file cannot be read): the journal must then stay for `scenario restore` or the next `up`."""
    try:
        lines = (folder / EVENTS).read_text().splitlines()
    except OSError:
        return True
    for line in lines:
        try:
            if json.loads(line).get("kind") == "cleanup_error":
                return True
        except ValueError:
            continue
    return False


@dataclass
class RunRecords:
    """Everything a run folder recorded, parsed; `info` is run.json as written (its `lab` a dict)."""

    info: dict[str, Any]
    events: list[dict[str, Any]]
    probes: list[ProbeRecord]
    samples: list[NodeSnapshot]
    packets: Decoded | None = None  # the lab segment as captured from the host side
    counters: list[Count] = field(default_factory=list)  # host-side link byte counters
    iperf: list[IperfTest] = field(default_factory=list)  # the traffic's iperf3 logs, clients and servers


def read_run(folder: Path) -> RunRecords:
    """The raw files of the run in FOLDER, parsed (probes and snapshots sorted by time)."""
    info: dict[str, Any] = json.loads((folder / RUN_JSON).read_text())
    clocks = json.loads((folder / CLOCK_JSON).read_text()) if (folder / CLOCK_JSON).exists() else {}
    probes: list[ProbeRecord] = []
    samples: list[NodeSnapshot] = []
    for raw in sorted(folder.glob("probe-*.jsonl")):
        offset = clocks.get(raw.name, {}).get("offset", 0.0)
        probes.extend(parse_probe_lines(raw.read_text(errors="replace"), offset))
    for raw in sorted(folder.glob("capture-*.txt")):
        record = clocks.get(raw.name, {})
        node = record.get("node") or raw.name.split("-", 1)[1].split(".", 1)[0]
        samples.extend(parse_snapshots(raw.read_text(errors="replace"), node, record.get("offset", 0.0)))
    pcap = folder / PCAP
    offset = (info.get("capture") or {}).get("clock_offset") or 0.0
    packets = decode_pcap(pcap, info["lab"]["ipvs"]["port"], offset) if pcap.exists() else None
    counters = folder / COUNTERS
    iperf: list[IperfTest] = []
    for raw in sorted(folder.glob("traffic-*-*.txt")):  # traffic-STREAM-NODE.txt: one node's iperf3 logs
        record = clocks.get(raw.name, {})
        node = record.get("node") or raw.stem.rsplit("-", 1)[-1]
        for test in parse_fetched(raw.read_text(errors="replace"), node):
            iperf.append(replace(test, offset=float(record.get("offset") or 0.0)))
    return RunRecords(
        packets=packets,
        counters=parse_lines(counters.read_text(errors="replace")) if counters.exists() else [],
        iperf=iperf,
        info=info,
        events=read_events(folder / EVENTS),
        probes=sorted(probes, key=lambda r: r.t),
        samples=sorted(samples, key=lambda s: s.t),
    )
