"""The files of one run folder and the lab facts saved with it, so `labctl report` can rebuild
everything from the folder alone."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labctl.lab.host import safefiles
from labctl.model import lab as model

RUN_JSON = "run.json"
CLOCK_JSON = "clock.json"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
REPORT = "report.md"
TIMELINE = "timeline.png"
PCAP = "capture.pcap"


def lab_to_dict(lab: model.Lab) -> dict[str, Any]:
    data = asdict(lab)
    data["vrrp"]["auth_pass"] = None  # never written to results
    return data


def lab_from_dict(data: dict[str, Any]) -> model.Lab:
    ipvs = dict(data["ipvs"])
    ipvs["timeouts"] = model.Timeouts(**ipvs["timeouts"])
    ipvs["health_check"] = model.HealthCheck(**ipvs["health_check"])
    return model.Lab(
        name=data["name"],
        provider=model.ProviderSettings(),
        network=model.NetworkSettings(**data["network"]),
        nodes=tuple(model.Node(**n) for n in data["nodes"]),
        vips=tuple(model.Vip(**v) for v in data["vips"]),
        vrrp=model.VrrpSettings(**data["vrrp"]),
        ipvs=model.IpvsSettings(**ipvs),
        isolation=data.get("isolation", "none"),
    )


def write_json(path: Path, data: Any) -> None:
    # A run may be made by root in the user's folder: written by the safe writer, never via a link.
    safefiles.write_file(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", 0o644)


def append_event(path: Path, event: dict[str, Any]) -> None:
    with safefiles.open_append(path, mode=0o644) as out:
        out.write(json.dumps(event, default=str) + "\n")


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
