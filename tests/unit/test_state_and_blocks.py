"""Lab state bookkeeping and the text surgery behind `plan --write`."""

from __future__ import annotations

from labctl.lab.host.state import LabState
from labctl.lab.running import RunInfo, find_states
from labctl.model.initlab import initial_lab, replace_top_level_block


def test_runinfo_round_trip_and_discovery(tmp_path):
    lab = initial_lab("alpha", provider="libvirt", driver="qemu", box="local")
    state = LabState.for_lab(tmp_path / "lab.yaml", lab.name)
    assert find_states(tmp_path) == []
    RunInfo.of(lab).save(state)
    assert RunInfo.load(state) == RunInfo("alpha", "libvirt", "netns", "labctl-alpha", 128)
    assert [s.root.name for s in find_states(tmp_path)] == ["alpha"]
    # A state folder that was never brought up (only a generated password) is not a lab to destroy.
    LabState.for_lab(tmp_path / "lab.yaml", "beta").write_secrets({"vrrp_auth_pass": "x"})
    assert [s.root.name for s in find_states(tmp_path)] == ["alpha"]


def test_replace_block_keeps_everything_else():
    text = "# head\nname: x\n\n# about vips\nvips:\n  - a\n  - b\n\n# about vrrp\nvrrp:\n  advert_int: 1\n"
    out = replace_top_level_block(text, "vips", "# new\nvips:\n  - c\n")
    assert out == "# head\nname: x\n\n# new\nvips:\n  - c\n\n# about vrrp\nvrrp:\n  advert_int: 1\n"


def test_replace_block_appends_a_missing_key():
    assert replace_top_level_block("name: x\n", "vips", "vips:\n  count: 6\n") == "name: x\n\nvips:\n  count: 6\n"
