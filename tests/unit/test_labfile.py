"""Every validation rule, with the line and key path it names."""

from __future__ import annotations

import os
import stat

import pytest

from labctl.lab.host.state import LabState, vrrp_password
from labctl.model.initlab import initial_lab, lab_file_text
from labctl.model.labfile import LabFileError, parse_lab, read_lab

BASE = lab_file_text(initial_lab())


def problems(text: str) -> list[str]:
    with pytest.raises(LabFileError) as caught:
        parse_lab(text, "lab.yaml")
    return [str(p) for p in caught.value.problems]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def edited(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def test_default_file_is_valid():
    lab = parse_lab(BASE)
    assert [n.name for n in lab.nodes] == ["b1", "b2", "b3", "r1", "r2", "c1"]
    assert [v.vrid for v in lab.vips] == [55, 56, 57]


def test_address_outside_the_network():
    text = edited("r1: 10.10.1.11", "r1: 10.10.2.11")
    assert problems(text) == [
        f"lab.yaml:{line_of(text, 'r1: 10.10.2.11')}: reals.r1: 10.10.2.11 is outside the lab network 10.10.1.0/24"
    ]


def test_duplicate_address():
    text = edited("r2: 10.10.1.12", "r2: 10.10.1.11")
    (msg,) = problems(text)
    assert (
        msg
        == f"lab.yaml:{line_of(text, 'r2: 10.10.1.11')}: reals.r2: duplicate address 10.10.1.11: reals.r1 has it already"
    )


def test_vip_equal_to_a_node_address():
    text = edited("address: 10.10.1.20", "address: 10.10.1.12")
    (msg,) = problems(text)
    assert (
        msg
        == f"lab.yaml:{line_of(text, 'address: 10.10.1.12')}: vips.1.address: 10.10.1.12 is node r2's address; a VIP needs an address of its own"
    )


def test_duplicate_vrid():
    text = edited("vrid: 56", "vrid: 55")
    (msg,) = problems(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, 'vrid: 55') + 4}: vips.1.vrid: duplicate vrid 55")


@pytest.mark.parametrize("value", ["0", "256", "abc"])
def test_vrid_out_of_range(value):
    text = edited("vrid: 57", f"vrid: {value}")
    (msg,) = problems(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, f'vrid: {value}')}: vips.2.vrid: ")
    assert "1 to 255" in msg


def test_priority_out_of_range_and_master_tie():
    text = edited("{b1: 102, b2: 101, b3: 100}", "{b1: 255, b2: 101, b3: 100}")
    (msg,) = problems(text)
    assert msg.endswith("vips.0.priorities.b1: 255 is out of range: use 1 to 254")
    text = edited("{b1: 102, b2: 101, b3: 100}", "{b1: 102, b2: 102, b3: 100}")
    (msg,) = problems(text)
    assert "vips.0.priorities: two balancers share the top priority 102" in msg


def test_priority_for_an_unknown_balancer():
    text = edited("{b1: 102, b2: 101, b3: 100}", "{b1: 102, b2: 101, b4: 100}")
    (msg,) = problems(text)  # b3 without a priority is no problem: the instance is on b1 and b2
    assert msg.endswith("vips.0.priorities.b4: 'b4' is not a balancer; did you mean 'b3'?")


def test_a_vip_on_some_balancers_only():
    text = edited("{b1: 100, b2: 100, b3: 102}", "{b3: 102}")
    text = text.replace("{b1: 102, b2: 101, b3: 100}", "{b1: 102, b3: 100}", 1)
    lab = parse_lab(text)
    assert lab.vip("VI_3").priorities == {"b3": 102}
    assert lab.vip("VI_1").priorities == {"b1": 102, "b3": 100}
    assert lab.elected_master(lab.vip("VI_3"), {"b1", "b2"}) is None
    assert lab.backup_order(lab.vip("VI_1")) == ["b1", "b3"]


def test_a_vip_needs_at_least_one_balancer():
    text = edited("{b1: 100, b2: 100, b3: 102}", "{}")
    (msg,) = problems(text)
    assert msg == f"lab.yaml:{line_of(text, '{}')}: vips.2.priorities: give at least one balancer a priority"


def test_malformed_address():
    text = edited("b2: 10.10.1.3", "b2: 10.10.1.300")
    (msg,) = problems(text)
    assert (
        msg
        == f"lab.yaml:{line_of(text, '10.10.1.300')}: balancers.b2: '10.10.1.300' is not an IPv4 address such as 10.10.1.11"
    )


