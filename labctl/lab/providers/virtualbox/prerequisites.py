"""What a VirtualBox lab needs on the host: VBoxManage."""

from __future__ import annotations

import shutil

from labctl.errors import LabctlError


def check_prerequisites(isolation: str) -> None:
    if shutil.which("VBoxManage") is None:
        raise LabctlError(
            "the lab uses VirtualBox, which is not installed",
            fix="install VirtualBox, or `labctl init --provider libvirt --driver qemu --box local`",
        )
