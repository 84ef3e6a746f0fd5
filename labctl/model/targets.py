"""Targets: which node(s) a command or a scenario step acts on. One grammar for both.

The canonical spelling (scenario files and the docs):

    b1                a node (`node:b1` when a node is named like a role word or `all`)
    role:balancer     every node of a role: balancer, real or client ({role: balancer} in YAML)
    all               every node (in a scenario step: every node the step works on by default)
    master_of:VI_1    the VRRP master of an instance, as seen now (scenarios only)
    holder_of:VI_1    the node holding its VIP right now (scenarios only)
    ref:victim        the node an earlier `as: victim` bound (scenarios only; or plain `victim`)

Accepted everywhere as aliases: a role's bare name, singular or plural (`balancers`, `real`,
`clients`), and `role:balancers`. `labctl exec balancers` and `labctl exec role:balancer` act
on the same nodes; so do `target: balancers` and `target: {role: balancer}` in a scenario.
Pure: the lab's state reaches `resolve` only through its CURRENT_HOLDER callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labctl.errors import LabctlError
from labctl.model.lab import ROLES, Lab

TARGET_KINDS = ("node", "role", "master_of", "holder_of", "ref", "all")
# Kinds that need a running scenario: the live holder of a VIP, or a name bound by `as:`.
SCENARIO_ONLY = ("master_of", "holder_of", "ref")
ALL = "all"
# A role by its bare name, singular or plural: `balancers` is `role:balancer`.
ROLE_WORDS = {**{role: role for role in ROLES}, **{f"{role}s": role for role in ROLES}}

FORMS = (
    "a node (b1), a role (role:balancer, role:real, role:client; or balancers, reals, clients), all, "
    "master_of:VI_1, holder_of:VI_1 or a reference bound by an earlier `as:`"
)
CLI_FORMS = "a node, a role (role:balancer, role:real, role:client; or balancers, reals, clients) or all"


class TargetError(LabctlError, ValueError):
    """A target that names no node, or nodes the lab does not have."""


@dataclass(frozen=True)
class Target:
    kind: str
    name: str

    def __str__(self) -> str:
        if self.kind == "node" and (self.name in ROLE_WORDS or self.name == ALL):
            return f"node:{self.name}"
        return self.name if self.kind in ("node", "all") else f"{self.kind}:{self.name}"


def parse_target(value: object) -> Target:
    """'b1', 'role:balancer', 'balancers', 'all', 'master_of:VI_1', {'master_of': 'VI_1'},
    {'ref': 'victim'}, 'node:b1'. A TargetError names the accepted forms."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise TargetError(f"a target is one of {', '.join(TARGET_KINDS)}, got {value!r}")
        kind, name = next(iter(value.items()))
    elif isinstance(value, str) and ":" in value:
        kind, name = value.split(":", 1)
    elif isinstance(value, str) and value == ALL:
        kind, name = ALL, ALL
    elif isinstance(value, str) and value in ROLE_WORDS:
        kind, name = "role", value
    elif isinstance(value, str):
        kind, name = "node", value
    else:
        raise TargetError(f"a target is {FORMS}; got {value!r}")
    if kind not in TARGET_KINDS:
        raise TargetError(f"unknown target kind {kind!r}: a target is {FORMS}")
    if not isinstance(name, str) or not name:
        raise TargetError(f"{kind}: needs a name, got {name!r}")
    if kind == "role":
        if name not in ROLE_WORDS:
            raise TargetError(f"no role {name!r}: the roles are {', '.join(ROLES)} (role:balancer, or balancers)")
        name = ROLE_WORDS[name]
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
    if target.kind == ALL:
        return [n.name for n in lab.nodes]
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


def nodes_of(lab: Lab, text: str) -> list[str]:
    """The nodes a command-line TARGET names (the same grammar as a scenario's; the kinds that
    need a running scenario refused), or a TargetError (exit 2) naming the accepted forms."""
    try:
        target = parse_target(text)
    except TargetError as exc:
        raise TargetError(f"no node or role {text!r}: {exc.message}", exit_code=2) from None
    if target.kind in SCENARIO_ONLY:
        raise TargetError(
            f"{text!r} needs a running scenario (the holder right now, or a name bound by `as:`): "
            f"on the command line use {CLI_FORMS}",
            exit_code=2,
        )
    reason = check_target(target, lab, set())
    if reason is not None:
        raise TargetError(
            f"no node or role {text!r}: use a node ({', '.join(n.name for n in lab.nodes)}), "
            f"a role (role:balancer, role:real, role:client; or balancers, reals, clients) or all",
            exit_code=2,
        )
    return resolve(target, lab, {}, lambda _address: None)
