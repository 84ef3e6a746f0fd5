"""Teardown touches only what is the lab's: `labctl destroy` (as root, the README's `sudo`)
refuses a state folder that is a link instead of deleting where it points, never kills a
process whose PID merely matches a stale record, waits for no one but names the command that
holds the lab, and two folders whose labs share a name never share a namespace."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.host.lock import lab_lock
from labctl.lab.host.processes import ProcessRecord
from labctl.lab.host.sandbox import NAMESPACE_RECORDS, PROCESS_RECORD, Sandbox, SandboxError
from labctl.lab.host.state import LabState
from labctl.lab.running import RunInfo, RunningLab
from labctl.model.initlab import initial_lab, write_lab_file
from tests.support.labctl_run import run_labctl

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, libvirtd)"),
]


def labctl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_labctl(folder, *args, timeout=120)


def _unique() -> str:
    return f"s{uuid.uuid4().hex[:6]}"


def _victim(tmp_path: Path, name: str) -> Path:
    """A folder outside the lab that looks like lab state to anyone following links."""
    victim = tmp_path / "victim"
    (victim / name / "sandbox").mkdir(parents=True)
    lab = initial_lab(name, provider="libvirt", driver="qemu", box="local")
    (victim / name / "runinfo.json").write_text(json.dumps(RunInfo.of(lab).__dict__))
    (victim / name / "precious").write_text("not the lab's\n")
    return victim


@pytest.mark.parametrize("linked", [".labctl", ".labctl/<lab>"])
def test_destroy_refuses_a_linked_state_folder(tmp_path, linked):
    name = _unique()
    folder = tmp_path / "lab"
    write_lab_file(folder, initial_lab(name, provider="libvirt", driver="qemu", box="local"))
    victim = _victim(tmp_path, name)
    if linked == ".labctl":
        (folder / ".labctl").symlink_to(victim)
    else:
        (folder / ".labctl").mkdir()
        (folder / ".labctl" / name).symlink_to(victim / name)

    proc = labctl(folder, "destroy", "--yes")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refusing" in proc.stderr and "symbolic link" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (victim / name / "precious").read_text() == "not the lab's\n"
    assert (victim / name / "sandbox").is_dir()


def test_destroy_refuses_a_state_folder_of_another_user(tmp_path):
    name = _unique()
    folder = tmp_path / "lab"
    lab = initial_lab(name)
    path = write_lab_file(folder, lab)
    state = LabState.for_lab(path, name)
    RunInfo.of(lab).save(state)
    (state.root / "precious").write_text("theirs\n")
    os.chown(state.root, 65534, 65534)  # not root's, not the lab folder's owner's

    proc = labctl(folder, "destroy", "--yes")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refusing" in proc.stderr and "belongs to" in proc.stderr
    assert (state.root / "precious").read_text() == "theirs\n"


def _fake_daemon(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    program = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    return subprocess.Popen([str(program), "300"])


def test_destroy_does_not_kill_a_process_whose_record_is_stale(tmp_path):
    """The sandbox's pid file and record name a PID that is alive and even called libvirtd,
    but its start time differs from the record's: a reused PID (as after a reboot)."""
    name = _unique()
    folder = tmp_path / "lab"
    lab = initial_lab(name, provider="libvirt", driver="qemu", box="local")
    path = write_lab_file(folder, lab)
    run = RunningLab.for_lab(lab, path)
    RunInfo.of(lab).save(run.state)
    assert run.sandbox is not None and not netns.exists(run.sandbox.name)
    stranger = _fake_daemon(tmp_path, "libvirtd")
    try:
        record = ProcessRecord.of(stranger.pid)
        assert record is not None
        pids = run.sandbox.libvirt_dir / "run"
        pids.mkdir(parents=True)
        (pids / "libvirtd.pid").write_text(f"{stranger.pid}\n")
        stale = {"pid": stranger.pid, "boot": record.boot, "start": record.start - 50}
        (pids / PROCESS_RECORD).write_text(
            json.dumps({"boot": record.boot, "mntns": None, "daemons": {"libvirtd": stale}})
        )

        proc = labctl(folder, "destroy", "--yes")

        assert proc.returncode == 0, proc.stdout + proc.stderr
        time.sleep(0.3)
        assert stranger.poll() is None, "a process that is not the lab's was killed"
        assert not run.state.root.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_second_command_names_the_one_holding_the_lab(tmp_path):
    name = _unique()
    folder = tmp_path / "lab"
    lab = initial_lab(name)
    path = write_lab_file(folder, lab)
    state = LabState.for_lab(path, name)
    RunInfo.of(lab).save(state)
    with lab_lock(state, "up"):
        proc = labctl(folder, "destroy", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"lab {name} is busy: pid {os.getpid()}: labctl up" in proc.stderr
    assert state.root.is_dir()  # nothing was removed
    assert labctl(folder, "destroy", "--yes").returncode == 0  # once free, it goes ahead


@pytest.mark.skipif(
    shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists(), reason="libvirtd not installed"
)
def test_two_folders_with_labs_of_one_name_do_not_share_a_namespace(tmp_path):
    namespace = f"labctl-t{uuid.uuid4().hex[:8]}"
    first = Sandbox(namespace, tmp_path / "one" / ".labctl" / "lab" / "sandbox")
    second = Sandbox(namespace, tmp_path / "two" / ".labctl" / "lab" / "sandbox")
    try:
        first.start()
        with pytest.raises(SandboxError) as refused:
            second.start()
        assert f"belongs to the lab in {tmp_path / 'one'} (state {first.state_dir})" in str(refused.value)
        assert first.running()  # the other lab is untouched
        first.destroy()
        second.start()  # the name is free again
        assert second.running()
    finally:
        for sandbox in (second, first):
            if sandbox.running() or netns.exists(namespace):
                try:
                    sandbox.destroy()
                except SandboxError:
                    pass


@pytest.mark.skipif(
    shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists(), reason="libvirtd not installed"
)
def test_a_lab_folder_removed_without_destroy_leaves_a_namespace_that_is_named_not_reused(tmp_path):
    """Seen in a benchmark: a lab's folder deleted while its sandbox ran; the next lab of that
    name met the old bridges in the namespace and failed with libvirt's "already in use"."""
    namespace = f"labctl-t{uuid.uuid4().hex[:8]}"
    first = Sandbox(namespace, tmp_path / "one" / ".labctl" / "lab" / "sandbox")
    second = Sandbox(namespace, tmp_path / "two" / ".labctl" / "lab" / "sandbox")
    started: list[int] = []
    try:
        first.start()
        started = first.pids()
        shutil.rmtree(tmp_path / "one")
        with pytest.raises(SandboxError) as refused:
            second.start()
        message = str(refused.value)
        assert f"network namespace {namespace} still runs processes of a lab whose state" in message
        assert "libvirtd" in message and f"ip netns delete {namespace}" in message
        assert set(started) <= set(netns.pids_in(namespace))  # nothing of the old lab was touched
    finally:
        for pid in started:  # only what this test started, by PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        if netns.exists(namespace):
            netns.delete(namespace)
        (NAMESPACE_RECORDS / namespace).unlink(missing_ok=True)
