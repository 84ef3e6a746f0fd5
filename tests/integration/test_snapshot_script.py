"""The one node-side script that every reading of a node goes through, run for real here:
once (as `labctl status` and `up`'s checks do) and in a loop (as a scenario's polling does),
parsed by the one parser."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
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


NOTIFY = provision_dir() / "balancer" / "labctl-vrrp-notify"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_folder():
    """A folder the login user can reach (pytest's own are root's alone), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="labctl-words-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_state_words_keepalived_writes_are_readable_without_root(open_folder: Path):
    """keepalived runs its notify script with umask 077: the words must still be readable by
    the login user, who reads them without sudo. /run is a private copy here (a mount
    namespace with a folder of the test's bound on it)."""
    run = open_folder / "run"
    run.mkdir()
    script = f"mount --bind {run} /run && umask 077 && sh {NOTIFY} INSTANCE VI_1 MASTER 102"
    subprocess.run(["unshare", "-m", "sh", "-c", script], check=True)
    modes = {p: oct(p.stat().st_mode & 0o777) for p in (run / "labctl", run / "labctl" / "vrrp")}
    assert set(modes.values()) == {"0o755"}, modes
    word = run / "labctl" / "vrrp" / "VI_1"
    assert word.read_text() == "MASTER\n" and oct(word.stat().st_mode & 0o777) == "0o644"
    # And the login user reads it through the snapshot script.
    out = subprocess.run(
        [*NOBODY, "sh", str(SCRIPT), "--vrrp-dir", str(run / "labctl" / "vrrp"), "vrrp"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert parse_snapshot("here", out.stdout).vrrp == {"VI_1": "MASTER"} and out.stderr == ""


def test_a_folder_only_root_can_read_is_said_so_on_stderr(open_folder: Path):
    """A lab provisioned by an older labctl: its VRRP folder is root's alone. Read without
    root, the script says so (and read_node_state asks again with sudo)."""
    words = open_folder / "vrrp"
    words.mkdir(mode=0o700)
    (words / "VI_1").write_text("MASTER\n")
    out = subprocess.run([*NOBODY, "sh", str(SCRIPT), "--vrrp-dir", str(words), "vrrp"], capture_output=True, text=True)
    assert "unreadable" in out.stderr and parse_snapshot("here", out.stdout).vrrp == {}
