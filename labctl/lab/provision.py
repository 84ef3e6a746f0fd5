"""Provisioning over SSH: the node's rendered files into /etc/labctl, then its provision.sh.

provision.sh is idempotent and prints one `changed: ...` line per change, so a second `labctl up`
on a healthy lab uploads nothing, changes nothing and says so per node.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labctl.lab.render import RenderedFile
from labctl.lab.ssh import CommandFailed, SshSession
from labctl.resources import provision_dir


@dataclass
class NodeReport:
    node: str
    uploaded: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.uploaded or self.changes)

    def summary(self) -> str:
        if not self.changed:
            return "unchanged"
        return (
            f"{len(self.changes)} change(s): " + "; ".join(self.changes[:6]) + (" ..." if len(self.changes) > 6 else "")
        )


def changes_from_output(text: str) -> list[str]:
    return [line.removeprefix("changed: ").strip() for line in text.splitlines() if line.startswith("changed: ")]


def uploads_from_output(text: str) -> list[str]:
    return [line.removeprefix("uploaded: ").strip() for line in text.splitlines() if line.startswith("uploaded: ")]


def files_as_tar(files: list[RenderedFile]) -> bytes:
    """The node's files as a tar archive: fixed owner and time, so equal files give equal bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for item in files:
            data = item.content.encode()
            info = tarfile.TarInfo(item.path)
            info.size = len(data)
            info.mode = item.mode
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def provision_node(
    session: SshSession, files: list[RenderedFile], on_phase: Callable[[str], None] | None = None
) -> NodeReport:
    """Sync FILES into /etc/labctl on the node and run provision.sh there, in one round trip:
    under qemu emulation every sudo costs a noticeable fraction of a second."""
    started = time.monotonic()
    phase = on_phase or (lambda text: None)
    report = NodeReport(session.node)
    phase("configuring")
    script = (provision_dir() / "common" / "sync-and-run.sh").read_text()
    result = session.run(["sh", "-c", script, "labctl-sync"], sudo=True, timeout=900, stdin=files_as_tar(files))
    if result.rc != 0:
        raise CommandFailed(result, what=f"provisioning {session.node}")
    report.uploaded = uploads_from_output(result.stdout)
    report.changes = changes_from_output(result.stdout)
    report.seconds = time.monotonic() - started
    phase("provisioned")
    return report
