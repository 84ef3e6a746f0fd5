"""`labctl destroy` works from the lab's state alone: the lab file may be changed or gone.
A real sandbox (libvirtd in a network namespace) with a real libvirt network is made, the lab
file removed, and destroy must leave no namespace, daemon, network or state behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.host.sandbox import process_alive
from labctl.lab.running import RunInfo, RunningLab
from labctl.model.initlab import initial_lab, write_lab_file
from tests.support.labctl_run import run_labctl

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, libvirtd)"),
]

NETWORK = """<network><name>labctl-lab</name><bridge name='labbr0'/>
<ip address='10.10.1.1' netmask='255.255.255.0'/></network>"""


def labctl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_labctl(folder, *args, timeout=300)


@pytest.fixture
def started_lab(tmp_path):
    """A lab whose sandbox runs with a libvirt network in it, as `labctl up` leaves it before
    the VMs; torn down by the test itself, or here if the test failed first."""
    name = f"d{uuid.uuid4().hex[:6]}"
    lab = initial_lab(name, provider="libvirt", driver="qemu", box="local")
    path = write_lab_file(tmp_path, lab)
    run = RunningLab.for_lab(lab, path)
    try:
        RunInfo.of(lab).save(run.state)
        run.start_sandbox()
        net_xml = run.state.root / "net.xml"
        net_xml.write_text(NETWORK)
        run.sandbox.virsh("net-create", str(net_xml))
        run.render()
        yield tmp_path, run
    finally:
        if run.sandbox.running() or netns.exists(run.sandbox.name):
            run.sandbox.destroy()


def test_destroy_without_the_lab_file_leaves_nothing(started_lab):
    folder, run = started_lab
    namespace = run.sandbox.name
    daemons = run.sandbox.pids()
    assert netns.exists(namespace) and daemons
    assert "labctl-lab" in run.sandbox.virsh("net-list", "--name").stdout
    (folder / "lab.yaml").unlink()

    proc = labctl(folder, "destroy", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"destroyed lab {run.info.name}" in proc.stdout
    assert not netns.exists(namespace)
    assert not any(process_alive(pid) for pid in daemons)
    assert not run.state.root.exists()
    again = labctl(folder, "destroy", "--yes")
    assert again.returncode == 0 and "nothing to destroy" in again.stdout


def test_destroy_asks_which_lab_when_several_live_here(tmp_path):
    for name in ("one", "two"):
        lab = initial_lab(name)
        RunInfo.of(lab).save(RunningLab.for_lab(lab, tmp_path / "lab.yaml").state)
    proc = labctl(tmp_path, "destroy", "--yes")
    assert proc.returncode == 1
    assert "several labs live here: one, two" in proc.stderr
    assert "labctl destroy --name NAME" in proc.stderr
    # --name picks one; a lab never brought up (no sandbox, no VMs) just loses its state.
    proc = labctl(tmp_path, "destroy", "--yes", "--name", "one")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / ".labctl" / "one").exists() and (tmp_path / ".labctl" / "two").exists()


def test_up_without_vagrant_names_the_fix(tmp_path):
    write_lab_file(tmp_path, initial_lab("nov"))
    env = {**os.environ, "PATH": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "-m", "labctl.cli", "up"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "Vagrant is not installed" in proc.stderr and "fix: apt-get install vagrant" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_up_with_virtualbox_missing_names_the_fix(tmp_path):
    if shutil.which("VBoxManage"):
        pytest.skip("VirtualBox is installed here")
    write_lab_file(tmp_path, initial_lab("novbox"))  # the reference lab: provider virtualbox
    proc = labctl(tmp_path, "up")
    assert proc.returncode == 1
    assert "VirtualBox, which is not installed" in proc.stderr
    assert "--provider libvirt --driver qemu --box local" in proc.stderr
