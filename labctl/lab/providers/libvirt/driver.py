"""A libvirt lab's driver on this host: `auto` settled to kvm or qemu, and `kvm` refused where
the probe saw no guest run under it, before Vagrant starts (which would fail 20 s later with a
Ruby backtrace). The lab file keeps `auto`: copied to another host, it picks again there."""

from __future__ import annotations

from dataclasses import replace

from labctl.errors import LabctlError
from labctl.lab.providers.libvirt import kvmjudge, kvmprobe
from labctl.model.lab import Lab

KVM_FIX = (
    "set `driver: qemu` (or `auto`) under provider.libvirt in lab.yaml (a new lab: `labctl init "
    "--driver qemu`); for KVM: enable VT-x/AMD-V in the firmware, or nested virtualization on the "
    "host that runs this machine"
)
QEMU_FIX = "apt-get install qemu-system-x86 (and check that `qemu-system-x86_64 -version` runs)"


def uses_libvirt(lab: Lab) -> bool:
    return lab.provider.name == "libvirt"


def settle(lab: Lab) -> tuple[Lab, kvmjudge.DriverChoice | None]:
    """LAB with its driver as it will run here, and which one and why (None: not libvirt).
    `auto` asks the probe (once per boot); a named driver is taken as asked."""
    if not uses_libvirt(lab):
        return lab, None
    asked = lab.provider.libvirt.driver
    if asked != "auto":
        return lab, kvmjudge.DriverChoice(asked, "as the lab file asks")
    result = kvmprobe.probe()
    problem = kvmjudge.emulation_problem(result)
    if problem and not result.kvm_usable:
        raise LabctlError(problem, fix=QEMU_FIX)
    choice = kvmjudge.choose(result)
    settings = replace(lab.provider, libvirt=replace(lab.provider.libvirt, driver=choice.driver))
    return replace(lab, provider=settings), choice


def check(lab: Lab) -> None:
    """Refuse `driver: kvm` on a host where the probe saw no guest run under KVM."""
    if not uses_libvirt(lab) or lab.provider.libvirt.driver != "kvm":
        return
    problem = kvmjudge.kvm_problem(kvmprobe.probe())
    if problem:
        raise LabctlError(problem, fix=KVM_FIX)


def preview(lab: Lab) -> str | None:
    """For `labctl init`: what `auto` would pick on this host now (None: nothing to settle)."""
    if not uses_libvirt(lab) or lab.provider.libvirt.driver != "auto":
        return None
    result = kvmprobe.probe()
    choice = kvmjudge.choose(result)
    problem = kvmjudge.emulation_problem(result)
    if problem and not result.kvm_usable:
        return f"driver: auto, settled at each `labctl up`; on this host `up` would stop: {problem}"
    return f"driver: auto, settled at each `labctl up`; on this host now {choice.name} — {choice.why}"
