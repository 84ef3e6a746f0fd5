"""Reading what a node holds right now: one SSH call running provision/common/node-state.sh."""

from __future__ import annotations

from labctl.lab.ssh import SshSession
from labctl.observe.nodestate import NodeView, parse_node_state
from labctl.resources import provision_dir


def read_node_state(session: SshSession) -> NodeView:
    script = (provision_dir() / "common" / "node-state.sh").read_bytes()
    result = session.run(["sh", "-s"], sudo=True, stdin=script, timeout=30)
    view = parse_node_state(session.node, result.stdout)
    if result.rc != 0:
        view.problems.append(f"state script exited {result.rc}: {result.stderr.strip()[-200:]}")
    return view
