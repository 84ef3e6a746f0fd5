"""How the scenario engine reaches a running lab: one small protocol, two implementations.

The engine never opens SSH connections or namespaces itself. `labctl.lab.access.open_live_lab`
gives a LabAccess over real VMs; `tests/support/nsaccess.py`'s `NamespaceLab` gives one over network
namespaces (the tests' lab without VMs).

Optional methods, used when present: `service(node, unit, op)` (services without systemd),
`capture_point()` (where the host records the segment) and `link(node)` (a
labctl.lab.linkshaping.HostLink: the host side of NODE's lab link, where link actions impair,
cut or shape its traffic; None when there is none, and they run inside the node instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from labctl.lab.ssh import CommandResult
from labctl.model.lab import Lab

# Where labctl keeps run-time files on a node: scripts it pushes and keepalived's VRRP state
# words (/run/labctl/vrrp/<instance>, written by labctl-vrrp-notify). /run is a tmpfs on the
# VMs, so a rebooted node starts clean and scripts are pushed again before each use.
RUN_DIR = "/run/labctl"
VRRP_DIR = f"{RUN_DIR}/vrrp"
BIN_DIR = f"{RUN_DIR}/bin"


@runtime_checkable
class LineStream(Protocol):
    """Output of a long-running remote command, one line at a time (no trailing newline)."""

    def __iter__(self) -> Iterator[str]: ...

    def stop(self) -> None:
        """End the command (the remote process dies) and the iteration."""

    @property
    def returncode(self) -> int | None:
        """The exit code once the command has ended, else None."""


@runtime_checkable
class LabAccess(Protocol):
    lab: Lab

    def run(self, node: str, argv: list[str] | str, sudo: bool = True, timeout: float = 60.0) -> CommandResult: ...

    def stream(self, node: str, argv: list[str] | str, sudo: bool = False) -> LineStream: ...

    def put(self, node: str, path: str, content: bytes | str, mode: int = 0o644, sudo: bool = True) -> bool: ...

    def power_off(self, node: str) -> None:
        """Hard power off (vagrant halt --force): no goodbye packets, processes gone."""

    def power_on(self, node: str) -> None:
        """Boot NODE again and return once it answers commands; keepalived starts by itself."""
