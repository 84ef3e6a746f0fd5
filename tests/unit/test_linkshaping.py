"""Link changes as text: which hooks see which direction on each side, the rulesets and qdisc
commands, and the scenario checks that refuse a bad link action before anything runs."""

from __future__ import annotations

import textwrap

import pytest

from labctl.lab.links import linkshaping as ls
from labctl.model.lab import reference_lab
from labctl.scenario.loader import ScenarioError, parse_scenario


def test_the_host_side_sees_traffic_toward_the_node_on_egress():
    assert ls.hooks("host", "toward") == [("toward", "egress")]
    assert ls.hooks("node", "toward") == [("toward", "ingress")]
    assert ls.hooks("node", "from") == [("from", "egress")]
    assert ls.hooks("host", "both") == [("toward", "egress"), ("from", "ingress")]
    with pytest.raises(ls.LinkError):
        ls.hooks("host", "sideways")


def test_rulesets_drop_at_random_or_every_vrrp_advert():
    loss = ls.filter_ruleset("loss", "host", "vnet3", "both", loss_pct=12.5)
    assert "table netdev labctl_loss_vnet3 {" in loss
    assert loss.count("numgen random mod 1000 < 125 drop") == 2
    assert 'hook egress device "vnet3"' in loss and 'hook ingress device "vnet3"' in loss
    cut = ls.filter_ruleset("vrrp", "node", "eth1", "from", drop_vrrp=True)
    assert "ip protocol 112 drop" in cut and "numgen" not in cut and "hook ingress" not in cut
    assert "    drop\n" in ls.filter_ruleset("loss", "host", "v1", "toward", loss_pct=100)


def test_interface_names_cannot_inject_anything():
    for bad in ('v1" ; flush ruleset', "a b", "", "x" * 16):
        with pytest.raises(ls.LinkError):
            ls.filter_ruleset("loss", "host", bad, "both", 5)
        with pytest.raises(ls.LinkError):
            ls.tbf_add(bad, 1e6)
    with pytest.raises(ls.LinkError):
        ls.filter_ruleset("loss", "host", "v1", "both", 120)


def test_qdisc_commands():
    assert ls.netem_add("vnet0", 40, 5, 1.5) == [
        "tc", "qdisc", "replace", "dev", "vnet0", "root", "netem", "delay", "40ms", "5ms", "loss", "1.5%",
    ]  # fmt: skip
    assert ls.netem_add("vnet0", 0, 0, 10)[-2:] == ["loss", "10%"]
    tbf = ls.tbf_add("vnet0", 10e6)
    assert tbf[tbf.index("rate") + 1] == "10000000bit"
    assert int(tbf[tbf.index("burst") + 1]) == 62500  # 50 ms at 10 Mbit/s
    assert ls.qdisc_unsupported("Error: Specified qdisc kind is unknown.")


def _problems(steps: str) -> list[str]:
    text = "description: t\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")
    text += "  - expect: x\n    metric: error\n    equals: null\n"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml", None, reference_lab())
    return [str(p) for p in info.value.problems]


def test_bad_link_actions_are_refused_when_loaded():
    assert any("impair needs delay, jitter and/or loss" in p for p in _problems("- action: impair\n  target: b1\n"))
    assert any("shape needs `rate:`" in p for p in _problems("- action: shape\n  target: b1\n"))
    assert any("loss is a percentage" in p for p in _problems("- action: impair\n  target: b1\n  loss: 150\n"))
    assert any(
        "direction must be one of" in p for p in _problems("- action: vrrp-cut\n  target: b1\n  direction: up\n")
    )
    assert any("only impair take delay" in p for p in _problems("- action: vrrp-cut\n  target: b1\n  delay: 5\n"))
    assert any("at must be one of" in p for p in _problems("- action: impair\n  target: b1\n  loss: 5\n  at: vm\n"))


def test_good_link_actions_load():
    text = textwrap.dedent(
        """\
        description: t
        steps:
          - action: impair
            target: {master_of: VI_1}
            delay: 40
            jitter: 5
            loss: 1
          - action: vrrp-cut
            target: b2
            direction: both
          - action: shape
            target: {role: balancer}
            rate: 10Mbit
          - expect: x
            metric: error
            equals: null
        """
    )
    scenario = parse_scenario(text, "s.yaml", None, reference_lab())
    assert [s.value for s in scenario.steps[:3]] == ["impair", "vrrp-cut", "shape"]
