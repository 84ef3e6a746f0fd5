"""The names a netns lab gives its pieces on this host (pure).

Nodes are namespaces `labctl-<lab>_<node>`: `_` is in neither a lab's nor a node's name, so
two labs never share a namespace (`labctl-a_b-c` is lab a's node b-c; lab a-b's node c is
`labctl-a-b_c`), and none is a VM lab's sandbox (`labctl-<lab>`). The lab network is a bridge
in a namespace of the lab's own, `labctl-<lab>__lan` (a node name never starts with `_`): no
lab address is ever added to the host's own namespace.
"""

from __future__ import annotations

PREFIX = "labctl-"
BRIDGE = "br0"  # the lab network's bridge, inside the lan namespace
IFNAME_MAX = 15  # the kernel's limit on an interface name


def node_namespace(lab: str, node: str) -> str:
    return f"{PREFIX}{lab}_{node}"


def lan_namespace(lab: str) -> str:
    """The namespace of the lab network's bridge: the host side of the lab, as a VM lab's
    libvirt bridge (captures, link actions, host-side probes and checks run there)."""
    return f"{PREFIX}{lab}__lan"


def lab_namespaces(lab: str, names: list[str]) -> list[str]:
    """Of NAMES (`ip netns list`), those of lab LAB: its nodes' and its network's."""
    own = f"{PREFIX}{lab}_"
    rests = {n: n[len(own) :] for n in names if n.startswith(own)}
    return sorted(n for n, rest in rests.items() if rest == "_lan" or (rest and "_" not in rest))


def port_name(index: int, node: str) -> str:
    """NODE's bridge port in the lan namespace (the host side of its link, as a VM's tap):
    unique by its index, the node's name as far as the kernel's 15 characters allow."""
    return f"p{index}-{node}"[:IFNAME_MAX]
