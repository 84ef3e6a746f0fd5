"""The KVM probe's decisions (labctl.lab.providers.libvirt.kvmjudge) and its per-boot cache (labctl.lab.providers.libvirt.kvmprobe),
without running qemu: qemu's runs are given as they come out of a real one (this host's KVM
dies with the MSR error below; a hung guest is killed at the timeout)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from labctl.lab.host.processes import boot_id
from labctl.lab.providers.libvirt import driver, kvmjudge, kvmprobe
from labctl.lab.providers.libvirt.kvmjudge import GuestRun, ProbeResult, choose, emulation_problem, judge, kvm_problem
from labctl.lab.vms.render import BoxRef, RenderContext, render_lab
from labctl.model.initlab import initial_lab, lab_file_text
from labctl.model.labfile import LabFileError, parse_lab

MSR_STDERR = (
    "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
    "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret' failed.\n"
)
RAN = GuestRun(kvmjudge.GUEST_RAN, "", 0.08, 5.0)
MSR_DEATH = GuestRun(-6, MSR_STDERR, 0.07, 5.0)  # SIGABRT
HUNG = GuestRun(None, "", 5.0, 5.0)


def test_the_guest_writes_to_the_port_qemu_listens_on():
    image = kvmjudge.firmware_image()
    assert len(image) == 0x10000
    code = image[kvmjudge.RESET_VECTOR : kvmjudge.RESET_VECTOR + 4]
    assert code == bytes([0xB0, kvmjudge.EXIT_VALUE, 0xE6, kvmjudge.EXIT_PORT])  # mov al, V; out PORT, al
    command = kvmjudge.qemu_command("qemu", "/f.bin", "kvm")
    assert f"isa-debug-exit,iobase={kvmjudge.EXIT_PORT:#x},iosize=0x04" in command
    assert command[command.index("-accel") + 1] == "kvm" and command[command.index("-cpu") + 1] == "host"
    assert kvmjudge.GUEST_RAN == 85  # (0x2a << 1) | 1, qemu's status for a write of 0x2a


@pytest.mark.parametrize("code", [0, 1, 84, 134, -6])
def test_only_the_guest_s_own_exit_status_counts_as_a_run(code):
    assert not GuestRun(code, "", 0.1, 5.0).ran
    assert GuestRun(85, "", 0.1, 5.0).ran


def test_qemu_s_words_on_one_line_without_its_name():
    assert MSR_DEATH.words().startswith("error: failed to set MSR 0x10a to 0x69; ../../target/i386/kvm/kvm.c")
    assert len(GuestRun(1, "x" * 1000, 0.1, 5.0).words()) == 240
    assert HUNG.failure() == "the test guest did not finish in 5 s"
    assert MSR_DEATH.failure() == "qemu was killed by signal 6"


def test_kvm_that_runs_the_guest_is_chosen():
    result = judge(kvmjudge.DEVICE_PRESENT, RAN, RAN)
    assert result.kvm_usable and result.tcg
    assert choose(result).line == "driver: kvm — a test guest ran under KVM in 0.08 s"
    assert kvm_problem(result) is None and emulation_problem(result) is None


def test_kvm_that_opens_but_cannot_run_a_guest_gives_qemu_with_qemu_s_words():
    result = judge(kvmjudge.DEVICE_PRESENT, MSR_DEATH, RAN)
    assert (result.kvm, result.tcg) == (kvmjudge.KVM_UNUSABLE, True)
    line = choose(result).line
    assert line.startswith("driver: qemu (TCG) — KVM present but a guest cannot run on it: error: failed to set MSR")
    problem = kvm_problem(result)
    assert problem is not None and "failed to set MSR 0x10a" in problem
    assert emulation_problem(result) is None


def test_a_silent_hung_kvm_guest_is_told_by_its_timeout():
    result = judge(kvmjudge.DEVICE_PRESENT, HUNG, RAN)
    assert not result.kvm_usable
    assert choose(result).why == "KVM present but a guest cannot run on it (the test guest did not finish in 5 s)"


def test_no_kvm_device_gives_qemu_and_refuses_kvm():
    result = judge(kvmjudge.DEVICE_ABSENT, None, RAN)
    assert result.kvm == kvmjudge.KVM_ABSENT and choose(result).driver == "qemu"
    assert "no /dev/kvm" in (kvm_problem(result) or "")


def test_a_user_who_cannot_open_kvm_gets_qemu_but_a_named_kvm_is_not_refused():
    # libvirtd (another user) may well open it: only the probe's own verdict refuses.
    result = judge(kvmjudge.DEVICE_NO_ACCESS, None, RAN)
    assert choose(result).driver == "qemu" and kvm_problem(result) is None


def test_qemu_that_cannot_emulate_is_a_problem_of_its_own():
    broken = GuestRun(1, "qemu-system-x86_64: could not load PC BIOS '/f.bin'\n", 0.05, 10.0)
    result = judge(kvmjudge.DEVICE_PRESENT, MSR_DEATH, broken)
    assert not result.tcg and "failed to set MSR" in result.words  # KVM's words come first
    assert "emulated either (qemu exited with status 1)" in result.reason
    result = judge(kvmjudge.DEVICE_ABSENT, None, broken)
    assert "could not load PC BIOS" in (emulation_problem(result) or "")
    missing = judge(kvmjudge.DEVICE_ABSENT, None, None, qemu_found=False)
    assert (
        emulation_problem(missing) == "qemu cannot run a test guest on this host: qemu-system-x86_64 is not installed"
    )


# --- the cache -----------------------------------------------------------------------------

KEY = {"boot_id": "b1", "uid": 0, "qemu": "/usr/bin/qemu-system-x86_64:1:2"}
UNUSABLE = judge(kvmjudge.DEVICE_PRESENT, MSR_DEATH, RAN)


def _cache_text(key, result: ProbeResult) -> str:
    return json.dumps({"key": key, "result": result.to_dict()})


def test_a_cached_verdict_holds_for_its_boot_user_and_qemu_only():
    text = _cache_text(KEY, UNUSABLE)
    assert kvmprobe.cached_result(text, KEY) == UNUSABLE
    for field, other in (("boot_id", "b2"), ("uid", 1000), ("qemu", "/usr/bin/qemu-system-x86_64:1:3")):
        assert kvmprobe.cached_result(text, {**KEY, field: other}) is None
    for damaged in (None, "", "{", "[]", '{"key": {}}', json.dumps({"key": KEY, "result": {"kvm": "x"}})):
        assert kvmprobe.cached_result(damaged, KEY) is None


def test_the_key_is_this_boot_s_id():
    key = kvmprobe.cache_key(shutil.which(kvmjudge.QEMU))
    assert key["boot_id"] == boot_id() == open("/proc/sys/kernel/random/boot_id").read().strip()


def test_probe_answers_from_the_cache_of_this_boot_without_running_qemu(tmp_path):
    # A verdict no real run gives (KVM usable, 42 s): it can only have come from the file.
    planted = replace(judge(kvmjudge.DEVICE_PRESENT, RAN, RAN), seconds=42.0)
    key = kvmprobe.cache_key(shutil.which(kvmjudge.QEMU))
    (tmp_path / kvmprobe.CACHE_FILE).write_text(_cache_text(key, planted))
    assert kvmprobe.probe(tmp_path) == planted


# --- the lab file and rendering ------------------------------------------------------------


def test_auto_is_a_valid_driver_and_the_default_of_a_new_lab():
    lab = initial_lab(provider="libvirt", box="local")
    assert lab.provider.libvirt.driver == "auto"
    assert parse_lab(lab_file_text(lab), "lab.yaml") == lab
    with pytest.raises(LabFileError, match="is not one of auto, kvm, qemu"):
        parse_lab(lab_file_text(lab).replace("driver: auto", "driver: kvmm"), "lab.yaml")


def test_named_drivers_are_taken_as_asked_and_auto_is_never_rendered():
    qemu_lab = initial_lab(provider="libvirt", driver="qemu", box="local")
    settled, choice = driver.settle(qemu_lab)  # a named driver: no probe
    assert settled == qemu_lab and choice is not None
    assert choice.line == "driver: qemu (TCG) — as the lab file asks"
    driver.check(qemu_lab)  # only kvm is checked
    assert driver.settle(initial_lab())[1] is None  # VirtualBox has no driver
    with pytest.raises(ValueError, match="not settled"):
        render_lab(initial_lab(provider="libvirt", box="local"), RenderContext(box=BoxRef("b")))
