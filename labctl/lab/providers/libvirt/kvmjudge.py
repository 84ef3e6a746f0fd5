"""Can a guest run under KVM here? The pure half of the probe: the test guest, qemu's command
line, and what two runs of it (KVM, then TCG) mean for the lab's libvirt driver.

A /dev/kvm that opens is not enough: on some hosts (nested, or a hypervisor that hides MSRs)
qemu dies setting up the vCPU, or the guest never gets anywhere. So the probe boots a guest:
a 64 KiB firmware image whose reset vector writes to qemu's `isa-debug-exit` port, which ends
qemu with status (value << 1) | 1. That status, and nothing else, means the guest ran.
`labctl.lab.providers.libvirt.kvmprobe` runs it and keeps the answer for the boot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

QEMU = "qemu-system-x86_64"
EXIT_PORT = 0xF4
EXIT_VALUE = 0x2A
GUEST_RAN = (EXIT_VALUE << 1) | 1  # qemu's exit status once the guest wrote EXIT_VALUE
FIRMWARE_SIZE = 0x10000  # qemu takes a -bios image in whole 64 KiB blocks
RESET_VECTOR = 0xFFF0  # where an x86 CPU starts (F000:FFF0): the image's last 16 bytes

# Real mode at the reset vector: mov al, EXIT_VALUE; out EXIT_PORT, al; cli; hlt; jmp back to
# the hlt (should the write not end qemu, the guest stays halted and the run times out).
_GUEST_CODE = bytes([0xB0, EXIT_VALUE, 0xE6, EXIT_PORT, 0xFA, 0xF4, 0xEB, 0xFD])

# KVM device states, as found before any run.
DEVICE_ABSENT = "absent"
DEVICE_NO_ACCESS = "no access"
DEVICE_PRESENT = "present"

# The verdict on KVM.
KVM_USABLE = "usable"
KVM_UNUSABLE = "unusable"  # /dev/kvm opens, but the test guest did not run under it
KVM_ABSENT = "absent"  # no /dev/kvm
KVM_UNKNOWN = "unknown"  # this user cannot open /dev/kvm, or there is no qemu to try it with


def firmware_image() -> bytes:
    """The test guest: FIRMWARE_SIZE bytes of hlt with the exit code at the reset vector."""
    image = bytearray(b"\xf4" * FIRMWARE_SIZE)
    image[RESET_VECTOR : RESET_VECTOR + len(_GUEST_CODE)] = _GUEST_CODE
    return bytes(image)


def qemu_command(qemu: str, firmware: str, accel: str) -> list[str]:
    """qemu running the test guest with ACCEL (kvm or tcg). Under KVM the CPU is `host`, the
    closest to vagrant-libvirt's host-model; under TCG one that qemu emulates everywhere."""
    cpu = "host" if accel == "kvm" else "qemu64"
    return [
        qemu,
        "-accel", accel,
        "-cpu", cpu,
        "-machine", "pc",
        "-m", "16",
        "-nodefaults",
        "-display", "none",
        "-no-reboot",
        "-bios", firmware,
        "-device", f"isa-debug-exit,iobase={EXIT_PORT:#x},iosize=0x04",
    ]  # fmt: skip


