"""A scenario run N times in a row (`labctl scenario run NAME --repeat N`), and the run groups
`labctl report A B ...` compares.

Layout of a series: results/<scenario>-<stamp>/run-<i>/ (each a complete run folder), and at the
top repeat.json, repeat.md and distributions.png over the runs that finished.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import BadInput, clip
from labctl.observe import runrecords
from labctl.report import compare
from labctl.scenario import runfiles
from labctl.templating import render

REPEAT_JSON = "repeat.json"
REPEAT_MD = "repeat.md"
DISTRIBUTIONS = "distributions.png"
COMPARISON_MD = "comparison.md"
COMPARISON_PNG = "comparison.png"
_RUN_FOLDER = re.compile(r"run-(\d+)$")
# The figures of one VIP shown in a run's progress line.
MAIN_KEYS = ("detection_s", "arp_s", "client_s", "outage_s", "moved_after_s")


@dataclass
class RunOutcome:
    index: int
    folder: Path
    summary: dict[str, Any]


@dataclass
class Series:
    scenario: str
    params: dict[str, Any]
    requested: int
    runs: list[RunOutcome] = field(default_factory=list)
    stopped: str | None = None  # why the series ended before `requested` runs, if it did

    def summaries(self) -> list[dict[str, Any]]:
        return [run.summary for run in self.runs]


def run_folder(out: Path, index: int) -> Path:
    return out / f"run-{index}"


def was_interrupted(folder: Path) -> bool:
    """The engine notes a Ctrl-C in run.json; the live view swallows the KeyboardInterrupt."""
    try:
        return bool(json.loads((folder / runrecords.RUN_JSON).read_text()).get("interrupted"))
    except (OSError, ValueError):
        return False


def run_series(
    series: Series,
    out: Path,
    load: Callable[[], Any],
    run_one: Callable[[Any, Path], dict[str, Any]],
    on_done: Callable[[RunOutcome, int], None] = lambda outcome, count: None,
) -> Series:
    """Run SERIES.requested times RUN_ONE(LOAD(), folder) -> summary, into OUT/run-<i>/.

    The scenario is loaded afresh for each run (the engine's cleanup has put the lab back, so
    each run starts from the same state). Ctrl-C ends the series: a run stopped half-way is left
    out of the figures (its folder stays), and the runs done so far are kept."""
    for index in range(1, series.requested + 1):
        folder = run_folder(out, index)
        try:
            summary = run_one(load(), folder)
        except KeyboardInterrupt:
            series.stopped = f"interrupted (Ctrl-C) before run {index} finished"
            break
        except Exception as exc:  # noqa: BLE001 - e.g. the scenario file became invalid between runs
            series.stopped = f"run {index} could not run: {type(exc).__name__}: {exc}"
            break
        if was_interrupted(folder):
            series.stopped = f"interrupted (Ctrl-C) during run {index}"
            break
        outcome = RunOutcome(index, folder, summary)
        series.runs.append(outcome)
        on_done(outcome, series.requested)
    return series


def main_vip(summary: dict[str, Any]) -> str | None:
    """The VIP the scenario is about: its `vip` parameter, else the first VIP that was
    disturbed (measured a hand-over or an outage), else the first VIP."""
    vips = summary.get("vips") or {}
    chosen = (summary.get("params") or {}).get("vip")
    if chosen in vips:
        return chosen
    for name, values in vips.items():
        if values.get("detection_s") is not None or (values.get("outage_s") or 0) > 0:
            return name
    return next(iter(vips), None)


def progress_line(outcome: RunOutcome, count: int) -> str:
    """'run 2/5: pass  VI_1 detection 3.61 s, arp 0.01 s, ...' for the run just finished."""
    summary = outcome.summary
    verdict = compare.verdict_of(summary)
    vip = main_vip(summary)
    found = compare.figures(summary)
    parts = [f"{key.removesuffix('_s')} {found[f'{vip}.{key}']:g} s" for key in MAIN_KEYS if f"{vip}.{key}" in found]
    figures_text = f"  {vip} " + ", ".join(parts) if parts else ""
    return f"run {outcome.index}/{count}: {verdict}{figures_text}"


def record(series: Series, out: Path) -> dict[str, Any]:
    """repeat.json: the aggregate, and per run its verdict and folder (relative to OUT)."""
    return {
        "scenario": series.scenario,
        "params": series.params,
        "requested": series.requested,
        "completed": len(series.runs),
        "stopped": series.stopped,
        "runs": [
            {
                "index": r.index,
                "folder": str(r.folder.relative_to(out)),
                "verdict": compare.verdict_of(r.summary),
                "reasons": (r.summary.get("verdict") or {}).get("reasons", []),
            }
            for r in series.runs
        ],
        "aggregate": compare.aggregate(series.summaries()),
    }


def write_repeat(series: Series, out: Path) -> dict[str, Any]:
    """Write repeat.json, repeat.md and distributions.png into OUT; return the record."""
    out.mkdir(parents=True, exist_ok=True)
    data = record(series, out)
    runfiles.write_json(out / REPEAT_JSON, data)
    (out / REPEAT_MD).write_text(render("repeat.md.j2", record=data, verdict_text=compare.verdict_text))
    label = compare.label_of(series.runs[0].summary, out) if series.runs else out.name
    compare.plot_distributions({label: series.summaries()}, out / DISTRIBUTIONS)
    return data


def series_exit_code(series: Series) -> int:
    """1 if any run failed (or none finished), else 3 if any was inconclusive, else 0."""
    verdicts = {compare.verdict_of(s) for s in series.summaries()}
    if not verdicts or "fail" in verdicts:
        return 1
    return 3 if "inconclusive" in verdicts else 0


# --- run groups for `labctl report A B ...` --------------------------------------------------


class NotARunFolder(BadInput, ValueError):
    """A PATH of `labctl report` that holds no run (exit 2)."""


def is_run_folder(path: Path) -> bool:
    return (path / runrecords.RUN_JSON).is_file()


def check_run_folder(path: Path) -> Path:
    """PATH when its run.json is the JSON object a run writes; NotARunFolder otherwise."""
    record = path / runrecords.RUN_JSON
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotARunFolder(f"{record}: not a run record ({clip(str(exc), 120)})") from exc
    if not isinstance(data, dict):
        raise NotARunFolder(f"{record}: not a run record (a JSON object is expected)")
    return path


def repeat_runs(path: Path) -> list[Path]:
    """The run-<i>/ folders of a repeat folder, in run order (run-10 after run-9)."""
    found = [
        (int(m.group(1)), p)
        for p in path.iterdir()
        if p.is_dir() and (m := _RUN_FOLDER.match(p.name)) and is_run_folder(p)
    ]
    return [p for _, p in sorted(found)]


def runs_of(path: Path) -> list[Path]:
    """A run folder is a group of one; a repeat folder is the group of its runs."""
    if is_run_folder(path):
        return [check_run_folder(path)]
    runs = [check_run_folder(p) for p in repeat_runs(path)]
    if not runs:
        raise NotARunFolder(
            f"{path}: neither a run folder (no {runrecords.RUN_JSON}) nor a repeat folder (no run-<i>/ with one)"
        )
    return runs


def load_groups(paths: list[Path], build: Callable[[Path], dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Label -> the summaries of that group's runs, each rebuilt with BUILD(folder)."""
    by_folder = {str(path): [build(run) for run in runs_of(path)] for path in paths}
    labels = compare.labels_for(by_folder)
    return {labels[folder]: summaries for folder, summaries in by_folder.items()}


def write_comparison(
    comparison: dict[str, Any], groups: dict[str, list[dict[str, Any]]], out: Path
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / COMPARISON_MD
    markdown.write_text(compare.comparison_markdown(comparison, image=COMPARISON_PNG))
    return markdown, compare.plot_distributions(groups, out / COMPARISON_PNG)
