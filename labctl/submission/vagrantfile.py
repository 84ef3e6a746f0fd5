"""A Vagrantfile read as text for node names and private addresses. It is Ruby: never run."""

from __future__ import annotations

import re
from dataclasses import dataclass

from labctl.submission.where import Where

_DEFINE = re.compile(r"""\.vm\.define\s*\(?\s*(?:"([^"#]+)"|'([^']+)'|:(\w+))""")
_PRIVATE = re.compile(r"""private_network.*?\bip:\s*["']([0-9.]+)["']""")
_NETMASK = re.compile(r"""netmask:\s*["']([0-9.]+)["']""")


@dataclass(frozen=True)
class VagrantNode:
    name: str
    address: str
    netmask: str | None
    where: Where


def vagrant_nodes(text: str, file: str) -> list[VagrantNode]:
    """Each `config.vm.define NAME` with the first private_network address inside it."""
    nodes: list[VagrantNode] = []
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        define = _DEFINE.search(line)
        if define:
            current = next(g for g in define.groups() if g)
        private = _PRIVATE.search(code)
        if private and current and all(n.name != current for n in nodes):
            mask = _NETMASK.search(code)
            nodes.append(VagrantNode(current, private.group(1), mask.group(1) if mask else None, Where(file, number)))
    return nodes
