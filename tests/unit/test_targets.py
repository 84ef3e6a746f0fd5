"""One target grammar for the command line and for scenarios: `role:balancer` (canonical) and
`balancers` (the alias) name the same nodes in both; a bad target names the accepted forms."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from labctl.cli.main import main
from labctl.errors import EXIT_BAD_INPUT
from labctl.model.lab import reference_lab
from labctl.model.targets import Target, TargetError, nodes_of, parse_target, resolve
from labctl.scenario.loader import ScenarioError, parse_scenario

LAB = reference_lab()
NO_HOLDER = lambda _address: None  # noqa: E731

# (the scenario files' canonical spelling, an alias), and the nodes both name.
SPELLINGS = [
    ("role:balancer", "balancers", ["b1", "b2", "b3"]),
    ("role:balancer", "balancer", ["b1", "b2", "b3"]),
    ("role:balancer", "role:balancers", ["b1", "b2", "b3"]),
    ("role:real", "reals", ["r1", "r2"]),
    ("role:client", "clients", ["c1"]),
    ("all", "all", ["b1", "b2", "b3", "r1", "r2", "c1"]),
    ("b2", "node:b2", ["b2"]),
]


@pytest.mark.parametrize("canonical, alias, nodes", SPELLINGS)
def test_both_spellings_name_the_same_nodes_on_the_command_line_and_in_a_scenario(canonical, alias, nodes):
    assert nodes_of(LAB, canonical) == nodes_of(LAB, alias) == nodes  # labctl exec/down/suspend
    for spelling in (canonical, alias):
        assert resolve(parse_target(spelling), LAB, {}, NO_HOLDER) == nodes  # a scenario step's target


def test_a_yaml_mapping_is_the_same_target():
    assert parse_target({"role": "balancers"}) == parse_target("balancers") == Target("role", "balancer")
    assert str(parse_target("balancers")) == "role:balancer"  # shown in the canonical spelling


def scenario_with_target(target: str):
    text = f"""\
    description: targets
    steps:
      - capture: {target}
      - action: keepalived-stop
        target: {target}
    """
    return parse_scenario(textwrap.dedent(text), "s.yaml", None, LAB)


@pytest.mark.parametrize("spelling", ["role:balancer", "'{role: balancer}'", "balancers", "balancer"])
def test_a_scenario_accepts_either_spelling(spelling):
    scenario = scenario_with_target(spelling.strip("'") if spelling.startswith("'") else spelling)
    for step in scenario.steps:
        value = step.value if step.kind == "capture" else step.options["target"]
        assert resolve(parse_target(value), LAB, {}, NO_HOLDER) == ["b1", "b2", "b3"]


def test_a_bad_target_on_the_command_line_names_the_accepted_forms():
    with pytest.raises(TargetError) as caught:
        nodes_of(LAB, "b9")
    assert caught.value.exit_code == EXIT_BAD_INPUT
    message = caught.value.message
    assert message.startswith("no node or role 'b9': use a node (b1, b2, b3, r1, r2, c1)")
    assert "role:balancer" in message and "balancers" in message and "all" in message
    with pytest.raises(TargetError, match="no role 'server': the roles are balancer, real, client"):
        nodes_of(LAB, "role:server")
    with pytest.raises(TargetError, match="unknown target kind 'rol': a target is a node"):
        nodes_of(LAB, "rol:balancer")
    with pytest.raises(TargetError, match="needs a running scenario.*on the command line use a node, a role"):
        nodes_of(LAB, "master_of:VI_1")


def test_a_bad_target_in_a_scenario_is_refused_with_its_line():
    with pytest.raises(ScenarioError) as caught:
        scenario_with_target("role:server")
    assert [str(p) for p in caught.value.problems][0] == (
        "s.yaml:3: steps.0.capture: bad target: no role 'server': the roles are balancer, real, client "
        "(role:balancer, or balancers)"
    )


def test_a_reference_may_not_be_named_like_a_target_word():
    text = """\
    description: refs
    steps:
      - action: keepalived-stop
        target: b1
        as: balancers
    """
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(textwrap.dedent(text), "s.yaml", None, LAB)
    assert "`as: balancers` is a target word (a role or all): choose another name" in str(caught.value.problems[0])


@pytest.mark.parametrize("argv", [["exec", "role:real", "--", "true"], ["exec", "reals", "--", "true"]])
def test_the_cli_takes_either_spelling(tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    result = runner.invoke(main, argv)
    assert "has never been brought up" in result.output and result.exit_code == 1  # got past the target


def test_the_cli_refuses_a_bad_target_with_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    bad = runner.invoke(main, ["suspend", "role:server"])
    assert bad.exit_code == EXIT_BAD_INPUT and "no role 'server'" in bad.output
    several = runner.invoke(main, ["ssh", "balancers"])
    assert several.exit_code == EXIT_BAD_INPUT and "ssh opens one node; balancers is b1, b2, b3" in several.output
