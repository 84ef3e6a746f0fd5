"""What the commands that work on a brought-up lab share: the lab's runtime pieces once its
state folder is checked. (The nodes a TARGET argument names: labctl.model.targets.nodes_of,
the grammar scenarios use too.)"""

from __future__ import annotations

from pathlib import Path

from labctl.errors import LabctlError
from labctl.model.lab import Lab


def running_lab(lab: Lab, lab_path: Path, brought_up: bool = False):
    """The lab's runtime pieces once its state folder has been checked; with BROUGHT_UP, an
    error (exit 1) when the lab has never been brought up."""
    from labctl.lab.host.lablog import log_to_lab
    from labctl.lab.host.state import LabState
    from labctl.lab.host.statecheck import check_state
    from labctl.lab.running import RunningLab

    check_state(LabState.for_lab(lab_path, lab.name))
    run = RunningLab.for_lab(lab, lab_path)
    if run.state.root.is_dir():
        log_to_lab(run.state.logs_dir, run.state.folder)
    if brought_up and not run.is_brought_up():
        raise LabctlError(f"lab {lab.name} has never been brought up here", fix="labctl up")
    return run
