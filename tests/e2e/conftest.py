"""Shared pieces for the real-VM tests: the lab's box, built once (or found in the cache)."""

from __future__ import annotations

import os
import shutil

import pytest

from labctl.lab.box import BoxInfo, build_box


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
