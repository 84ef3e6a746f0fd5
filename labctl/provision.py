"""Provisioning over SSH: put each node's rendered files in /etc/labctl and run its provision.sh.

provision.sh is idempotent and prints one `changed: ...` line per change, so a second `labctl up`
on a healthy lab uploads nothing, changes nothing and says so per node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labctl.render import RenderedFile
from labctl.ssh import CommandFailed, SshSession

REMOTE_DIR = "/etc/labctl"


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
        return f"{len(self.changes)} change(s): " + "; ".join(self.changes[:6]) + (
            " ..." if len(self.changes) > 6 else "")


def changes_from_output(text: str) -> list[str]:
    return [line.removeprefix("changed: ").strip() for line in text.splitlines()
            if line.startswith("changed: ")]


def provision_node(session: SshSession, files: list[RenderedFile],
                   on_phase: Callable[[str], None] | None = None) -> NodeReport:
    """Sync FILES into /etc/labctl on the node and run provision.sh there."""
    started = time.monotonic()
    phase = on_phase or (lambda text: None)
    report = NodeReport(session.node)
    phase("uploading")
    session.run(["mkdir", "-p", "-m", "0700", REMOTE_DIR], sudo=True, check=True)
    for item in files:
        if session.put(f"{REMOTE_DIR}/{item.path}", item.content, mode=item.mode, sudo=True):
            report.uploaded.append(item.path)
    phase("configuring")
    result = session.run(["sh", f"{REMOTE_DIR}/provision.sh"], sudo=True, timeout=900)
    if result.rc != 0:
        raise CommandFailed(result, what=f"provision.sh on {session.node}")
    report.changes = changes_from_output(result.stdout)
    report.seconds = time.monotonic() - started
    phase("provisioned")
    return report
