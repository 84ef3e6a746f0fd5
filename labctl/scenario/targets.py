"""Targets: which node(s) a step acts on, written as a node name, a role, a reference bound
earlier with `as:`, or derived from the lab's state (`master_of: VI_1`, `holder_of: VI_1`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labctl.errors import LabctlError
from labctl.model.lab import Lab

TARGET_KINDS = ("node", "role", "master_of", "holder_of", "ref")


class TargetError(LabctlError, ValueError):
    """A target that names no node, or nodes the lab does not have."""


@dataclass(frozen=True)
class Target:
    kind: str
    name: str

    def __str__(self) -> str:
        return self.name if self.kind == "node" else f"{self.kind}:{self.name}"


def parse_target(value: object) -> Target:
    """'b1', 'role:balancer', 'master_of:VI_1', {'master_of': 'VI_1'}, {'ref': 'victim'}."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise TargetError(f"a target is one of {', '.join(TARGET_KINDS)}, got {value!r}")
        kind, name = next(iter(value.items()))
    elif isinstance(value, str) and ":" in value:
        kind, name = value.split(":", 1)
    elif isinstance(value, str):
        kind, name = "node", value
    else:
        raise TargetError(f"a target is a node name or a mapping such as {{master_of: VI_1}}, got {value!r}")
    if kind not in TARGET_KINDS:
        raise TargetError(f"unknown target kind {kind!r}: use one of {', '.join(TARGET_KINDS)}")
    if not isinstance(name, str) or not name:
        raise TargetError(f"{kind}: needs a name, got {name!r}")
    return Target(str(kind), name)


def check_target(target: Target, lab: Lab | None, refs: set[str]) -> str | None:
    """Why TARGET cannot work in LAB with the references bound so far, or None."""
    if target.kind == "node" and target.name in refs:
        return None  # a bare reference name is allowed
    if target.kind == "ref":
        return (
            None
            if target.name in refs
            else (
                f"reference {target.name!r} is not bound by an earlier `as:` "
                f"(bound: {', '.join(sorted(refs)) or 'none'})"
            )
        )
    if lab is None:
        return None
    if target.kind == "node" and target.name not in {n.name for n in lab.nodes}:
        bound = (
            f"; references bound so far: {', '.join(sorted(refs))}"
            if refs
            else ("; no reference is bound by an earlier `as:` either")
        )
        return f"no node {target.name!r} in lab {lab.name} ({', '.join(n.name for n in lab.nodes)}){bound}"
    if target.kind == "role" and not lab.by_role(target.name):
        return f"no node has role {target.name!r} (roles: balancer, real, client)"
    if target.kind in ("master_of", "holder_of") and target.name not in {v.name for v in lab.vips}:
        return f"no VRRP instance {target.name!r} ({', '.join(v.name for v in lab.vips)})"
    return None


def resolve(target: Target, lab: Lab, refs: dict[str, str], current_holder: Callable[[str], str | None]) -> list[str]:
    """The node names TARGET means now. CURRENT_HOLDER(instance) is the holder seen in the
    captures (None when unknown): master_of falls back to the elected master."""
    if target.kind == "ref" or (target.kind == "node" and target.name in refs):
        return [refs[target.name]]
    if target.kind == "node":
        return [target.name]
    if target.kind == "role":
        return [n.name for n in lab.by_role(target.name)]
    vip = lab.vip(target.name)
    holder = current_holder(vip.address)
    if holder is None:
        if target.kind == "holder_of":
            raise TargetError(f"nobody holds {vip.name} ({vip.address}) right now")
        holder = lab.elected_master(vip)
    if holder is None:
        raise TargetError(f"{vip.name} has no master")
    return [holder]
