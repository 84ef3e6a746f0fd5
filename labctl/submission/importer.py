"""`labctl import`, without the command line: sources -> Imported with findings."""

from __future__ import annotations

from pathlib import Path

from labctl.submission.findings import findings
from labctl.submission.ipvsdiff import unreproduced
from labctl.submission.load import load_submission
from labctl.submission.mapping import Imported, build

# Homework 3.8, question 3: 1.5 Gbit/s in, 1 Gbit/s links.
DEFAULT_TRAFFIC = 1.5e9
DEFAULT_LINK = 1e9


def import_submission(
    sources: list[Path],
    name: str = "lab",
    instance: str | None = None,
    traffic_bps: float = DEFAULT_TRAFFIC,
    link_bps: float = DEFAULT_LINK,
) -> Imported:
    result = build(load_submission(sources, instance), name)
    result.findings = findings(result, traffic_bps, link_bps)
    result.dropped += unreproduced(result)
    return result
