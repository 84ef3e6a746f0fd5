"""Providers as objects: each knows its host prerequisites, its fast VM-state path and its plug."""

from __future__ import annotations

import shutil

import pytest

from labctl.errors import LabctlError
from labctl.lab.providers import Libvirt, VirtualBox, provider_named


def test_each_provider_is_found_by_its_lab_file_name():
    assert isinstance(provider_named("virtualbox"), VirtualBox)
    assert isinstance(provider_named("libvirt"), Libvirt)
    with pytest.raises(LabctlError, match="unknown provider 'hyperv': use virtualbox, libvirt"):
        provider_named("hyperv")


@pytest.mark.skipif(shutil.which("VBoxManage") is not None, reason="VirtualBox is installed here")
def test_virtualbox_without_virtualbox_says_what_to_do():
    with pytest.raises(LabctlError) as info:
        VirtualBox().check_prerequisites("none")
    assert info.value.message == "the lab uses VirtualBox, which is not installed"
    assert "--provider libvirt --driver qemu --box local" in (info.value.fix or "")


class NoSandbox:
    sandbox = None


def test_only_a_sandboxed_libvirt_answers_vm_states_without_vagrant():
    assert VirtualBox().domain_states(NoSandbox()) is None  # type: ignore[arg-type]
    assert Libvirt().domain_states(NoSandbox()) is None  # type: ignore[arg-type]
