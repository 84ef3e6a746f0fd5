"""report: summary.json, report.md and timeline.png rebuilt from a run folder's raw files."""

from __future__ import annotations

import json
import struct

from click.testing import CliRunner
from rich.console import Console

from labctl.cli.report import report as report_command
from labctl.cli.scenario import scenario as scenario_group
from labctl.report.build import build, expectations_table, summary_table
from tests.support import scenario_recordings as rec

EXPECT = [
    {"name": "moved", "metric": "vips.VI_1.moved_after_s", "max": 5, "where": "f.yaml:3"},
    {"name": "duplicate", "metric": "failover.duplicate_detected", "equals": True},
]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_build_writes_every_file(tmp_path):
    folder = rec.write_run(tmp_path / "run", EXPECT, inact_at=lambda t: 3 if t < 20 else 0)
    summary = build(folder)
    assert summary["passed"] is True
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["vips"]["VI_1"]["outage_s"] == summary["vips"]["VI_1"]["outage_s"]
    assert saved["inactconn"]["series"]
    width, height = _png_size((folder / "timeline.png").read_bytes())
    assert width > 500 and height > 300
    text = (folder / "report.md").read_text()
    assert "![timeline](timeline.png)" in text
    assert "| PASS | moved |" in text
    assert "b1 and b2 at once" in text  # the duplicate holder
    assert "matched VRRP theory" in text
    assert "keepalived-kill on b1" in text


def test_failed_expectation_is_shown_and_fails_the_run(tmp_path):
    strict = [{"name": "short outage", "metric": "vips.VI_1.outage_s", "max": 1}]
    folder = rec.write_run(tmp_path / "run", strict)
    summary = build(folder)
    assert summary["passed"] is False
    assert "| **FAIL** | short outage |" in (folder / "report.md").read_text()


def test_terminal_tables_render(tmp_path):
    summary = build(rec.write_run(tmp_path / "run", EXPECT))
    console = Console(record=True, width=160)
    console.print(summary_table(summary))
    console.print(expectations_table(summary))
    text = console.export_text()
    assert "VI_1" in text and "PASS" in text


def test_report_command_rerenders_a_run(tmp_path):
    folder = rec.write_run(tmp_path / "run", EXPECT)
    result = CliRunner().invoke(report_command, [str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["passed"] is True
    assert (folder / "timeline.png").exists()


def test_scenario_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(scenario_group, ["list"])
    assert listed.exit_code == 0 and "failover" in listed.output and "capacity" in listed.output
    shown = runner.invoke(scenario_group, ["show", "failover"])
    assert shown.exit_code == 0 and "method" in shown.output and "down" in shown.output
    missing = runner.invoke(scenario_group, ["show", "nosuch"])
    assert missing.exit_code == 2
