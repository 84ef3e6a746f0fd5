"""The KVM probe against this host's real qemu, and what `labctl` does with its verdict.

The test follows the host: TCG must run the guest wherever qemu is installed; KVM is judged by
the probe, and each branch asserts what the lab then does (the build machine of issue 19 has a
/dev/kvm on which qemu dies with "failed to set MSR 0x10a": auto gives qemu there, and a lab
asking for kvm is refused before Vagrant). Controls prove the probe can say no: a guest that
never exits, and a "qemu" that is /bin/false."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from labctl.lab.providers.libvirt import driver, kvmjudge, kvmprobe
from labctl.model.initlab import initial_lab, write_lab_file
from tests.support.labctl_run import run_labctl

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which(kvmjudge.QEMU) is None, reason="qemu-system-x86 is not installed"),
]


def labctl(folder: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_labctl(folder, *args, timeout=120, env={"LABCTL_CACHE": str(cache), "COLUMNS": "400"})


def test_the_probe_on_this_host_cold_then_cached(tmp_path, capsys, monkeypatch):
    started = time.monotonic()
    cold = kvmprobe.probe(tmp_path)
    cold_s = time.monotonic() - started
    # The second answer comes from the cache: running a guest again would fail the test (a spy,
    # not a stand-in: the probe above ran the real qemu). Its time is printed, not asserted.
    real_run_guests = kvmprobe.run_guests

    def no_second_run(*args, **kwargs):
        raise AssertionError("the cached probe ran qemu again")

    monkeypatch.setattr(kvmprobe, "run_guests", no_second_run)
    started = time.monotonic()
    cached = kvmprobe.probe(tmp_path)
    cached_s = time.monotonic() - started
    monkeypatch.setattr(kvmprobe, "run_guests", real_run_guests)
    with capsys.disabled():
        print(f"\nKVM probe: {cold} cold {cold_s:.3f} s, cached {cached_s * 1000:.1f} ms")
    assert cold.tcg, f"qemu cannot run the test guest emulated: {cold.reason}: {cold.words}"
    assert cached == cold
    saved = json.loads((tmp_path / kvmprobe.CACHE_FILE).read_text())
    assert saved["key"]["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert cold.kvm in (kvmjudge.KVM_USABLE, kvmjudge.KVM_UNUSABLE)
        if not cold.kvm_usable:
            assert cold.words or "did not finish" in cold.reason  # qemu's words, or its silence
    # A cache of another boot is not believed: the probe runs again and keys it to this boot.
    saved["key"]["boot_id"] = "another-boot"
    saved["result"]["reason"] = "from another boot"
    (tmp_path / kvmprobe.CACHE_FILE).write_text(json.dumps(saved))
    assert kvmprobe.probe(tmp_path).reason != "from another boot"


def test_the_probe_can_say_no(tmp_path):
    qemu = shutil.which(kvmjudge.QEMU)
    assert qemu is not None
    halted = b"\xf4" * kvmjudge.FIRMWARE_SIZE  # hlt at the reset vector: never exits
    run = kvmprobe.run_guests(qemu, {"tcg": 1.0}, image=halted)["tcg"]
    # Killed at its 1 s limit: not before it, and long before a guest that never exits would
    # end by itself (the 20 s bound only catches a probe that waits forever).
    assert run.returncode is None and not run.ran and 1.0 <= run.seconds < 20.0
    broken = kvmprobe.run_probe("/bin/false")
    assert not broken.tcg and not broken.kvm_usable
    assert "qemu exited with status 1" in broken.reason


def test_auto_and_kvm_follow_the_probe(tmp_path):
    cache = tmp_path / "cache"
    result = kvmprobe.probe(cache)
    assert result.tcg
    auto_lab = initial_lab("autolab", provider="libvirt", box="local")
    settled, choice = driver.settle(auto_lab)
    assert choice is not None
    # Through the CLI as a user sees it: init says what auto would pick, render uses it.
    folder = tmp_path / "auto"
    init = labctl(tmp_path, cache, "init", str(folder), "--provider", "libvirt", "--box", "local")
    assert init.returncode == 0, init.stderr
    assert "driver: auto" in (folder / "lab.yaml").read_text()
    assert f"on this host now {choice.name} — {choice.why}" in init.stdout
    render = labctl(folder, cache, "render")
    assert render.returncode == 0, render.stderr
    assert choice.line in render.stdout
    vagrantfile = (folder / ".labctl" / "render" / "Vagrantfile").read_text()
    assert f'lv.driver = "{settled.provider.libvirt.driver}"' in vagrantfile

    kvm_folder = tmp_path / "kvm"
    kvm_lab = initial_lab("kvmlab", provider="libvirt", driver="kvm", box="local")
    write_lab_file(kvm_folder, kvm_lab)
    if result.kvm_usable:
        assert settled.provider.libvirt.driver == "kvm" and choice.why == result.reason
        driver.check(kvm_lab)  # a lab asking for kvm goes ahead (not brought up here: real VMs)
        return
    # KVM unusable (this build machine): auto gives qemu with qemu's own words ...
    assert settled.provider.libvirt.driver == "qemu"
    assert choice.line.startswith("driver: qemu (TCG) — ") and result.words in choice.line
    assert 'lv.cpu_model = "qemu64"' in vagrantfile
    # ... and `labctl up` of a kvm lab stops with those words before Vagrant or a sandbox starts.
    started = time.monotonic()
    up = labctl(kvm_folder, cache, "up")
    assert up.returncode == 1, up.stdout + up.stderr
    assert "error: driver kvm cannot run the lab's VMs here" in up.stderr
    assert result.words[:60] in " ".join(up.stderr.split())
    assert "driver: qemu" in up.stderr and "VT-x/AMD-V" in up.stderr
    state = kvm_folder / ".labctl" / "kvmlab"
    assert not (state / "logs").exists() and not (state / "render").exists() and not (state / "sandbox").exists()
    assert not (kvm_folder / ".labctl" / "render").exists()
    print(f"labctl up refused in {time.monotonic() - started:.2f} s")
