"""Scenario files: the shipped ones are valid; bad ones are refused with FILE:LINE: path: reason."""

from __future__ import annotations

import textwrap

import pytest

from labctl.model.lab import reference_lab
from labctl.scenario.loader import (
    ScenarioError,
    builtin_names,
    find,
    parse_scenario,
    parse_set_options,
    read_scenario,
)

LAB = reference_lab()


def problems(text: str, overrides=None, lab=LAB) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(textwrap.dedent(text), "s.yaml", overrides, lab)
    return [str(p) for p in info.value.problems]


GOOD = """\
description: a test
parameters:
  method: {type: choice, choices: [poweroff, keepalived-stop], default: poweroff}
  pause: {type: float, default: 1}
steps:
  - capture: {role: balancer}
    interval: 0.5
  - action: down
    method: ${method}
    target: {master_of: VI_1}
    as: victim
  - wait: ${pause}
  - action: up
    method: ${method}
    target: victim
  - expect: moved
    metric: vips.VI_1.moved_after_s
    max: 5
"""


def test_builtin_scenarios_are_valid_for_the_reference_lab():
    assert {"failover", "inactconn", "real-down", "capacity"} <= set(builtin_names())
    for name in builtin_names():
        scenario = read_scenario(find(name), lab=LAB)
        assert scenario.description and scenario.steps and scenario.expectations()


def test_parameters_are_substituted_with_their_types():
    scenario = parse_scenario(GOOD, "s.yaml", {"pause": "2.5", "method": "keepalived-stop"}, LAB)
    assert scenario.values["pause"] == 2.5
    wait = scenario.steps[2]
    assert (wait.kind, wait.value) == ("wait", 2.5)
    assert scenario.steps[1].options["method"] == "keepalived-stop"
    assert scenario.steps[1].where == "s.yaml:8"


def test_unknown_step_names_file_line_and_suggests():
    found = problems(GOOD.replace("  - wait: ${pause}", "  - wiat: ${pause}"))
    assert found == ["s.yaml:12: steps.2.wiat: unknown step; did you mean 'wait'?"]


def test_bad_target_names_the_line():
    found = problems(GOOD.replace("{master_of: VI_1}", "{master_of: VI_9}"))
    assert found == ["s.yaml:10: steps.1.target: bad target: no VRRP instance 'VI_9' (VI_1, VI_2, VI_3)"]
    found = problems(GOOD.replace("{role: balancer}", "b9"))
    assert found[0].startswith("s.yaml:6: steps.0.capture: bad target: no node 'b9'")


def test_reference_must_be_bound_before_use():
    text = GOOD.replace("    as: victim\n", "")
    found = problems(text)
    assert found == [
        "s.yaml:14: steps.3.target: bad target: no node 'victim' in lab lab "
        "(b1, b2, b3, r1, r2, c1); no reference is bound by an earlier `as:` either"
    ]
    found = problems(text.replace("target: victim", "target: {ref: victim}"))
    assert found == [
        "s.yaml:14: steps.3.target: bad target: reference 'victim' is not bound by an earlier `as:` (bound: none)"
    ]


def test_missing_parameter():
    found = problems(GOOD.replace("wait: ${pause}", "wait: ${pasue}"))
    assert found[0].startswith("s.yaml:12: steps.2.wait: missing parameter ${pasue}")
    found = problems(GOOD.replace("pause: {type: float, default: 1}", "pause: {type: float}"))
    assert found == ["s.yaml:4: parameters.pause: missing parameter: it has no default, give it with --set pause=VALUE"]


def test_bad_types_in_file_and_on_the_command_line():
    found = problems(GOOD.replace("interval: 0.5", "interval: fast"))
    assert found == ["s.yaml:7: steps.0.interval: must be a number >= 0.05, got 'fast'"]
    assert problems(GOOD, {"pause": "soon"}) == ["--set: pause: pause must be a number, got 'soon'"]
    assert problems(GOOD, {"method": "unplug"})[0].startswith("--set: method: method must be one of")
    assert problems(GOOD, {"paus": "1"}) == ["--set: paus: unknown parameter; did you mean 'pause'?"]


def test_unknown_action_and_option():
    found = problems(GOOD.replace("action: up", "action: power-of"))
    assert found[0] == ("s.yaml:13: steps.3.action: unknown action 'power-of'; did you mean 'power-off'?")
    found = problems(GOOD.replace("    interval: 0.5", "    intervall: 0.5"))
    assert found == ["s.yaml:7: steps.0.intervall: unknown option of capture; did you mean 'interval'?"]


def test_down_needs_a_method_and_expect_a_bound():
    found = problems(GOOD.replace("    method: ${method}\n    target: {master_of", "    target: {master_of"))
    assert "needs `method:`" in found[0] and found[0].startswith("s.yaml:8:")
    found = problems(GOOD.replace("    max: 5\n", ""))
    assert found == ["s.yaml:16: steps.4.expect: an expectation needs max, min or equals"]


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("wait: ${pause}", "wiat: 1").replace("{master_of: VI_1}", "{master_of: X}")
    assert len(problems(text)) == 2


def test_broken_yaml_and_missing_sections():
    assert problems("description: x\nsteps: [\n")[0].startswith("s.yaml:")
    assert problems("steps:\n  - wait: 1\n") == [
        "s.yaml:1: description: a scenario needs a description (one or more sentences)"
    ]


def test_set_options():
    assert parse_set_options(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ScenarioError):
        parse_set_options(["novalue"])


def test_find_unknown_name():
    with pytest.raises(ScenarioError) as info:
        find("nosuch")
    assert "built in:" in str(info.value)


def test_a_scenario_carries_its_own_explanation_for_the_report():
    failover = read_scenario(find("failover"), lab=LAB)
    assert "master-down interval" in failover.explanation and "\n" not in failover.explanation
    bad = problems("description: x\nexplanation: [not, text]\nsteps:\n  - wait: 1\n")
    assert bad == ["s.yaml:2: explanation: the explanation is text (one or more sentences)"]


def test_every_step_kind_is_registered_in_one_place():
    from labctl.scenario.steps import all_kinds

    kinds = all_kinds()
    assert list(kinds)[:4] == ["probe", "stop_probe", "capture", "stop_capture"]
    assert set(kinds) == {
        "probe",
        "stop_probe",
        "capture",
        "stop_capture",
        "traffic",
        "stop_traffic",
        "counters",
        "stop_counters",
        "wait",
        "wait_until",
        "action",
        "expect",
        "foreach",
        "note",
        "mark",
    }
    assert all(k.run is not None and k.doc for k in kinds.values())


def test_an_action_when_that_is_not_a_comparison_names_the_line():
    text = "description: x\nsteps:\n  - action: power-off\n    target: b1\n    when: sometimes\n"
    with pytest.raises(ScenarioError, match=r"t.yaml:5: .*when: use `A == B` or `A != B`"):
        parse_scenario(text, "t.yaml", {}, reference_lab())
