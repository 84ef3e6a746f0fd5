"""Runs side by side: figures, distributions, verdict counts, labels, the plot and the table;
`scenario run --repeat N` and `report A B` as a user runs them (no VMs: the run is faked)."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl.cli import repeat
from labctl.cli.main import main
from labctl.report import compare
from labctl.report.build import build
from labctl.scenario import runfiles
from tests.support import scenario_recordings as rec

EXPECT = [{"name": "moved", "metric": "vips.VI_1.moved_after_s", "max": 5}]
# Fails on any host: not a timing figure, so never softened to inconclusive.
STRICT = [{"name": "no duplicate", "metric": "failover.duplicate_detected", "equals": False}]


def summary(verdict: str = "pass", method: str = "poweroff", jitter: float | None = None, **vi_1: object) -> dict:
    """A hand-made summary with the fields compare reads."""
    return {
        "scenario": "failover",
        "params": {"method": method, "vip": "VI_1"},
        "verdict": {"verdict": verdict, "reasons": []},
        "fidelity": {"jitter_p95_ms": jitter},
        "vips": {
            "VI_1": {"address": "10.10.1.10", **vi_1},
            "VI_2": {"address": "10.10.1.20", "outage_s": 0.0, "duplicate_s": 0},
        },
    }


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- pure functions ----------------------------------------------------------------------------


def test_figures_keep_numbers_and_skip_the_rest():
    found = compare.figures(
        summary(
            detection_s=3.61,
            arp_s=0.012,
            client_s=None,
            outage_s=3,
            moved_after_s=True,
            preemption_s="soon",
            duplicate_s=float("nan"),
            theory_s=3.605,
        )
    )
    assert found == {
        "VI_1.detection_s": 3.61,
        "VI_1.arp_s": 0.012,
        "VI_1.outage_s": 3.0,
        "VI_2.outage_s": 0.0,
        "VI_2.duplicate_s": 0.0,
    }


def test_the_traffic_answer_comes_first_in_a_comparison():
    """Homework question 3 side by side (the figures of the VM runs: 3 VIPs fill a survivor's
    link, the planner's 6 leave each at 75 %)."""
    three = summary(detection_s=3.61) | {"traffic": {"max_survivor_load_pct": 100.0, "max_loss_pct": 0.0}}
    six = summary(detection_s=3.61) | {"traffic": {"max_survivor_load_pct": 75.1, "max_loss_pct": 0.0}}
    result = compare.compare({"3 VIPs": [three], "6 VIPs": [six]})
    assert result["figures"][:2] == ["traffic.max_survivor_load_pct", "traffic.max_loss_pct"]
    loads = [result["aggregates"][g]["figures"]["traffic.max_survivor_load_pct"]["median"] for g in result["groups"]]
    assert loads == [100.0, 75.1]
    assert "percent for a figure ending in `_pct`" in compare.comparison_markdown(result)


def test_distribution_nearest_rank_p95_and_rounding():
    twenty = compare.distribution([float(i) for i in range(20, 0, -1)])
    assert twenty == {"n": 20, "min": 1.0, "median": 10.5, "p95": 19.0, "max": 20.0}
    three = compare.distribution([0.1234567, 2.0004, 1.5])
    assert three == {"n": 3, "min": 0.123, "median": 1.5, "p95": 2.0, "max": 2.0}
    assert compare.distribution([4.2])["p95"] == 4.2
    assert compare.distribution([])["n"] == 0


def test_aggregate_counts_verdicts_and_spreads_figures():
    runs = [
        summary("pass", detection_s=3.6, jitter=2.0),
        summary("fail", detection_s=3.8, jitter=4.0),
        summary("inconclusive", detection_s=5.0),
        {**summary(detection_s=3.7), "verdict": None},
    ]  # no verdict counts as a failure
    result = compare.aggregate(runs)
    assert result["runs"] == 4
    assert result["verdicts"] == {"pass": 1, "fail": 2, "inconclusive": 1}
    assert result["figures"]["VI_1.detection_s"] == {"n": 4, "min": 3.6, "median": 3.75, "p95": 5.0, "max": 5.0}
    assert list(result["figures"]) == ["VI_1.detection_s", "VI_2.outage_s", "VI_2.duplicate_s"]
    assert result["jitter_p95_ms"]["median"] == 3.0


def test_labels_name_the_differing_parameter_and_fall_back_to_the_folder():
    kill, off = summary(method="keepalived-kill"), summary(method="poweroff")
    assert compare.label_of(off, "results/x", [kill]) == "failover method=poweroff"
    assert compare.label_of(off, "results/x") == "failover"
    assert compare.label_of({"vips": {}}, "results/failover-20250101") == "failover-20250101"
    same = compare.labels_for({"a/one": [off], "b/two": [summary(method="poweroff")]})
    assert same == {"a/one": "failover (one)", "b/two": "failover (two)"}


def test_comparison_markdown_puts_figures_in_rows_and_groups_in_columns():
    groups = {
        "failover method=poweroff": [summary(outage_s=3.7), summary(outage_s=4.1), summary("fail", outage_s=3.9)],
        "failover method=keepalived-stop": [summary(outage_s=0.8)],
    }
    text = compare.comparison_markdown(compare.compare(groups))
    lines = text.splitlines()
    assert "| figure | failover method=poweroff | failover method=keepalived-stop |" in lines
    assert "| verdicts | 2 pass, 1 fail | 1 pass |" in lines
    assert "| VI_1.outage_s | 3.9 (3.7-4.1, n=3) | 0.8 (0.8-0.8, n=1) |" in lines
    assert "| advert jitter p95 (ms) | - | - |" in lines
    assert "![distributions](comparison.png)" in lines


def test_plot_is_a_png_even_with_a_single_run(tmp_path):
    groups = {
        "one run": [summary(detection_s=3.6, arp_s=0.01, client_s=0.05, outage_s=3.7, theory_s=3.605)],
        "three runs": [summary(detection_s=d, outage_s=d + 0.1) for d in (3.5, 3.6, 3.9)],
    }
    assert compare.plotted_figures(groups) == [
        "VI_1.detection_s",
        "VI_1.arp_s",
        "VI_1.client_s",
        "VI_1.outage_s",
        "VI_2.outage_s",
    ]
    path = compare.plot_distributions(groups, tmp_path / "d.png")
    width, height = png_size(path.read_bytes())
    assert width > 100 and height > 100
    alone = compare.plot_distributions({"x": [summary(outage_s=1.0)]}, tmp_path / "one.png")
    assert min(png_size(alone.read_bytes())) > 100


# --- the series loop ---------------------------------------------------------------------------


class Loaded:
    name = "failover"
    values = {"method": "poweroff"}


def test_series_stops_on_ctrl_c_and_keeps_the_runs_done(tmp_path):
    loads: list[object] = []

    def load():
        loads.append(Loaded())
        return loads[-1]

    def run_one(loaded, folder):
        if folder.name == "run-3":
            raise KeyboardInterrupt
        return summary("pass", outage_s=float(folder.name[-1]))

    series = repeat.run_series(repeat.Series("failover", {"method": "poweroff"}, 5), tmp_path, load, run_one)
    assert [r.index for r in series.runs] == [1, 2]
    assert len(loads) == 3 and loads[0] is not loads[1]  # read afresh for each run
    assert "Ctrl-C" in series.stopped
    data = repeat.write_repeat(series, tmp_path)
    assert data["completed"] == 2 and data["requested"] == 5
    assert data["aggregate"]["figures"]["VI_1.outage_s"]["median"] == 1.5
    assert json.loads((tmp_path / "repeat.json").read_text())["runs"][1]["folder"] == "run-2"
    assert "stopped early" in (tmp_path / "repeat.md").read_text()
    assert repeat.series_exit_code(series) == 0


def test_a_run_stopped_half_way_is_left_out(tmp_path):
    def run_one(loaded, folder):
        # The live view swallows Ctrl-C; the engine notes it in run.json.
        folder.mkdir(parents=True)
        runfiles.write_json(folder / "run.json", {"interrupted": folder.name == "run-2"})
        return summary("fail", outage_s=9.0)

    series = repeat.run_series(repeat.Series("failover", {}, 3), tmp_path, Loaded, run_one)
    assert [r.index for r in series.runs] == [1]
    assert series.stopped == "interrupted (Ctrl-C) during run 2"


@pytest.mark.parametrize(
    "verdicts, code", [(["pass", "pass"], 0), (["pass", "inconclusive"], 3), (["inconclusive", "fail"], 1), ([], 1)]
)
def test_series_exit_code(verdicts, code):
    series = repeat.Series(
        "failover", {}, 2, [repeat.RunOutcome(i, Path(f"run-{i}"), summary(v)) for i, v in enumerate(verdicts, 1)]
    )
    assert repeat.series_exit_code(series) == code


def test_progress_line_shows_the_scenarios_vip():
    outcome = repeat.RunOutcome(2, Path("run-2"), summary("fail", detection_s=3.61, arp_s=0.012, outage_s=3.7))
    assert repeat.progress_line(outcome, 5) == ("run 2/5: fail  VI_1 detection 3.61 s, arp 0.012 s, outage 3.7 s")


# --- the commands ------------------------------------------------------------------------------


def _with_method(folder: Path, method: str) -> Path:
    info = json.loads((folder / "run.json").read_text())
    info["params"]["method"] = method
    runfiles.write_json(folder / "run.json", info)
    return folder


def test_report_compares_a_run_with_a_repeat_folder(tmp_path):
    single = _with_method(rec.write_run(tmp_path / "failover-a", EXPECT), "keepalived-kill")
    series = tmp_path / "failover-b"
    for index, expectations in ((1, EXPECT), (2, STRICT)):
        _with_method(rec.write_run(series / f"run-{index}", expectations), "poweroff")
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["report", str(single), str(series), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out / "comparison.md") in result.output
    text = (out / "comparison.md").read_text()
    assert "| figure | failover method=keepalived-kill | failover method=poweroff |" in text.splitlines()
    assert "| verdicts | 1 pass | 1 pass, 1 fail |" in text.splitlines()
    assert "| VI_1.outage_s | 3.7 (3.7-3.7, n=1) | 3.7 (3.7-3.7, n=2) |" in text.splitlines()
    assert min(png_size((out / "comparison.png").read_bytes())) > 100

    as_json = CliRunner().invoke(main, ["report", str(single), str(series), "--out", str(out), "--json"])
    data = json.loads(as_json.output)
    assert data["aggregates"]["failover method=poweroff"]["runs"] == 2
    assert data["aggregates"]["failover method=poweroff"]["figures"]["VI_1.moved_after_s"]["median"] == 3.58


def test_report_refuses_a_folder_without_runs(tmp_path):
    run = rec.write_run(tmp_path / "run", EXPECT)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["report", str(run), str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "neither a run folder" in result.output


def test_repeat_zero_is_refused():
    result = CliRunner().invoke(main, ["scenario", "run", "failover", "--repeat", "0"])
    assert result.exit_code == 2
    assert "--repeat" in result.output and "0 is not in the range x>=1" in result.output


def test_repeat_runs_into_numbered_folders_and_sums_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    seen: list[object] = []

    def fake_run(access, loaded, folder, quiet=False):
        # run 2 fails its expectation: the series must exit 1
        seen.append(loaded)
        return build(rec.write_run(folder, STRICT if folder.name == "run-2" else EXPECT))

    monkeypatch.setattr("labctl.lab.access.open_lab", lambda path: contextlib.nullcontext())
    monkeypatch.setattr("labctl.cli.scenario.run_with_view", fake_run)
    result = runner.invoke(main, ["scenario", "run", "failover", "--repeat", "3", "--set", "method=poweroff"])
    assert result.exit_code == 1, result.output
    assert "run 2/3: fail  VI_1 outage 3.7 s, moved_after 3.58 s" in result.output
    assert len({id(s) for s in seen}) == 3 and seen[0].values["method"] == "poweroff"
    (out,) = (tmp_path / "results").iterdir()
    assert out.name.startswith("failover-")
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["run-1", "run-2", "run-3"]
    data = json.loads((out / "repeat.json").read_text())
    assert [r["verdict"] for r in data["runs"]] == ["pass", "fail", "pass"]
    assert data["aggregate"]["verdicts"] == {"pass": 2, "fail": 1, "inconclusive": 0}
    assert data["params"]["method"] == "poweroff"
    assert "| VI_1.outage_s | 3 | 3.7 | 3.7 | 3.7 | 3.7 |" in (out / "repeat.md").read_text()
    assert min(png_size((out / "distributions.png").read_bytes())) > 100
