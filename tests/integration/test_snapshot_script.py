"""The one node-side script that every reading of a node goes through, run for real here:
once (as `labctl status` and `up`'s checks do) and in a loop (as a scenario's polling does),
parsed by the one parser."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from labctl.observe.snapshot import parse_snapshot, parse_snapshots
from labctl.resources import provision_dir

pytestmark = pytest.mark.integration
SCRIPT = provision_dir() / "common" / "labctl-snapshot.sh"


def test_one_reading_has_every_section_asked_for(tmp_path: Path):
    (tmp_path / "VI_1").write_text("MASTER\n")
    (tmp_path / "VI_2").write_text("BACKUP\n")
    out = subprocess.run(
        ["sh", str(SCRIPT), "--vrrp-dir", str(tmp_path), "hostname", "addr", "vrrp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    snapshot = parse_snapshot("here", out)
    assert snapshot.problems == []
    assert snapshot.hostname == socket.gethostname()
    assert "127.0.0.1" in {a.address for a in snapshot.addresses}
    assert snapshot.vrrp == {"VI_1": "MASTER", "VI_2": "BACKUP"}


def test_the_loop_prints_complete_snapshots_spaced_by_the_interval(tmp_path: Path):
    proc = subprocess.run(
        ["timeout", "1", "sh", str(SCRIPT), "--every", "0.2", "--vrrp-dir", str(tmp_path), "addr"],
        capture_output=True,
        text=True,
    )
    snapshots = parse_snapshots(proc.stdout, "here", offset=0.0)
    assert len(snapshots) >= 3
    gaps = [b.t - a.t for a, b in zip(snapshots, snapshots[1:])]
    assert all(0.1 < gap < 1.0 for gap in gaps), gaps
