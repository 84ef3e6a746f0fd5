"""Reading what a node holds right now: one SSH call running provision/common/labctl-snapshot.sh."""

from __future__ import annotations

from labctl.lab.nodes.ssh import NodeShell
from labctl.observe.snapshot import NodeSnapshot, parse_snapshot
from labctl.resources import provision_dir

# Everything here reads without root: the IPVS table from /proc/net/ip_vs, the VRRP state words
# from their world-readable folder. Under emulation sudo alone costs about 0.2 s of a guest's
# CPU, six guests at once on two cores, at every `status` and dashboard poll.
SECTIONS = ("hostname", "addr", "ipvsproc", "vrrp", "services")
UNREADABLE = "unreadable"  # the script's word on stderr for a VRRP folder only root can read


def read_node_state(session: NodeShell) -> NodeSnapshot:
    script = (provision_dir() / "common" / "labctl-snapshot.sh").read_bytes()
    result = session.run(["sh", "-s", "--", *SECTIONS], sudo=False, stdin=script, timeout=30)
    if UNREADABLE in result.stderr:
        result = session.run(["sh", "-s", "--", *SECTIONS], sudo=True, stdin=script, timeout=30)
    view = parse_snapshot(session.node, result.stdout)
    if result.rc != 0:
        view.problems.append(f"snapshot script exited {result.rc}: {result.stderr.strip()[-200:]}")
    return view
