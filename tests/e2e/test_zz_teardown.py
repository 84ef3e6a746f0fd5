"""The shared lab's last tests (this module runs after every other e2e module): down and up
again, then a destroy that leaves nothing behind."""

from __future__ import annotations

import json

import pytest

from labctl.lab import netns
from tests.e2e.labrun import DAEMONS, QEMU, labctl, pids_of

pytestmark = pytest.mark.e2e


def test_down_halts_and_up_brings_the_lab_back_as_it_was(lab_dir):
    folder = lab_dir[0]
    proc = labctl(folder, "down")
    assert proc.returncode == 0, proc.stderr
    status = labctl(folder, "status", "--json")
    assert status.returncode == 1  # not healthy: every VM is off
    assert {e["vm"] for e in json.loads(status.stdout)["nodes"].values()} == {"shutoff"}
    proc = labctl(folder, "up", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert not result["vagrant_up_skipped"] and result["ok"]
    # Everything was persisted across the reboot: provisioning found nothing to change.
    assert {n: r["changes"] for n, r in result["nodes"].items() if r["changes"]} == {}


def test_destroy_leaves_nothing_behind(lab_dir):
    folder, name, before, _up = lab_dir
    namespace = f"labctl-{name}"
    assert netns.exists(namespace)
    assert pids_of(QEMU) - before["pids"]
    proc = labctl(folder, "destroy", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert not netns.exists(namespace)
    # Nothing of the lab's is left (other programs' namespaces may come and go meanwhile).
    assert set(netns.list_namespaces()) - before["namespaces"] == set()
    assert pids_of(*DAEMONS) - before["pids"] == set()
    assert not (folder / ".labctl" / name).exists()
    # The lab file and the experiments' results are the user's; nothing else is left.
    left = sorted(p.name for p in folder.iterdir() if p.name != "up-1.json")
    assert left in ([".labctl", "lab.yaml", "results"], ["lab.yaml", "results"])
    assert not any((folder / ".labctl").iterdir()) if (folder / ".labctl").exists() else True
    again = labctl(folder, "destroy", "--yes")
    assert again.returncode == 0 and "nothing to destroy" in again.stdout
