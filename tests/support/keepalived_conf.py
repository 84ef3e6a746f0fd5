"""A small reader of keepalived.conf vrrp_instance blocks, for comparing configurations in tests."""

from __future__ import annotations

import re


def vrrp_instances(text: str) -> dict[str, dict[str, str]]:
    """{instance name: {state, interface, virtual_router_id, priority, advert_int, auth_type,
    vips}} from the vrrp_instance blocks of TEXT (comments after '#' or '!' dropped)."""
    instances: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    depth = 0
    section = None
    for raw in text.splitlines():
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        match = re.match(r"vrrp_instance\s+(\S+)\s*\{", line)
        if match and depth == 0:
            current = {"vips": ""}
            instances[match.group(1)] = current
            depth = 1
            continue
        if current is None:
            depth += line.count("{") - line.count("}")
            continue
        if line.endswith("{"):
            section = line.split()[0]
            depth += 1
            continue
        if line == "}":
            depth -= 1
            section = None
            if depth == 0:
                current = None
            continue
        words = line.split()
        if section == "virtual_ipaddress":
            current["vips"] = " ".join(filter(None, [current["vips"], words[0]]))
        elif section == "authentication":
            current[words[0]] = words[1]
        else:
            current[words[0]] = " ".join(words[1:])
    return instances


def reference_files(homework_text: str) -> dict[str, str]:
    """The three keepalived.conf files printed in the homework, by balancer name."""
    files = {}
    for match in re.finditer(
        r"root@(b\d):~# cat /etc/keepalived/keepalived.conf\n(.*?)root@\1:~#", homework_text, re.S
    ):
        files[match.group(1)] = match.group(2)
    return files
