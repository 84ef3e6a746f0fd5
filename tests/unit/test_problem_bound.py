"""A file with thousands of problems: the first LISTED_MAX are listed, the rest counted in one last
line, and wording them (the 'did you mean' search) is done only for the listed ones."""

from __future__ import annotations

import difflib
import ipaddress

import pytest
import yaml

from labctl.model import labfile
from labctl.model.lab import NetworkSettings
from labctl.model.labfile import LabFileError, allocate_vip_addresses, parse_lab
from labctl.model.positions import YamlSyntaxError, load
from labctl.model.problems import LISTED_MAX
from labctl.scenario.loader import ScenarioError, parse_scenario

KNOWN = ", ".join(labfile.TOP_KEYS)


def unknown_keys(n: int) -> str:
    """`name: lab` then N unknown top-level keys, key00000 on line 2."""
    return yaml.safe_dump({"name": "lab", **{f"key{i:05d}": i for i in range(n)}}, sort_keys=False)


def lab_problems(text: str) -> LabFileError:
    with pytest.raises(LabFileError) as caught:
        parse_lab(text, "lab.yaml")
    return caught.value


def test_twenty_thousand_unknown_keys_list_the_first_ones_in_file_order_then_a_count():
    exc = lab_problems(unknown_keys(20_000))
    lines = [str(p) for p in exc.problems]
    assert len(lines) == LISTED_MAX + 1
    assert lines[:LISTED_MAX] == [
        f"lab.yaml:{i + 2}: key{i:05d}: unknown key; known keys: {KNOWN}" for i in range(LISTED_MAX)
    ]
    assert lines[-1] == f"lab.yaml: and {20_000 - LISTED_MAX:,} more problems"
    assert exc.more == 20_000 - LISTED_MAX
    assert str(exc).splitlines() == lines


@pytest.mark.parametrize("n,last", [(LISTED_MAX, None), (LISTED_MAX + 1, "lab.yaml: and 1 more problem")])
def test_the_count_line_only_when_some_are_left_out(n, last):
    lines = [str(p) for p in lab_problems(unknown_keys(n)).problems]
    listed = lines[:LISTED_MAX]
    assert listed[-1].startswith(f"lab.yaml:{LISTED_MAX + 1}: key{LISTED_MAX - 1:05d}: unknown key")
    assert lines[LISTED_MAX:] == ([last] if last else [])


FEW = """\
name: lab
provider: {name: virtualbox, memry: 256}
balancers: {b1: 10.10.1.2, b2: 10.10.1.3, b3: 10.10.1.4}
reals: {r1: 10.10.2.11, r2: 10.10.1.12}
clients: {c1: 10.10.1.100}
vips:
  - {name: VI_1, address: 10.10.1.10, vrid: 55, priorities: {b1: 102, b2: 101, b4: 100}}
vrrp: {advert_int: 0}
netwrk: {cidr: 10.10.1.0/24}
"""


def test_a_few_problems_read_as_before_the_bound():
    # Written by the reader before the bound, word for word and in the same order.
    exc = lab_problems(FEW)
    assert [str(p) for p in exc.problems] == [
        "lab.yaml:9: netwrk: unknown key; did you mean 'network'?",
        "lab.yaml:2: provider.memry: unknown key; did you mean 'memory'?",
        "lab.yaml:4: reals.r1: 10.10.2.11 is outside the lab network 10.10.1.0/24",
        "lab.yaml:8: vrrp.advert_int: 0 is out of range: use 1 to 255",
        "lab.yaml:7: vips.0.priorities.b4: 'b4' is not a balancer; did you mean 'b3'?",
    ]
    assert exc.more == 0


def test_did_you_mean_is_searched_for_listed_problems_only(monkeypatch):
    # A spy, not a mock: the real difflib runs; the count shows the costly wording stays bounded
    # however many keys are wrong (it was once per key).
    calls = []
    real = difflib.get_close_matches

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    for n in (1_000, 20_000):
        calls.clear()
        text = unknown_keys(n).replace("key00000", "nmae", 1)
        problems = lab_problems(text).problems
        assert problems[0].message == "unknown key; did you mean 'name'?"
        assert len(calls) == LISTED_MAX, n


def test_a_scenario_with_thousands_of_problems_is_bounded_the_same_way():
    data = {"description": "d", "steps": [{"wait": 1, f"opt{i:05d}": 1} for i in range(5_000)]}
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(yaml.safe_dump(data, sort_keys=False), "s.yaml")
    lines = [str(p) for p in caught.value.problems]
    assert len(lines) == LISTED_MAX + 1
    assert lines[0].startswith("s.yaml:4: steps.0.opt00000: unknown option of wait")
    assert lines[LISTED_MAX - 1].startswith(f"s.yaml:{4 + 2 * (LISTED_MAX - 1)}: steps.{LISTED_MAX - 1}.opt")
    assert lines[-1] == f"s.yaml: and {5_000 - LISTED_MAX:,} more problems"


def test_scalars_are_made_as_safe_load_makes_them():
    text = "a: 0x1f\nb: yes\nc: ~\nd: 1.5\ne: 2020-01-02\nf: '7'\ng: !!str 5\nh: .inf\ni: !!float 3\n"
    assert load(text).data == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["a: 1\nb: !!map foo\n", "a: 1\nb: !!seq foo\n"])
def test_a_collection_tag_on_a_plain_value_is_refused_as_safe_load_refuses_it(text):
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(YamlSyntaxError) as caught:
        load(text)
    assert caught.value.line == 2


def test_vip_addresses_are_found_past_thousands_of_taken_ones():
    net = ipaddress.IPv4Network("10.20.0.0/16")
    taken = {str(net.network_address + i) for i in range(2, 5_002)}
    assert allocate_vip_addresses(NetworkSettings(cidr=str(net)), taken, 3) == [
        "10.20.19.138",
        "10.20.19.139",
        "10.20.19.140",
    ]
