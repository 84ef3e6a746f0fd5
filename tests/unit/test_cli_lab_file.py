"""One lab-file reader for every command: `-f` is honoured, also by the scenario verbs that
once read ./lab.yaml whatever was asked."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from labctl.cli.main import main


def test_scenario_show_and_list_read_the_lab_file_of_dash_f(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    # The same lab with VI_1 renamed: the failover scenario (VI_1 by default) names a VRRP
    # instance this lab does not have.
    other = tmp_path / "other.yaml"
    other.write_text((tmp_path / "lab.yaml").read_text().replace("name: VI_1", "name: VI_9"))

    assert runner.invoke(main, ["scenario", "show", "failover"]).exit_code == 0
    shown = runner.invoke(main, ["scenario", "show", "failover", "-f", "other.yaml"])
    assert shown.exit_code == 2
    assert "no VRRP instance 'VI_1'" in shown.output

    listed = runner.invoke(main, ["scenario", "list", "-f", str(other)], env={"COLUMNS": "200"})
    row = next(line for line in listed.output.splitlines() if "failover" in line)
    assert "invalid" in row and listed.exit_code == 0


def test_without_a_lab_file_scenarios_are_read_against_the_reference_lab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no lab.yaml here
    result = CliRunner().invoke(main, ["scenario", "show", "failover"])
    assert result.exit_code == 0 and "failover" in result.output


def test_a_verb_given_a_missing_lab_file_names_it_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "-f", "nowhere.yaml"])
    assert result.exit_code == 2 and "nowhere.yaml" in result.output


# Each verb that reads a lab, run with `-f elsewhere/other.yaml` (lab `other`) beside a broken
# ./lab.yaml: a verb that read ./lab.yaml would exit 2 with `lab.yaml:1: broken YAML`. None
# needs a VM: a lab never brought up answers with its name.
NEVER_UP = "lab other has never been brought up here"
VERBS_THAT_READ_THE_LAB = [
    (["validate"], 0, "elsewhere/other.yaml: valid. 3 balancers"),
    (["plan", "--traffic", "1.5Gbit", "--link", "1Gbit", "--write"], 0, "6 VIPs and their priorities into"),
    (["render"], 0, "rendered"),
    (["graph"], 0, "elsewhere/topology.svg"),
    (["status"], 1, "lab other"),
    (["scenario", "show", "failover"], 0, "failover"),
    (["scenario", "list"], 0, "failover"),
    (["scenario", "run", "failover"], 1, "lab other is not up"),
    (["scenario", "restore"], 1, "lab other is not up"),
    (["capture"], 1, "lab other is not up"),
    (["check", "--assignment", "missing-assignment.yaml"], 2, "missing-assignment.yaml: cannot read"),
    (["exec", "all", "--", "true"], 1, NEVER_UP),
    (["ssh", "b1"], 1, NEVER_UP),
    (["suspend"], 1, NEVER_UP),
    (["snapshot", "list"], 1, NEVER_UP),
    (["snapshot", "save", "s1"], 1, NEVER_UP),
    (["snapshot", "restore", "s1"], 1, NEVER_UP),
    (["snapshot", "delete", "s1"], 1, NEVER_UP),
    (["down"], 0, "nothing to halt"),
    (["destroy", "--yes"], 0, "elsewhere/.labctl"),
]


@pytest.mark.parametrize(
    "args, code, said", VERBS_THAT_READ_THE_LAB, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_every_verb_reads_the_lab_file_of_dash_f(tmp_path, monkeypatch, args, code, said):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init", "elsewhere", "--name", "other"]).exit_code == 0
    (tmp_path / "elsewhere" / "lab.yaml").rename(tmp_path / "elsewhere" / "other.yaml")
    (tmp_path / "lab.yaml").write_text("name: [broken\n")
    # -f before the arguments: after `--` it would be exec's command.
    verb = args[:2] if args[0] in ("scenario", "snapshot") else args[:1]
    argv = [*verb, "-f", "elsewhere/other.yaml", *args[len(verb) :]]
    result = runner.invoke(main, argv, env={"COLUMNS": "200"})
    assert "broken YAML" not in result.output
    assert result.exit_code == code, result.output
    assert said in result.output
    if "--write" in args:
        assert "VI_6" in (tmp_path / "elsewhere" / "other.yaml").read_text()


def test_every_verb_that_takes_dash_f_is_in_the_table():
    # A new verb with -f joins VERBS_THAT_READ_THE_LAB (or the few left out, with the reason).
    left_out = {
        "up": "starts VMs",
        "dashboard": "serves until stopped",
        "grade": "grades on a running lab (its lab file written over: grade's own tests)",
    }

    def with_dash_f(group: click.Group, path: tuple[str, ...] = ()) -> set[str]:
        found = set()
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found |= with_dash_f(command, (*path, name))
            elif any("-f" in p.opts for p in command.params):
                found.add(" ".join((*path, name)))
        return found

    tested = {" ".join(a[:2] if a[0] in ("scenario", "snapshot") else a[:1]) for a, _, _ in VERBS_THAT_READ_THE_LAB}
    assert with_dash_f(main) - tested - set(left_out) == set()


def test_grade_writes_a_students_lab_over_the_lab_file_of_dash_f(tmp_path, monkeypatch):
    # It wrote DIR/lab.yaml whatever -f said, and checked the lab of -f: the reference.
    from dataclasses import replace
    from types import SimpleNamespace

    from labctl.cli.grade import VagrantLabRunner
    from labctl.model.initlab import initial_lab, lab_file_text
    from labctl.model.labfile import read_lab

    reference = initial_lab("other")
    path = tmp_path / "other.yaml"
    path.write_text(lab_file_text(reference))
    runner = VagrantLabRunner(path, reference, assignment=None)
    monkeypatch.setattr(runner, "_up", lambda lab: None)  # no VMs here
    student = replace(reference, vips=reference.vips[:1])
    runner.apply(None, SimpleNamespace(imported=SimpleNamespace(lab=student)))
    assert read_lab(path).vips == student.vips
    assert not (tmp_path / "lab.yaml").exists()
