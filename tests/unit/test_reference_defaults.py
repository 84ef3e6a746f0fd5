"""The defaults ARE the reference lab: rendered keepalived.conf files match the homework's."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.lab.vms.render import BoxRef, RenderContext, node_files
from labctl.model.initlab import initial_lab, lab_file_text
from labctl.model.lab import reference_lab
from labctl.model.labfile import parse_lab
from tests.support.keepalived_conf import reference_files, vrrp_instances

HOMEWORK = (Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt").read_text()
CTX = RenderContext(box=BoxRef("debian/bookworm64"), auth_pass="Ab3dEf7h")
COMPARED = ("state", "interface", "virtual_router_id", "priority", "advert_int", "auth_type", "vips")


def rendered_keepalived(lab, name: str) -> str:
    files = {f.path: f.content for f in node_files(lab, lab.node(name), CTX)}
    return files["keepalived.conf"]


def test_reference_has_three_balancer_files():
    assert sorted(reference_files(HOMEWORK)) == ["b1", "b2", "b3"]


@pytest.mark.parametrize("balancer", ["b1", "b2", "b3"])
def test_default_lab_file_renders_the_reference_keepalived(balancer):
    # Through the whole path a user takes: init's file text, parsed and validated, rendered.
    lab = parse_lab(lab_file_text(initial_lab()))
    ours = vrrp_instances(rendered_keepalived(lab, balancer))
    theirs = vrrp_instances(reference_files(HOMEWORK)[balancer])
    assert sorted(ours) == sorted(theirs) == ["VI_1", "VI_2", "VI_3"]
    for instance in theirs:
        for key in COMPARED:
            assert ours[instance][key] == theirs[instance][key], (balancer, instance, key)


def test_generated_password_replaces_the_truncated_reference_one():
    conf = rendered_keepalived(reference_lab(), "b1")
    assert "auth_pass Ab3dEf7h" in conf
    assert "P0S@word2" not in conf


def test_reference_ties_are_reproduced_and_resolved_by_address():
    lab = reference_lab()
    vi2, vi3 = lab.vip("VI_2"), lab.vip("VI_3")
    assert vi2.priorities["b1"] == vi2.priorities["b3"] == 101
    assert vi3.priorities["b1"] == vi3.priorities["b2"] == 100
    # The model ranks b3 (10.10.1.4) over b1 (10.10.1.2): the higher address settles a
    # simultaneous claim (which one really wins after a failure is a matter of timing).
    assert lab.elected_master(vi2, alive={"b1", "b3"}) == "b3"
    assert lab.elected_master(vi3, alive={"b1", "b2"}) == "b2"


def test_reference_ipvs_rules_match_the_homework_table():
    lab = reference_lab()
    files = {f.path: f.content for f in node_files(lab, lab.node("b1"), CTX)}
    rules = files["ipvsadm.rules"].splitlines()
    for vip in ("10.10.1.10", "10.10.1.20", "10.10.1.30"):
        assert f"-A -t {vip}:80 -s rr" in rules
        for real in ("10.10.1.11", "10.10.1.12"):
            assert f"-a -t {vip}:80 -r {real}:80 -g -w 1" in rules
    assert len(rules) == 9


def test_priority_ties_name_each_shared_priority_in_backup_order():
    """The reference's two ties (VI_2: b1 and b3 at 101, VI_3: b1 and b2 at 100), each listed
    in VRRP's order: the higher address first (the likelier winner of a simultaneous claim)."""
    from labctl.model.lab import reference_lab

    lab = reference_lab()
    assert lab.priority_ties(lab.vip("VI_1")) == []
    assert lab.priority_ties(lab.vip("VI_2")) == [(101, ["b3", "b1"])]
    assert lab.priority_ties(lab.vip("VI_3")) == [(100, ["b2", "b1"])]
