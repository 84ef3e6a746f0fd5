"""Following scenario runs from their results folders: the newest run's events.jsonl and probe
records are read as they grow (only the new bytes each time), so the page can show the current
step, a wait's countdown, the narration, the outage the probes see and the report at the end.
Reading files costs the lab nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.model.lab import Lab
from labctl.observe import runrecords
from labctl.observe.probes import parse_probe_line
from labctl.observe.snapshot import NodeSnapshot, parse_snapshots

WAIT = re.compile(r"^wait (\d+(?:\.\d+)?)$")
REPORT_HTML = "report.html"


def outages(records: list[tuple[float, bool]], now: float | None = None) -> dict[str, float | None]:
    """From one VIP's (t, ok) records in time order: the longest finished outage (first failed
    request to the next answered one) and the one going on now (None when the last answered)."""
    longest = 0.0
    started: float | None = None
    for t, ok in records:
        if not ok and started is None:
            started = t
        elif ok and started is not None:
            longest = max(longest, t - started)
            started = None
    current = None if started is None or now is None else max(0.0, now - started)
    return {"longest_s": round(longest, 2), "current_s": None if current is None else round(current, 2)}


def run_view(name: str, events: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """Where a run is, from its events: scenario, current step (with a countdown for `wait N`),
    the last narration and condition, finished or not."""
    view: dict[str, Any] = {"name": name, "scenario": None, "step": None, "finished": False, "error": None}
    for event in events:
        kind = event.get("kind")
        if kind == "start":
            view["scenario"] = event.get("scenario")
            view["started"] = event.get("t")
        elif kind == "step":
            view["step"] = event.get("step")
            view["step_t"] = event.get("t")
            view.pop("wait_ends", None)
            match = WAIT.match(str(event.get("step", "")))
            if match and isinstance(event.get("t"), int | float):
                view["wait_ends"] = event["t"] + float(match.group(1))
        elif kind == "narration":
            view["narration"] = event.get("text")
        elif kind == "wait_until":
            verb = "held" if event.get("held") else "did not hold"
            condition = event.get("condition")
            if isinstance(condition, dict):
                condition = ", ".join(f"{k}={v}" for k, v in condition.items())
            view["condition"] = f"{condition} {verb} after {event.get('after_s')} s"
        elif kind == "error":
            view["error"] = event.get("message")
        elif kind == "end":
            view["finished"] = True
            view["step"] = "finished"
    ends = view.get("wait_ends")
    view["countdown_s"] = round(max(0.0, ends - now), 1) if ends and not view["finished"] else None
    return view


@dataclass
class _Tail:
    """The part of a growing file not read yet (a partial last line waits for its end)."""

    path: Path
    offset: int = 0
    rest: str = ""

    def lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        text = self.rest + data.decode(errors="replace")
        *complete, self.rest = text.split("\n")
        return complete


def newest_run(results: Path) -> Path | None:
    """The newest run folder under RESULTS (a plain run or a repeat's run-<i>), by run.json."""
    try:
        found = list(results.glob("*/run.json")) + list(results.glob("*/run-*/run.json"))
    except OSError:
        return None
    dated = []
    for path in found:
        try:
            dated.append((path.stat().st_mtime, path.parent))
        except OSError:
            continue
    return max(dated)[1] if dated else None


@dataclass
class RunFollower:
    """The newest run under RESULTS (a plain run or a repeat's run-<i>), read incrementally."""

    results: Path
    lab: Lab
    folder: Path | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    probes: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)  # VIP name -> records
    _events_tail: _Tail | None = None
    _probe_tails: dict[Path, _Tail] = field(default_factory=dict)

    def newest(self) -> Path | None:
        return newest_run(self.results)

    def poll(self, now: float) -> tuple[dict[str, Any] | None, list[list[Any]]]:
        """The newest run's view and the probe records that appeared since the last poll, as
        [VIP name, t, ok]."""
        newest = self.newest()
        if newest is None:
            return None, []
        if newest != self.folder:
            self.folder, self.events, self.probes = newest, [], {}
            self._events_tail, self._probe_tails = _Tail(newest / runrecords.EVENTS), {}
        assert self._events_tail is not None
        for line in self._events_tail.lines():
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue
        fresh = self._read_probes()
        view = run_view(str(newest.relative_to(self.results)), self.events, now)
        view["outages"] = {vip: outages(records, now) for vip, records in self.probes.items()}
        view.update(self._finished_facts(newest))
        return view, fresh

    def _read_probes(self) -> list[list[Any]]:
        assert self.folder is not None
        names = {v.address: v.name for v in self.lab.vips}
        fresh: list[list[Any]] = []
        for path in sorted(self.folder.glob("probe-*.jsonl")):
            tail = self._probe_tails.setdefault(path, _Tail(path))
            for line in tail.lines():
                record = parse_probe_line(line)
                if record is None or record.vip not in names:
                    continue
                name = names[record.vip]
                self.probes.setdefault(name, []).append((record.t, record.ok))
                fresh.append([name, record.t, record.ok])
        return fresh

    def _finished_facts(self, folder: Path) -> dict[str, Any]:
        """The report's figures once `labctl scenario run` has built them."""
        facts: dict[str, Any] = {}
        if (folder / REPORT_HTML).is_file():
            facts["report"] = f"runs/{folder.relative_to(self.results).as_posix()}/{REPORT_HTML}"
        try:
            summary = json.loads((folder / runrecords.SUMMARY).read_text())
        except (OSError, ValueError):
            return facts
        facts["verdict"] = (summary.get("verdict") or {}).get("verdict")
        facts["measured"] = {
            name: {k: vip.get(k) for k in ("outage_s", "moved_after_s", "new_holder", "theory_s")}
            for name, vip in (summary.get("vips") or {}).items()
            if isinstance(vip, dict)
        }
        return facts

    def recent_probes(self, since: float) -> list[list[Any]]:
        """The strip's history for a page that just connected."""
        return sorted(
            ([vip, t, ok] for vip, records in self.probes.items() for t, ok in records if t >= since),
            key=lambda r: r[1],
        )


# Bytes read from the end of a polling file: a few snapshots' worth.
_TAIL_BYTES = 16384


@dataclass
class RunReadings:
    """While a scenario runs, the balancers' state as the run's own polling records it
    (`capture-<node>.<part>.txt` in the run folder): the dashboard then reads those files and
    asks the emulated VMs nothing, so watching a run costs the run nothing."""

    results: Path
    max_age: float = 10.0  # a file not written for this long is not a live run's

    def _active_run(self) -> Path | None:
        folder = newest_run(self.results)
        return None if folder is None or (folder / runrecords.SUMMARY).exists() else folder

    def busy(self) -> bool:
        """A scenario run is under way (its folder has no summary yet)."""
        try:
            return self._active_run() is not None
        except OSError:
            return False

    def read(self, node: str, now: float) -> NodeSnapshot | None:
        """NODE's newest complete snapshot from the active run's polling, if recent."""
        try:
            folder = self._active_run()
            if folder is None:
                return None
            parts = [(p.stat().st_mtime, p) for p in folder.glob(f"capture-{node}.*.txt")]
        except OSError:
            return None
        if not parts:
            return None
        mtime, path = max(parts)
        if now - mtime > self.max_age:
            return None
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        found = parse_snapshots(text, node)
        return found[-1] if found else None
