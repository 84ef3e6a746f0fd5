"""Terminal output never interprets text labctl did not write.

rich reads `:100:` as an emoji code and `[bold]`, `[/]` as markup. In `typo.yaml:100:` the 100
is a line number, and a path, a scenario's words or a node's output are to be printed as they
are. Everything runs through the real CLI (click's CliRunner) or the real printing helpers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl.cli.console import make_console
from labctl.cli.execout import print_outcome
from labctl.cli.main import main
from labctl.cli.progress import RichUpProgress
from labctl.lab.nodes.ssh import CommandResult, SshUnreachable
from labctl.model.initlab import initial_lab, lab_file_text

# rich's names for these line numbers: 💯 and 🔢.
LINES = [100, 1234]
MARKUP = "[bold]x[/] :100: [/] [red]y"  # a lone [/] even made rich raise MarkupError


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def _padded(body: list[str], line: int, at: int) -> str:
    """BODY with comment lines before it, so that BODY[AT] lands on LINE of the file."""
    return "\n".join(["# padding"] * (line - 1 - at) + body) + "\n"


@pytest.mark.parametrize("line", LINES)
def test_a_scenario_problem_keeps_file_and_line(run, tmp_path, line):
    body = ["description: a typo", "steps:", "  - expect: bad", "    metric: nope.nothing", "    max: 1"]
    (tmp_path / "typo.yaml").write_text(_padded(body, line, at=3))
    result = run("scenario", "show", "typo.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"typo.yaml:{line}: steps.0.metric: unknown metric 'nope.nothing'")


@pytest.mark.parametrize("line", LINES)
@pytest.mark.parametrize("command", [["validate"], ["graph"], ["scenario", "run", "failover"]])
def test_a_lab_file_problem_keeps_file_and_line(run, tmp_path, line, command):
    body = lab_file_text(initial_lab()).splitlines() + ["bogus: 1"]
    (tmp_path / "lab.yaml").write_text(_padded(body, line, at=len(body) - 1))
    result = run(*command, "-f", "lab.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"lab.yaml:{line}: bogus: unknown key")


def test_scenario_words_and_path_print_literally(run, tmp_path):
    folder = tmp_path / "[bold]d[/]"  # the folders `[bold]d[` and `]` in it
    folder.mkdir(parents=True)
    (folder / "s.yaml").write_text(
        f"description: '{MARKUP}'\n"
        "parameters:\n"
        f"  p: {{type: int, default: 1, help: '{MARKUP}'}}\n"
        "steps:\n"
        f"  - note: '{MARKUP} :1234:'\n"
    )
    result = run("scenario", "show", "[bold]d[/]/s.yaml")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "([bold]d[/]/s.yaml)" in out  # the path in the heading
    assert f"\n{MARKUP}\n" in out  # the description
    assert re.search(rf"│ p +│ int +│ 1 +│ {re.escape(MARKUP)} +│", out)  # the parameter's help
    assert f"     5  note {MARKUP} :1234:\n" in out  # the note step, on line 5


def test_a_path_prints_literally(run, tmp_path):
    (tmp_path / "[red]p[/]").mkdir(parents=True)
    (tmp_path / "[red]p[/]" / "lab.yaml").write_text(lab_file_text(initial_lab()))
    result = run("validate", "-f", "[red]p[/]/lab.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[red]p[/]/lab.yaml: valid.")


def _result(rc: int, stdout: str, stderr: str) -> CommandResult:
    return CommandResult(node="b1", argv="true", rc=rc, stdout=stdout, stderr=stderr, duration=0.1)


def test_exec_output_prints_literally(capsys):
    console = make_console()
    assert print_outcome(console, "b1", _result(0, f"{MARKUP}\n", "")) is False
    assert print_outcome(console, "r1", _result(3, "", f"{MARKUP} :1234:\n")) is True
    assert print_outcome(console, "c1", SshUnreachable(f"{MARKUP}\nsecond line")) is True
    out, err = capsys.readouterr()
    assert out.splitlines() == ["── b1", MARKUP, "── r1 (exit 3)", f"── c1 error: {MARKUP}"]
    assert err.splitlines() == [f"{MARKUP} :1234:"]


def test_up_progress_prints_what_vagrant_said_literally(capsys):
    progress = RichUpProgress(make_console())
    progress.say(f"vagrant: {MARKUP}")
    with progress.board("provisioning", ["b1"]).shown() as board:  # not a terminal: one line per change
        board.set("b1", f"{MARKUP} :1234:")
    assert capsys.readouterr().out.splitlines() == [
        f"vagrant: {MARKUP}",
        "provisioning:",
        f"  b1: {MARKUP} :1234:",
    ]


def test_every_console_is_made_by_the_one_helper():
    """A rich Console made anywhere else would bring emoji codes back."""
    root = Path(__file__).resolve().parents[2]
    makers = [
        path.relative_to(root).as_posix()
        for folder in ("labctl", "bench")
        for path in (root / folder).rglob("*.py")
        if "Console(" in path.read_text()
    ]
    assert makers == ["labctl/cli/console.py"]


def test_a_run_report_prints_the_scenario_words_literally(run, tmp_path):
    from tests.support import scenario_recordings as rec

    expect = [{"name": "[b]m[/] :100:", "metric": "vips.VI_1.moved_after_s", "max": 5, "where": "f.yaml:3"}]
    folder = rec.write_run(tmp_path / "run", expect)
    result = run("report", str(folder))
    assert re.search(r"│ PASS │ \[b\]m\[/\] :100: +│", result.stdout), result.stdout


def test_a_comparison_prints_folder_names_literally(run, tmp_path):
    from tests.support import scenario_recordings as rec

    for name in ("[red]a", "[red]b"):  # one scenario, the same parameters: told apart by folder
        rec.write_run(tmp_path / name)
    result = run("report", "[red]a", "[red]b", "--out", "cmp")
    assert result.exit_code == 0, result.output
    assert "([red]a)" in result.stdout and "([red]b)" in result.stdout, result.stdout
