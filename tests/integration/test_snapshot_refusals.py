"""Whole-lab snapshots refuse before touching a VM: a restore while a scenario run holds the
lab (the lab's lock, as `scenario run` takes it) names that run and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from labctl.lab.host.lock import lab_lock
from labctl.lab.host.state import LabState
from labctl.lab.running import RunInfo
from labctl.model.initlab import initial_lab, write_lab_file


def labctl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "labctl.cli.main", *args]
    return subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120)


def test_a_restore_while_a_scenario_runs_is_refused_and_names_the_run(tmp_path):
    name = f"snap{uuid.uuid4().hex[:6]}"
    lab = initial_lab(name)
    path = write_lab_file(tmp_path / "lab", lab)
    state = LabState.for_lab(path, name)
    RunInfo.of(lab).save(state)
    with lab_lock(state, "scenario run failover"):
        before = sorted(p.name for p in state.root.iterdir())
        proc = labctl(path.parent, "snapshot", "restore", "ready")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"pid {os.getpid()}: labctl scenario run failover" in proc.stderr
    assert sorted(p.name for p in state.root.iterdir()) == before  # nothing written, nothing reverted


def test_suspend_and_snapshots_of_a_lab_never_brought_up_say_so(tmp_path):
    name = f"snap{uuid.uuid4().hex[:6]}"
    path = write_lab_file(tmp_path / "lab", initial_lab(name))
    for args in (("suspend",), ("snapshot", "save", "x"), ("snapshot", "list")):
        proc = labctl(path.parent, *args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "has never been brought up" in proc.stderr, args
