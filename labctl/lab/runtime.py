"""What a running lab can do, declared: the `LabAccess` protocol and its capability set.

Callers (the scenario engine, the CLI, the dashboard) drive a lab only through this.
`labctl.lab.access.LiveLab` is the one over real VMs; the netns provider's `NetnsLab`
(`labctl/lab/providers/netns/access.py`) the one over network namespaces, whose base
`NamespaceLab` the integration tests build over their own namespaces.

Every operation is in the protocol. The core ones (run, stream, put, power) every lab has; the
others a lab names in `capabilities`, and one it lacks raises `NotSupported` naming the
operation. Callers with a fallback look at `capabilities` first; callers without one call
`require` for the clear error.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from labctl.errors import LabctlError
from labctl.lab.links.linkshaping import HostLink
from labctl.lab.links.packet_capture import CapturePoint
from labctl.lab.nodes.ssh import CommandResult
from labctl.model.lab import Lab


class Capability(enum.Enum):
    """An operation beyond run/stream/put/power that a lab may have (the value names it)."""

    SERVICES = "service"  # starts, stops and kills a node's daemons itself (no systemd there)
    CAPTURE = "capture_point"  # a host-side point where the lab segment is recorded
    HOST_LINK = "link"  # the host side of a node's link, where link actions impair it
    HOST_PROGRAMS = "host_stream"  # runs programs on the host side of the lab network
    JOURNAL = "journal"  # a state folder where runs journal what they change


class NotSupported(LabctlError):
    """A lab was asked for an operation it does not have."""

    def __init__(self, operation: str, lab: object) -> None:
        kind = type(lab).__name__
        super().__init__(f"this lab ({kind}) cannot do {operation!r}: the operation is not among its capabilities")
        self.operation = operation


def require(access: LabAccess, capability: Capability) -> None:
    """Raise NotSupported unless ACCESS has CAPABILITY: for callers that have no fallback."""
    if capability not in access.capabilities:
        raise NotSupported(capability.value, access)


@runtime_checkable
class LineStream(Protocol):
    """Output of a long-running remote command, one line at a time (no trailing newline)."""

    def __iter__(self) -> Iterator[str]: ...

    def stop(self) -> None:
        """End the command (the remote process dies) and the iteration."""

    @property
    def returncode(self) -> int | None:
        """The exit code once the command has ended, else None."""


# Not runtime_checkable: isinstance would read the JOURNAL properties, which refuse.
class LabAccess(Protocol):
    lab: Lab

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The optional operations this lab has; the others raise NotSupported."""

    def run(self, node: str, argv: list[str] | str, sudo: bool = True, timeout: float = 60.0) -> CommandResult: ...

    def stream(self, node: str, argv: list[str] | str, sudo: bool = False) -> LineStream: ...

    def put(self, node: str, path: str, content: bytes | str, mode: int = 0o644, sudo: bool = True) -> bool: ...

    def power_off(self, node: str) -> None:
        """Hard power off (vagrant halt --force): no goodbye packets, processes gone."""

    def power_on(self, node: str) -> None:
        """Boot NODE again and return once it answers commands; keepalived starts by itself."""

    # -- optional: each one named by a Capability ---------------------------------------------

    def service(self, node: str, unit: str, op: str) -> None:
        """SERVICES: start, stop or kill UNIT on NODE (without it, actions use systemctl)."""

    def capture_point(self) -> CapturePoint | None:
        """CAPTURE: where the host records the lab segment (None: this lab has no host side)."""

    def link(self, node: str) -> HostLink | None:
        """HOST_LINK: the host side of NODE's lab link (None: this lab has no host side)."""

    def host_stream(self, argv: list[str]) -> LineStream | None:
        """HOST_PROGRAMS: ARGV run on the host side of the lab network (None: no host side)."""

    @property
    def journal(self) -> Path:
        """JOURNAL: where a scenario's Restorer records what it changed."""

    @property
    def state_folder(self) -> Path:
        """JOURNAL: the lab folder, the trusted start of the walk to the journal."""


class ClosingLabAccess(LabAccess, Protocol):
    """A LabAccess its opener closes when done (its streams stopped, its sessions closed)."""

    def close(self) -> None: ...


class WithoutOptional:
    """Every optional operation refusing with NotSupported: a lab inherits this, overrides
    what it has and names those in `capabilities`."""

    capabilities: frozenset[Capability] = frozenset()

    def service(self, node: str, unit: str, op: str) -> None:
        raise NotSupported(Capability.SERVICES.value, self)

    def capture_point(self) -> CapturePoint | None:
        raise NotSupported(Capability.CAPTURE.value, self)

    def link(self, node: str) -> HostLink | None:
        raise NotSupported(Capability.HOST_LINK.value, self)

    def host_stream(self, argv: list[str]) -> LineStream | None:
        raise NotSupported(Capability.HOST_PROGRAMS.value, self)

    @property
    def journal(self) -> Path:
        raise NotSupported(Capability.JOURNAL.value, self)

    @property
    def state_folder(self) -> Path:
        raise NotSupported("state_folder", self)
