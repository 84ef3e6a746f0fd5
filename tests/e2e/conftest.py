"""Shared pieces for the real-VM tests: the lab's box, built once (or found in the cache)."""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid

import pytest

from labctl.lab.host import netns
from labctl.lab.vms.box import BoxInfo, build_box
from tests.e2e.labrun import DAEMONS, labctl, pids_of


def _box_prerequisites_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mmdebstrap, libvirtd in a namespace)"
    for tool in ("mmdebstrap", "vagrant", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


# The e2e tier's own clock, printed at the end of every run (CI's log keeps it): setup, call and
# teardown of every e2e test, and how much of it went to building the box.
_TIER: dict[str, float] = {"seconds": 0.0, "tests": 0, "box_s": 0.0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid.startswith("tests/e2e/"):
        _TIER["seconds"] += report.duration
        _TIER["tests"] += report.when == "call"


def pytest_terminal_summary(terminalreporter) -> None:
    if _TIER["tests"]:
        seconds, box = _TIER["seconds"], _TIER["box_s"]
        terminalreporter.write_line(
            f"e2e tier: {seconds:.0f} s ({seconds / 60:.1f} min) for {_TIER['tests']} tests on real VMs"
            + (f", of which {box:.0f} s building the box" if box >= 1 else ", the box taken from the cache")
        )


@pytest.fixture(scope="session")
def built_box() -> BoxInfo:
    """The current box from $LABCTL_CACHE (or ~/.cache/labctl), built when missing (~70 s)."""
    missing = _box_prerequisites_missing()
    if missing:
        pytest.skip(missing)
    started = time.monotonic()
    box = build_box()
    _TIER["box_s"] = time.monotonic() - started
    return box


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory, built_box):
    """One reference lab for every e2e module, brought up with `labctl up` and destroyed at the
    end whatever happens. Modules that change it put it back as planned; test_zz_teardown.py
    (last by name) takes it down and destroys it."""
    folder = tmp_path_factory.mktemp("lab")
    name = f"e2e{uuid.uuid4().hex[:6]}"
    before = {"namespaces": set(netns.list_namespaces()), "pids": pids_of(*DAEMONS)}
    # The driver is left to `auto`, as README's tour does: labctl's probe picks kvm or qemu (TCG).
    init = labctl(folder, "init", ".", "--name", name, "--provider", "libvirt", "--box", "local")
    assert init.returncode == 0, init.stderr
    up = labctl(folder, "up", "--json")
    (folder / "up-1.json").write_text(up.stdout)
    print(up.stderr[-4000:], file=sys.stderr)
    try:
        yield folder, name, before, up
    finally:
        if (folder / ".labctl" / name).exists():
            labctl(folder, "destroy", "--yes")
