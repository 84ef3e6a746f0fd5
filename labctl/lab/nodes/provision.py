"""Provisioning over SSH: the node's rendered files into /etc/labctl, then its provision.sh.

provision.sh is idempotent and prints one `changed: ...` line per change, so a second `labctl up`
on a healthy lab uploads nothing, changes nothing and says so per node. With the files' digest,
a node whose files are unchanged since its last successful provisioning skips provision.sh, and
the same round trip ends with a snapshot of the node, from which `labctl up` judges it.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labctl.lab.nodes.ssh import CommandFailed, NodeShell
from labctl.lab.vms.render import RenderedFile
from labctl.observe.snapshot import NodeSnapshot, parse_snapshot
from labctl.resources import provision_dir

SKIPPED = "provision: skipped"


@dataclass
class NodeReport:
    node: str
    uploaded: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # provision.sh did not run: same files as its last successful run
    snapshot: NodeSnapshot | None = None  # the node right after, when asked for

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


def files_digest(files: list[RenderedFile]) -> str:
    return hashlib.sha256(files_as_tar(files)).hexdigest()


def quick_check(session: NodeShell, files: list[RenderedFile], snapshot_sections: tuple[str, ...]) -> NodeReport | None:
    """On a lab that already runs: one round trip with no file sent. A NodeReport (skipped, with
    the node's snapshot) when the node was last provisioned with exactly FILES; None when it
    needs provisioning (then call provision_node)."""
    started = time.monotonic()
    script = (provision_dir() / "common" / "quick-check.sh").read_text()
    snapshot = (provision_dir() / "common" / "labctl-snapshot.sh").read_bytes()
    # As the login user: no sudo (its PAM stack alone is a noticeable cost under emulation).
    argv = ["sh", "-c", script, "labctl-quick", files_digest(files), *snapshot_sections]
    result = session.run(argv, stdin=snapshot)
    if result.rc != 0 or not any(line == SKIPPED for line in result.stdout.splitlines()):
        return None
    report = NodeReport(session.node, skipped=True, snapshot=parse_snapshot(session.node, result.stdout))
    report.seconds = time.monotonic() - started
    return report


def provision_node(
    session: NodeShell,
    files: list[RenderedFile],
    on_phase: Callable[[str], None] | None = None,
    snapshot_sections: tuple[str, ...] = (),
    force: bool = False,
) -> NodeReport:
    """Sync FILES into /etc/labctl on the node and run provision.sh there, in one round trip:
    under qemu emulation every sudo costs a noticeable fraction of a second. provision.sh is
    skipped when the files are those of its last successful run (unless FORCE); with
    SNAPSHOT_SECTIONS the same round trip ends with a snapshot of the node."""
    started = time.monotonic()
    phase = on_phase or (lambda text: None)
    report = NodeReport(session.node)
    phase("configuring")
    script = (provision_dir() / "common" / "sync-and-run.sh").read_text()
    archive = files_as_tar(files)
    digest = "" if force else hashlib.sha256(archive).hexdigest()  # files_digest, without a second tar
    argv = ["sh", "-c", script, "labctl-sync", digest, *snapshot_sections]
    result = session.run(argv, sudo=True, timeout=900, stdin=archive)
    if result.rc != 0:
        raise CommandFailed(result, what=f"provisioning {session.node}")
    report.uploaded = uploads_from_output(result.stdout)
    report.changes = changes_from_output(result.stdout)
    report.skipped = any(line == SKIPPED for line in result.stdout.splitlines())
    if snapshot_sections:
        report.snapshot = parse_snapshot(session.node, result.stdout)
    report.seconds = time.monotonic() - started
    phase("provisioned")
    return report
