"""Writing one run folder: run.json, clock.json, events.jsonl and summary.json go through the safe
writer (a run may be made by root in the user's folder). What they hold is read back by
labctl.observe.runrecords, which names the files; the lab saved with a run is
labctl.model.labrecord's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labctl.lab.host import safefiles
from labctl.observe.runrecords import event_line, json_text


def write_json(path: Path, data: Any) -> None:
    # A run may be made by root in the user's folder: written by the safe writer, never via a link.
    safefiles.write_file(path, json_text(data), 0o644)


def append_event(path: Path, event: dict[str, Any]) -> None:
    with safefiles.open_append(path, mode=0o644) as out:
        out.write(event_line(event))