@dataclass(frozen=True)
class GuestRun:
    """One run of the test guest: qemu's exit status (None: killed at the timeout, negative:
    the signal that ended it) and what it wrote on stderr."""

    returncode: int | None
    stderr: str
    seconds: float
    timeout: float

    @property
    def ran(self) -> bool:
        return self.returncode == GUEST_RAN

    def words(self) -> str:
        """qemu's own words: its stderr on one line, without the program name on each line."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        lines = [line.split(": ", 1)[1] if line.startswith(QEMU + ":") else line for line in lines]
        text = "; ".join(dict.fromkeys(lines))
        return text if len(text) <= 240 else text[:237] + "..."

    def failure(self) -> str:
        """How the run ended, when the guest did not get to its exit."""
        if self.returncode is None:
            return f"the test guest did not finish in {self.timeout:g} s"
        if self.returncode < 0:
            return f"qemu was killed by signal {-self.returncode}"
        return f"qemu exited with status {self.returncode}"


@dataclass(frozen=True)
class ProbeResult:
    """What this host can do: KVM's verdict, whether qemu runs a guest at all (TCG), why, in a
    few words, and qemu's own words (stderr of the run that failed)."""

    kvm: str
    tcg: bool
    reason: str
    words: str = ""
    seconds: float = 0.0

    @property
    def kvm_usable(self) -> bool:
        return self.kvm == KVM_USABLE

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ProbeResult:
        return cls(
            kvm=str(data["kvm"]),
            tcg=bool(data["tcg"]),
            reason=str(data["reason"]),
            words=str(data.get("words", "")),
            seconds=float(str(data.get("seconds", 0.0))),
        )


def judge(device: str, kvm: GuestRun | None, tcg: GuestRun | None, qemu_found: bool = True) -> ProbeResult:
    """The verdict from the KVM device's state and the two runs (None: not run)."""
    seconds = max((run.seconds for run in (kvm, tcg) if run is not None), default=0.0)
    if not qemu_found:
        return ProbeResult(KVM_UNKNOWN, False, f"{QEMU} is not installed", seconds=seconds)
    tcg_ran = tcg is not None and tcg.ran
    if device == DEVICE_ABSENT:
        verdict, reason, words = KVM_ABSENT, "no /dev/kvm on this host (no VT-x/AMD-V, or kvm not loaded)", ""
    elif device == DEVICE_NO_ACCESS:
        verdict, reason, words = KVM_UNKNOWN, "this user cannot open /dev/kvm", ""
    elif kvm is not None and kvm.ran:
        verdict, reason, words = KVM_USABLE, f"a test guest ran under KVM in {kvm.seconds:.2f} s", ""
    else:
        failure = kvm.failure() if kvm is not None else "not tried"
        words = kvm.words() if kvm is not None else ""
        verdict = KVM_UNUSABLE
        # qemu's words say what went wrong; when it said nothing, how the run ended does.
        reason = "KVM present but a guest cannot run on it" + ("" if words else f" ({failure})")
    if not tcg_ran and tcg is not None:
        reason += f"; qemu cannot run the test guest emulated either ({tcg.failure()})"
        words = words or tcg.words()
    return ProbeResult(verdict, tcg_ran, reason, words, round(seconds, 3))


@dataclass(frozen=True)
class DriverChoice:
    driver: str  # kvm or qemu
    why: str

    @property
    def name(self) -> str:
        return "qemu (TCG)" if self.driver == "qemu" else self.driver

    @property
    def line(self) -> str:
        """One line for the user: which driver and why."""
        return f"driver: {self.name} — {self.why}"


def _said(result: ProbeResult) -> str:
    return f"{result.reason}: {result.words}" if result.words else result.reason


def choose(result: ProbeResult) -> DriverChoice:
    """`driver: auto`: kvm when a guest ran under it, else qemu (TCG)."""
    if result.kvm_usable:
        return DriverChoice("kvm", result.reason)
    return DriverChoice("qemu", _said(result))


def emulation_problem(result: ProbeResult) -> str | None:
    """Why qemu cannot run the lab even emulated, or None when it can."""
    return None if result.tcg else f"qemu cannot run a test guest on this host: {_said(result)}"


def kvm_problem(result: ProbeResult) -> str | None:
    """Why `driver: kvm` cannot work here, or None. Only a verdict of the probe's own refuses:
    a user who cannot open /dev/kvm may still have a libvirtd that can."""
    if result.kvm in (KVM_UNUSABLE, KVM_ABSENT):
        return f"driver kvm cannot run the lab's VMs here — {_said(result)}"
    return None
