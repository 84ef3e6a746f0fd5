"""Machines are named to Vagrant by their index ids once they exist: Vagrant 2.3 takes a name
for a prefix of any machine's id first, and hex names (b1, c1) can be one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.lab.vms.vagrant import LabVagrant

B1 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
B2 = "b1ab955ec1f94bd4976afbb39c02227b"  # starts with "b1", as seen in a real lab


def lab_vagrant(tmp_path: Path, made: dict[str, str], home: Path | None = None) -> LabVagrant:
    home = home or tmp_path / "vagrant.d"
    index = home / "data" / "machine-index" / "index"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps({"version": 1, "machines": {uid: {"name": n} for n, uid in made.items()}}))
    render = tmp_path / "lab" / ".labctl" / "x" / "render"
    for node, uid in made.items():
        folder = render / ".vagrant" / "machines" / node / "libvirt"
        folder.mkdir(parents=True)
        (folder / "index_uuid").write_text(uid)
        (folder / "id").write_text("domain-uuid")
    logs = tmp_path / "lab" / ".labctl" / "x" / "logs"
    return LabVagrant(render, {"VAGRANT_HOME": str(home)}, logs / "vagrant.log")


def test_made_machines_are_named_by_their_ids_the_others_by_name(tmp_path):
    vagrant = lab_vagrant(tmp_path, {"b1": B1, "b2": B2})
    assert vagrant.targets(["b1", "b2", "r1"]) == [B1, B2, "r1"]
    assert vagrant.created() == ["b1", "b2"]


def test_a_name_vagrant_would_take_for_another_machine_is_refused(tmp_path):
    # b1 not made yet, b2's id starts with "b1": `vagrant up b1` would bring up b2.
    vagrant = lab_vagrant(tmp_path, {"b2": B2})
    with pytest.raises(LabctlError, match="would take node name 'b1'"):
        vagrant.targets(["b1"])


def test_an_id_missing_from_the_index_falls_back_to_the_name(tmp_path):
    vagrant = lab_vagrant(tmp_path, {"b1": B1})
    (tmp_path / "vagrant.d" / "data" / "machine-index" / "index").write_text('{"version": 1, "machines": {}}')
    assert vagrant.targets(["b1"]) == ["b1"]


def test_an_index_left_empty_by_a_killed_vagrant_is_reset_in_the_labs_own_home(tmp_path):
    # The sandbox's Vagrant home is in the lab's state folder: labctl's to repair.
    home = tmp_path / "lab" / ".labctl" / "x" / "sandbox" / "vagrant.d"
    vagrant = lab_vagrant(tmp_path, {"b1": B1}, home=home)
    index = home / "data" / "machine-index" / "index"
    index.write_text("")
    assert vagrant.targets(["b1"]) == ["b1"]  # Vagrant adds b1 back from .vagrant/machines
    assert json.loads(index.read_text()) == {"version": 1, "machines": {}}


def test_an_unreadable_index_in_the_users_home_is_an_error(tmp_path):
    vagrant = lab_vagrant(tmp_path, {"b1": B1})
    (tmp_path / "vagrant.d" / "data" / "machine-index" / "index").write_text("")
    with pytest.raises(LabctlError, match="cannot read Vagrant's machine index"):
        vagrant.targets(["b1"])
