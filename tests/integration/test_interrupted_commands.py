"""What labctl killed outright leaves behind, with real processes: a child started through
dies_with_parent ends with it; a recorded process group is stopped whole, and nothing outside
it; a `vagrant` command (the real one) leaves a record while it runs, forgotten on success,
kept for `up` when it fails, so the next `labctl up` runs `vagrant up` again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labctl.lab.host.processes import ProcessRecord, dies_with_parent, group_members, stop_group
from labctl.lab.host.state import LabState
from labctl.lab.vms.vagrant import LabVagrant

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_child_started_through_dies_with_parent_ends_when_its_parent_is_killed(tmp_path):
    parent_code = textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen({dies_with_parent(["sleep", "120"])!r})
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        # setpriv sets the signal, then execs: kill the parent only once that has happened
        # (a parent that dies before the child's prctl cannot be told of, by design).
        deadline = time.monotonic() + 10
        while _comm(child) != "sleep" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _alive(child) and _comm(child) == "sleep"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_gone(child), "the child outlived its parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_stop_group_stops_the_recorded_group_and_nothing_else():
    group = subprocess.Popen(["sh", "-c", "sleep 120 & sleep 120 & wait"], start_new_session=True)
    outsider = subprocess.Popen(["sleep", "120"])
    try:
        leader = ProcessRecord.of(group.pid)
        deadline = time.monotonic() + 5
        while len(group_members(leader)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        members = group_members(leader)
        assert len(members) == 3 and outsider.pid not in {m.pid for m in members}
        assert stop_group(leader, grace=5)
        group.wait(timeout=5)
        assert all(_wait_gone(m.pid) for m in members)
        assert _alive(outsider.pid)
        assert not stop_group(leader)  # nothing left: nothing to stop
    finally:
        for popen in (group, outsider):
            popen.kill()
            popen.wait()


def test_a_record_from_another_boot_names_no_process():
    me = ProcessRecord.of(os.getpid())
    assert group_members(ProcessRecord(me.pid, "another-boot", me.start)) == []


def _lab_vagrant(tmp_path: Path) -> tuple[LabVagrant, LabState]:
    state = LabState(tmp_path / ".labctl" / "lab")
    state.ensure()
    (state.root / "logs").mkdir()
    (state.root / "render").mkdir()
    vagrant = LabVagrant(state.root / "render", dict(os.environ), state.root / "logs" / "vagrant.log", state=state)
    return vagrant, state


def test_a_vagrant_command_that_ends_well_leaves_no_record(tmp_path):
    vagrant, state = _lab_vagrant(tmp_path)
    vagrant._stream(["--version"], None, "up")  # the real vagrant, quick
    assert not vagrant.unfinished_up() and not (state.root / "vagrant-up.json").exists()


def test_a_failed_vagrant_up_stays_unfinished_for_the_next_up(tmp_path):
    vagrant, state = _lab_vagrant(tmp_path)
    with pytest.raises(Exception, match="vagrant up failed"):
        vagrant._stream(["no-such-command"], None, "up")
    assert vagrant.unfinished_up()
    record = json.loads((state.root / "vagrant-up.json").read_text())
    assert set(record) == {"pid", "boot", "start"}
    assert vagrant.stop_leftovers() == []  # it ended: nothing to stop, the record stays
    assert vagrant.unfinished_up()


def test_a_leftover_vagrant_process_is_stopped_by_the_next_command(tmp_path):
    vagrant, state = _lab_vagrant(tmp_path)
    # Stands for a vagrant left by a killed labctl: a live group recorded as the up's.
    leftover = subprocess.Popen(["sh", "-c", "sleep 120 & wait"], start_new_session=True)
    try:
        state.write("vagrant-up.json", json.dumps(ProcessRecord.of(leftover.pid).to_dict()))
        state.write("vagrant-halt.json", "{not json")  # a damaged record names nothing
        assert vagrant.stop_leftovers() == ["up"]
        leftover.wait(timeout=10)
        assert vagrant.unfinished_up() and not (state.root / "vagrant-halt.json").exists()
    finally:
        leftover.kill()
        leftover.wait()


def test_only_the_main_thread_ties_a_child_to_its_life():
    """The kernel sends the signal when the *thread* that forked ends: a worker thread's child
    must not get it (it would die with the worker)."""
    import threading

    seen: list[list[str]] = []
    worker = threading.Thread(target=lambda: seen.append(dies_with_parent(["true"])))
    worker.start()
    worker.join()
    assert seen == [["true"]]
    assert dies_with_parent(["true"])[:3] == ["setpriv", "--pdeathsig", "TERM"]


def test_a_record_whose_number_names_another_process_now_selects_nothing():
    """The recorded group is gone and its leader's PID taken by a new process (leading a group
    of its own): that group is not the record's, whatever its start time."""
    newcomer = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        now = ProcessRecord.of(newcomer.pid)
        assert group_members(ProcessRecord(now.pid, now.boot, now.start - 1)) == []
        assert not stop_group(ProcessRecord(now.pid, now.boot, now.start - 1))
        assert _alive(newcomer.pid)
    finally:
        newcomer.kill()
        newcomer.wait()


def test_a_box_meta_left_empty_by_a_killed_up_is_removed_so_vagrant_runs_again(tmp_path):
    """Vagrant rewrites each machine's box_meta at every `up`; one killed meanwhile left it
    empty and every vagrant command died in Ruby's JSON parser (CI10). The real vagrant here:
    `vagrant status` fails on the empty file, and runs once stop_leftovers has removed it."""
    vagrant, state = _lab_vagrant(tmp_path)
    render = state.root / "render"
    vagrantfile = 'Vagrant.configure("2") do |c|\n  c.vm.define "b1" do |b|\n    b.vm.box = "x"\n  end\nend\n'
    (render / "Vagrantfile").write_text(vagrantfile)
    data = render / ".vagrant" / "machines" / "b1" / vagrant.provider
    data.mkdir(parents=True)
    (data / "box_meta").write_text("")
    good = render / ".vagrant" / "machines" / "b2" / vagrant.provider
    good.mkdir(parents=True)
    (good / "box_meta").write_text('{"name": "x", "version": "0"}')
    env = {**os.environ, "VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_CHECKPOINT_DISABLE": "1"}

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["vagrant", "status", "b1"], cwd=render, env=env, capture_output=True, text=True)

    failed = status()
    assert failed.returncode != 0 and "JSON::ParserError" in failed.stderr
    vagrant.stop_leftovers()
    assert not (data / "box_meta").exists() and (good / "box_meta").exists()
    assert status().returncode == 0
