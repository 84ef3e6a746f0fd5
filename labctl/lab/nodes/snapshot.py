"""Reading what a node holds right now: one SSH call running provision/common/labctl-snapshot.sh."""

from __future__ import annotations

from labctl.lab.nodes.ssh import NodeShell
from labctl.observe.snapshot import NodeSnapshot, parse_snapshot
from labctl.resources import provision_dir

SECTIONS = ("hostname", "addr", "ipvs", "vrrp", "services")


def read_node_state(session: NodeShell) -> NodeSnapshot:
    script = (provision_dir() / "common" / "labctl-snapshot.sh").read_bytes()
    result = session.run(["sh", "-s", "--", *SECTIONS], sudo=True, stdin=script, timeout=30)
    view = parse_snapshot(session.node, result.stdout)
    if result.rc != 0:
        view.problems.append(f"snapshot script exited {result.rc}: {result.stderr.strip()[-200:]}")
    return view
