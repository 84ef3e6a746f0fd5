"""One lab-file reader for every command: `-f` is honoured, also by the scenario verbs that
once read ./lab.yaml whatever was asked."""

from __future__ import annotations

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
