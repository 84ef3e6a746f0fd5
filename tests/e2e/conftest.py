"""Shared pieces for the real-VM tests: the lab's box, built once (or found in the cache)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid

import pytest

from labctl.lab import netns
from labctl.lab.box import BoxInfo, build_box
from tests.e2e.labrun import DAEMONS, labctl, pids_of


def _box_prerequisites_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mmdebstrap, libvirtd in a namespace)"
    for tool in ("mmdebstrap", "vagrant", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="session")
def built_box() -> BoxInfo:
    """The current box from $LABCTL_CACHE (or ~/.cache/labctl), built when missing (~70 s)."""
    missing = _box_prerequisites_missing()
    if missing:
        pytest.skip(missing)
    return build_box()


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory, built_box):
    """One reference lab for every e2e module, brought up with `labctl up` and destroyed at the
    end whatever happens. Modules that change it put it back as planned; test_zz_teardown.py
    (last by name) takes it down and destroys it."""
    folder = tmp_path_factory.mktemp("lab")
    name = f"e2e{uuid.uuid4().hex[:6]}"
    before = {"namespaces": set(netns.list_namespaces()), "pids": pids_of(*DAEMONS)}
    init = labctl(folder, "init", ".", "--name", name, "--provider", "libvirt", "--driver", "qemu", "--box", "local")
    assert init.returncode == 0, init.stderr
    up = labctl(folder, "up", "--json")
    (folder / "up-1.json").write_text(up.stdout)
    print(up.stderr[-4000:], file=sys.stderr)
    try:
        yield folder, name, before, up
    finally:
        if (folder / ".labctl" / name).exists():
            labctl(folder, "destroy", "--yes")