def test_bridge_address_is_refused():
    text = edited("c1: 10.10.1.100", "c1: 10.10.1.1")
    (msg,) = problems(text)
    assert "libvirt gives its bridge" in msg


def test_unknown_key_with_did_you_mean():
    text = edited("  scheduler: rr", "  schedular: rr")
    (msg,) = problems(text)
    assert msg == f"lab.yaml:{line_of(text, 'schedular')}: ipvs.schedular: unknown key; did you mean 'scheduler'?"
    text = BASE + "\nbalancer_count: 3\n"
    (msg,) = problems(text)
    assert "balancer_count: unknown key" in msg


@pytest.mark.parametrize("name", ["B1", "b_1", "b1;rm", "-b", "1b"])
def test_bad_node_name(name):
    text = edited("b1: 10.10.1.2", f"'{name}': 10.10.1.2")
    found = problems(text)
    assert any(f"balancers.{name}: bad node name" in p for p in found)


def test_password_longer_than_keepalived_reads_is_kept_as_written():
    # keepalived cuts it to 8 itself; an imported submission's lab keeps what the student wrote.
    text = edited("  # auth_pass: keepalived uses", "  auth_pass: P0S@word2\n  # keepalived uses")
    assert parse_lab(text).vrrp.auth_pass == "P0S@word2"


@pytest.mark.parametrize("password", ["x" * 65, "two words", "quote'd", 12345678, ""])
def test_password_that_is_no_plain_keepalived_token(password):
    text = edited("  # auth_pass: keepalived uses", f"  auth_pass: {password!r}\n  # keepalived uses")
    (msg,) = problems(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, 'auth_pass: ')}: vrrp.auth_pass: ")


def test_choice_values():
    text = edited("manager: ipvsadm", "manager: ansible")
    (msg,) = problems(text)
    assert "ipvs.manager: 'ansible' is not one of ipvsadm, keepalived" in msg


def test_several_problems_are_all_reported():
    text = edited("r1: 10.10.1.11", "r1: 10.10.9.11").replace("vrid: 57", "vrid: 300")
    assert len(problems(text)) == 2


def test_missing_empty_and_broken_files(tmp_path):
    with pytest.raises(LabFileError) as caught:
        read_lab(tmp_path / "lab.yaml")
    assert "no such lab file; create one with `labctl init`" in str(caught.value)
    (tmp_path / "lab.yaml").write_text("   \n")
    with pytest.raises(LabFileError) as caught:
        read_lab(tmp_path / "lab.yaml")
    assert "the lab file is empty" in str(caught.value)
    (tmp_path / "lab.yaml").write_text("name: lab\nreals:\n  r1: [10.10.1.11\n")
    with pytest.raises(LabFileError) as caught:
        read_lab(tmp_path / "lab.yaml")
    (problem,) = caught.value.problems
    assert problem.line is not None and "broken YAML" in problem.message
    (tmp_path / "lab.yaml").write_text("- just\n- a list\n")
    with pytest.raises(LabFileError):
        read_lab(tmp_path / "lab.yaml")


def test_network_change_moves_validation(tmp_path):
    text = BASE.replace("10.10.1.", "192.168.7.")
    lab = parse_lab(text)
    assert lab.network.cidr == "192.168.7.0/24"
    assert lab.vip("VI_1").address == "192.168.7.10"


def test_vip_count_from_the_planner():
    start = BASE.index("vips:\n")
    end = BASE.index("\n\nvrrp:")
    text = BASE[:start] + "vips:\n  count: 6\n" + BASE[end:]
    lab = parse_lab(text)
    assert len(lab.vips) == 6
    assert [v.address for v in lab.vips][:3] == ["10.10.1.10", "10.10.1.20", "10.10.1.30"]
    assert len({v.master for v in lab.vips}) == 3
    for vip in lab.vips:
        assert len(set(vip.priorities.values())) == 3  # no ties


def test_password_is_generated_once_and_kept_private(tmp_path):
    lab = parse_lab(BASE)
    state = LabState(tmp_path / ".labctl" / "lab")
    first = vrrp_password(lab, state)
    assert len(first) == 8 and first.isalnum()
    assert vrrp_password(lab, state) == first
    assert stat.S_IMODE(os.stat(state.secrets_file).st_mode) == 0o600
    other = vrrp_password(lab, LabState(tmp_path / ".labctl" / "other"))
    assert other != first
