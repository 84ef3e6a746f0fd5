"""What the commands that work on a brought-up lab share: the lab's runtime pieces once its
state folder is checked, and the nodes a TARGET argument names."""

from __future__ import annotations

from pathlib import Path

from labctl.errors import LabctlError
from labctl.model.lab import Lab


def running_lab(lab: Lab, lab_path: Path, brought_up: bool = False):
    """The lab's runtime pieces once its state folder has been checked; with BROUGHT_UP, an
    error (exit 1) when the lab has never been brought up."""
    from labctl.lab.lablog import log_to_lab
    from labctl.lab.running import RunningLab
    from labctl.lab.state import LabState
    from labctl.lab.statecheck import check_state

    check_state(LabState.for_lab(lab_path, lab.name))
    run = RunningLab.for_lab(lab, lab_path)
    if run.state.root.is_dir():
        log_to_lab(run.state.logs_dir, run.state.folder)
    if brought_up and not run.has_vagrant_dir():
        raise LabctlError(f"lab {lab.name} has never been brought up here", fix="labctl up")
    return run


def resolve_targets(lab: Lab, target: str) -> list[str]:
    """A node name, a role (balancer(s), real(s), client(s)) or `all`."""
    if target == "all":
        return [n.name for n in lab.nodes]
    role = target.rstrip("s") if target.rstrip("s") in ("balancer", "real", "client") else None
    if role:
        return [n.name for n in lab.by_role(role)]
    if any(n.name == target for n in lab.nodes):
        return [target]
    raise LabctlError(
        f"no node or role {target!r}: use a node ({', '.join(n.name for n in lab.nodes)}), "
        "a role (balancers, reals, clients) or all",
        exit_code=2,
    )
