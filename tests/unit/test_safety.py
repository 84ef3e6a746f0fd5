"""Root never writes through a link nor into someone else's folder; one command at a time per
lab; a PID is only signalled while it is still the recorded process; a scenario's changes are
journaled and replayed; `render --out` removes only what it wrote."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labctl.lab.host import safefiles
from labctl.lab.host.processes import ProcessRecord, signal_recorded, start_time
from labctl.lab.host.state import LabState
from labctl.lab.runtime import Capability
from labctl.lab.vms.render import RenderedFile, write_rendered
from labctl.observe.parse import IpvsTimeouts
from labctl.scenario import actions
from tests.unit.test_scenario_engine import FakeLab

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (files of another user)")
NOBODY = 65534


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- the safe writer -------------------------------------------------------------------------


def test_a_link_planted_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "lab" / ".labctl" / "render"
    out.mkdir(parents=True)
    (out / "Vagrantfile").symlink_to(victim)

    write_rendered([RenderedFile("Vagrantfile", "rendered\n")], out, base=tmp_path / "lab")

    assert victim.read_text() == "precious\n"
    assert not (out / "Vagrantfile").is_symlink()
    assert (out / "Vagrantfile").read_text() == "rendered\n"


def test_a_linked_folder_on_the_way_is_refused(tmp_path):
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    lab = tmp_path / "lab"
    (lab / ".labctl").mkdir(parents=True)
    (lab / ".labctl" / "render").symlink_to(elsewhere)

    with pytest.raises(safefiles.UnsafePathError, match="symbolic link"):
        write_rendered([RenderedFile("Vagrantfile", "x")], lab / ".labctl" / "render", base=lab)
    assert list(elsewhere.iterdir()) == []


def test_secrets_are_never_written_through_a_link(tmp_path):
    victim = tmp_path / "shadow"
    victim.write_text("root:x\n")
    state = LabState(tmp_path / "lab" / ".labctl" / "one")
    state.ensure()
    state.secrets_file.symlink_to(victim)

    state.write_secrets({"vrrp_auth_pass": "s3cret"})

    assert victim.read_text() == "root:x\n"
    assert not state.secrets_file.is_symlink()
    assert _mode(state.secrets_file) == 0o600 and _mode(state.root) == 0o700


@needs_root
def test_a_folder_of_another_user_is_refused_to_root(tmp_path):
    lab = tmp_path / "lab"
    foreign = lab / ".labctl"
    foreign.mkdir(parents=True)
    os.chown(foreign, NOBODY, NOBODY)  # not root's, not the lab folder's owner's
    with pytest.raises(safefiles.UnsafePathError, match="belongs to"):
        LabState(foreign / "one").write_secrets({"k": "v"})
    assert not (foreign / "one").exists()


@needs_root
def test_root_refuses_a_folder_others_may_write_in(tmp_path):
    lab = tmp_path / "lab"
    (lab / ".labctl").mkdir(parents=True)
    os.chmod(lab / ".labctl", 0o777)
    with pytest.raises(safefiles.UnsafePathError, match="others than its owner"):
        safefiles.write_file(lab / ".labctl" / "x", "data", base=lab)


@needs_root
def test_root_writing_for_the_lab_owner_gives_the_files_to_that_owner(tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    os.chown(lab, NOBODY, NOBODY)
    state = LabState(lab / ".labctl" / "one")
    state.write_secrets({"k": "v"})
    assert os.stat(state.secrets_file).st_uid == NOBODY
    assert os.stat(state.root).st_uid == NOBODY


def _watch_modes(monkeypatch, name: str) -> list[int]:
    """Every mode file NAME has when created or just before its mode changes."""
    seen: list[int] = []
    real_open, real_chmod, real_fchmod = os.open, os.chmod, os.fchmod
    real_path_chmod = Path.chmod

    def fd_name_matches(fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith((name, f".{name}"))
        except OSError:
            return False

    def watched_open(path, flags, mode=0o777, *, dir_fd=None):
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        if flags & os.O_CREAT and fd_name_matches(fd):
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    def watched_chmod(path, mode, *args, **kwargs):
        if str(path).endswith(name):
            seen.append(_mode(Path(path)))
        return real_chmod(path, mode, *args, **kwargs)

    def watched_fchmod(fd, mode):
        if fd_name_matches(fd):
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fchmod(fd, mode)

    def watched_path_chmod(self, mode, **kwargs):
        if self.name == name:
            seen.append(_mode(self))
        return real_path_chmod(self, mode, **kwargs)

    monkeypatch.setattr(os, "open", watched_open)
    monkeypatch.setattr(os, "chmod", watched_chmod)
    monkeypatch.setattr(os, "fchmod", watched_fchmod)
    monkeypatch.setattr(Path, "chmod", watched_path_chmod)
    return seen


def test_a_secret_file_is_never_readable_by_others_not_even_at_creation(tmp_path, monkeypatch):
    old_umask = os.umask(0o022)
    try:
        seen = _watch_modes(monkeypatch, "keepalived.conf")
        out = tmp_path / "render"
        write_rendered([RenderedFile("nodes/b1/keepalived.conf", "auth_pass s3cret\n", 0o600)], out)
    finally:
        os.umask(old_umask)
    monkeypatch.undo()
    secret = out / "nodes" / "b1" / "keepalived.conf"
    assert seen, "the file's creation was not observed"
    assert all(mode & 0o077 == 0 for mode in seen), [oct(m) for m in seen]
    assert _mode(secret) == 0o600
    assert _mode(secret.parent) == 0o700 and _mode(out / "nodes") == 0o700


def test_render_out_removes_only_what_it_wrote(tmp_path):
    out = tmp_path / "mine"
    (out / "nodes" / "b1").mkdir(parents=True)
    (out / "notes.txt").write_text("mine\n")
    (out / "nodes" / "todo.txt").write_text("mine too\n")
    (out / "nodes" / "b1" / "scratch").write_text("also mine\n")
    first = [RenderedFile("Vagrantfile", "v"), RenderedFile("nodes/b1/a", "1"), RenderedFile("nodes/b2/a", "2")]
    write_rendered(first, out)
    write_rendered([RenderedFile("Vagrantfile", "v"), RenderedFile("nodes/b1/a", "1")], out)  # b2 is gone

    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "nodes" / "todo.txt").exists() and (out / "nodes" / "b1" / "scratch").exists()
    assert (out / "nodes" / "b1" / "a").exists()
    assert not (out / "nodes" / "b2").exists()  # what labctl wrote there, and its emptied folder


# --- the lab lock ----------------------------------------------------------------------------


def test_a_second_command_is_refused_and_told_who_holds_the_lab(tmp_path):
    from labctl.lab.host.lock import LabBusy, lab_lock

    state = LabState(tmp_path / ".labctl" / "one")
    holder_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from labctl.lab.host.lock import lab_lock
        from labctl.lab.host.state import LabState
        with lab_lock(LabState(Path({str(state.root)!r})), "up"):
            print("locked", flush=True)
            time.sleep(30)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", holder_code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(LabBusy) as caught, lab_lock(state, "destroy", wait=0.5):
            pass
        assert time.monotonic() - started >= 0.5  # it waited briefly first
        assert f"pid {child.pid}: labctl up" in caught.value.message
    finally:
        child.kill()
        child.wait()
    with lab_lock(state, "destroy", wait=2.0):  # the holder is gone: the lock is free
        pass


def test_the_lock_file_is_not_opened_through_a_link(tmp_path):
    from labctl.lab.host.lock import lab_lock

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = LabState(tmp_path / ".labctl" / "one")
    state.ensure()
    (state.root / "lock").symlink_to(victim)
    with pytest.raises(OSError), lab_lock(state, "up", wait=0.1):
        pass
    assert victim.read_text() == "precious\n"


# --- process records -------------------------------------------------------------------------


@pytest.fixture
def sleeper():
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


def test_a_record_matches_only_the_same_process(sleeper):
    record = ProcessRecord.of(sleeper.pid)
    assert record is not None and record.matches()
    assert record.start == start_time(sleeper.pid)
    assert not ProcessRecord(sleeper.pid, record.boot, record.start + 1).matches()  # a later process
    assert not ProcessRecord(sleeper.pid, "another-boot", record.start).matches()  # before a reboot


def test_a_stale_record_is_never_signalled(sleeper):
    record = ProcessRecord.of(sleeper.pid)
    assert record is not None
    stale = ProcessRecord(sleeper.pid, record.boot, record.start - 1)
    assert not signal_recorded(stale, signal.SIGKILL)
    time.sleep(0.2)
    assert sleeper.poll() is None
    assert signal_recorded(record, signal.SIGTERM)
    assert sleeper.wait(timeout=5) == -signal.SIGTERM


def _fake_daemon(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    """A process whose name (comm) is NAME, as the sandbox's pid-file check sees it."""
    program = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    return subprocess.Popen([str(program), "60"])


def test_the_sandbox_does_not_kill_a_pid_whose_record_is_stale(tmp_path):
    from labctl.lab.host.sandbox import PROCESS_RECORD, Sandbox

    daemon = _fake_daemon(tmp_path, "libvirtd")
    try:
        sandbox = Sandbox("labctl-tunit", tmp_path / "state", caps_cache=tmp_path / "caps")
        run = sandbox.libvirt_dir / "run"
        run.mkdir(parents=True)
        (run / "libvirtd.pid").write_text(f"{daemon.pid}\n")
        record = ProcessRecord.of(daemon.pid)
        assert record is not None
        # The record says: that PID was a libvirtd that started earlier (a reused PID).
        stale = {"pid": daemon.pid, "boot": record.boot, "start": record.start - 100}
        (run / PROCESS_RECORD).write_text(
            json.dumps({"boot": record.boot, "mntns": None, "daemons": {"libvirtd": stale}})
        )
        assert daemon.pid not in sandbox.pids()
        sandbox.stop()
        time.sleep(0.2)
        assert daemon.poll() is None
        # The same record with the right start time: that is the sandbox's own daemon.
        (run / "libvirtd.pid").write_text(f"{daemon.pid}\n")
        (run / PROCESS_RECORD).write_text(
            json.dumps({"boot": record.boot, "mntns": None, "daemons": {"libvirtd": record.to_dict()}})
        )
        assert sandbox.pids() == [daemon.pid]
    finally:
        daemon.kill()
        daemon.wait()


@needs_root
def test_a_namespace_owned_by_another_folder_is_refused(tmp_path, monkeypatch):
    from labctl.lab.host import sandbox as sandbox_mod

    records = tmp_path / "run" / "labctl" / "namespaces"
    monkeypatch.setattr(sandbox_mod, "NAMESPACE_RECORDS", records)
    (tmp_path / "run").mkdir(mode=0o755)
    other = sandbox_mod.Sandbox("labctl-tshared", tmp_path / "other" / ".labctl" / "lab" / "sandbox")
    other.state_dir.mkdir(parents=True)
    other._claim_namespace()
    mine = sandbox_mod.Sandbox("labctl-tshared", tmp_path / "mine" / ".labctl" / "lab" / "sandbox")
    with pytest.raises(sandbox_mod.SandboxError, match=str(other.state_dir)):
        mine._claim_namespace()
    other._release_namespace()
    mine._claim_namespace()  # free again
    assert (records / "labctl-tshared").read_text().strip() == str(mine.state_dir)


# --- the scenario journal --------------------------------------------------------------------


def test_a_runs_changes_are_journaled_as_they_happen_and_replayed(tmp_path):
    state = LabState(tmp_path / ".labctl" / "one")
    access = FakeLab()
    restorer = actions.Restorer(journal=state.journal, journal_base=tmp_path)
    actions.perform(access, "b1", "ipvs-timeouts", restorer, {"tcpfin": 10})
    actions.perform(access, "b2", "power-off", restorer)
    actions.perform(access, "b3", "keepalived-kill", restorer)
    actions.perform(access, "b3", "keepalived-start", restorer)  # put back by the run itself
    # The process is killed here: no cleanup. The journal says what is still to undo.
    journal = json.loads(state.journal.read_text())
    assert journal["pending"] == [["b2", "power", "power-on"]]
    assert journal["timeouts"] == {"b1": {"tcp": 900, "tcpfin": 120, "udp": 300}}
    assert _mode(state.journal) == 0o600

    later = FakeLab()
    loaded = actions.Restorer.load(state.journal, tmp_path)
    assert loaded is not None and loaded.timeouts == {"b1": IpvsTimeouts(900, 120, 300)}
    done, failed = loaded.replay(later)
    assert not failed
    assert ("power_on", "b2") in later.calls
    assert any(c[0] == "run" and c[2] == "ipvsadm --set 900 120 300" for c in later.calls)
    assert done and not state.journal.exists()  # all back: nothing left to replay
    assert actions.Restorer.load(state.journal, tmp_path) is None


def test_the_journal_is_written_before_the_action(tmp_path):
    """Killed during the power-off itself, the journal already says to power the node on."""
    state = LabState(tmp_path / ".labctl" / "one")
    restorer = actions.Restorer(journal=state.journal, journal_base=tmp_path)
    seen = []

    class Dying(FakeLab):
        def power_off(self, node):
            seen.append(json.loads(state.journal.read_text())["pending"])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        actions.perform(Dying(), "b1", "power-off", restorer)
    assert seen == [[["b1", "power", "power-on"]]]


def test_a_failed_replay_keeps_what_is_left(tmp_path):
    state = LabState(tmp_path / ".labctl" / "one")
    restorer = actions.Restorer(journal=state.journal, journal_base=tmp_path)
    actions.perform(FakeLab(), "b1", "power-off", restorer)

    class Broken(FakeLab):
        def power_on(self, node):
            raise RuntimeError("libvirt is down")

    loaded = actions.Restorer.load(state.journal, tmp_path)
    assert loaded is not None
    done, failed = loaded.replay(Broken())
    assert failed and "libvirt is down" in failed[0]
    assert json.loads(state.journal.read_text())["pending"] == [["b1", "power", "power-on"]]


# --- signals ---------------------------------------------------------------------------------


def test_sigterm_and_sighup_interrupt_like_ctrl_c():
    from labctl.lab.host import signals

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        signals.install()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), sig)
                time.sleep(1)
        assert not signals.cancelled.is_set()  # outside a bring-up, worker threads go on
        with pytest.raises(KeyboardInterrupt), signals.cancelling():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert signals.cancelled.is_set()
    finally:
        signals.cancelled.clear()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_a_long_remote_command_stops_once_the_bring_up_is_interrupted():
    from labctl.lab.host import signals
    from labctl.lab.nodes.ssh import Interrupted, _collect

    class Silent:
        """A channel whose command never ends (a 900 s provisioning step)."""

        closed = False
        eof_received = False

        def recv_ready(self):
            return False

        def recv_stderr_ready(self):
            return False

        def exit_status_ready(self):
            return False

        def fileno(self):
            return self._pipe

        def __init__(self):
            self._pipe, self._other = os.pipe()

    channel = Silent()
    signals.cancelled.set()
    try:
        started = time.monotonic()
        with pytest.raises(Interrupted):
            _collect(channel, 900.0, "b1", "provision.sh")  # type: ignore[arg-type]
        assert time.monotonic() - started < 1.0
    finally:
        signals.cancelled.clear()
        os.close(channel._pipe)
        os.close(channel._other)


def test_vagrants_log_is_not_appended_through_a_link(tmp_path):
    from labctl.lab.vms.vagrant import LabVagrant

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    logs = tmp_path / "lab" / ".labctl" / "one" / "logs"
    logs.mkdir(parents=True)
    (logs / "vagrant.log").symlink_to(victim)
    vagrant = LabVagrant(tmp_path / "render", {}, logs / "vagrant.log")
    with pytest.raises(OSError), vagrant._open_log() as log:
        log.write("$ vagrant up\n")
    assert victim.read_text() == "precious\n"


def test_a_runs_event_log_is_not_appended_through_a_link(tmp_path):
    from labctl.observe import runrecords
    from labctl.scenario import runfiles

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    run = tmp_path / "results" / "failover-1"
    run.mkdir(parents=True)
    (run / runrecords.EVENTS).symlink_to(victim)
    with pytest.raises(OSError):
        runfiles.append_event(run / runrecords.EVENTS, {"kind": "start"})
    (run / runrecords.RUN_JSON).symlink_to(victim)
    runfiles.write_json(run / runrecords.RUN_JSON, {"scenario": "failover"})
    assert victim.read_text() == "precious\n"
    assert json.loads((run / runrecords.RUN_JSON).read_text()) == {"scenario": "failover"}


class JournaledLab(FakeLab):
    """FakeLab with the state folder a LiveLab has: runs journal what they change there."""

    capabilities = FakeLab.capabilities | {Capability.JOURNAL}

    def __init__(self, folder: Path, broken_power: bool = False) -> None:
        super().__init__()
        self._folder = folder
        self.broken_power = broken_power

    @property
    def state_folder(self) -> Path:
        return self._folder

    @property
    def journal(self) -> Path:
        return LabState(self._folder / ".labctl" / self.lab.name).journal

    def power_on(self, node):
        if self.broken_power:
            raise RuntimeError("libvirt is gone")
        super().power_on(node)


POWER_CYCLE = "description: power cycle\nsteps:\n  - action: power-off\n    target: b1\n  - wait: 0.1\n"


def test_a_clean_run_leaves_no_journal(tmp_path):
    from labctl.cli.scenario import run_with_view
    from labctl.scenario.loader import parse_scenario

    access = JournaledLab(tmp_path)
    run_with_view(access, parse_scenario(POWER_CYCLE, "t.yaml", {}, access.lab), tmp_path / "out", quiet=True)
    assert ("power_on", "b1") in access.calls
    assert not access.journal.exists()


def test_a_run_whose_cleanup_failed_leaves_its_journal_for_restore(tmp_path):
    from labctl.cli.scenario import run_with_view
    from labctl.scenario.loader import parse_scenario

    access = JournaledLab(tmp_path, broken_power=True)
    run_with_view(access, parse_scenario(POWER_CYCLE, "t.yaml", {}, access.lab), tmp_path / "out", quiet=True)
    assert json.loads(access.journal.read_text())["pending"] == [["b1", "power", "power-on"]]
    # Later, with libvirt back: `labctl scenario restore` replays it.
    later = JournaledLab(tmp_path)
    restorer = actions.Restorer.load(later.journal, tmp_path)
    assert restorer is not None
    done, failed = restorer.replay(later)
    assert done == ["b1: power-on"] and not failed
    assert ("power_on", "b1") in later.calls and not later.journal.exists()


def test_the_login_key_is_made_once_0600_and_a_damaged_one_is_a_clear_error(tmp_path):
    from labctl.errors import LabctlError
    from labctl.lab.host.state import LabState
    from labctl.lab.vms.loginkey import login_key

    state = LabState.for_lab(tmp_path / "lab.yaml", "k")
    first = login_key(state)
    assert first.private_path.stat().st_mode & 0o777 == 0o600
    assert state.root.stat().st_mode & 0o777 == 0o700
    assert first.cmdline().startswith("labctl.ssh_key=AAAAC3NzaC1lZDI1NTE5") and " " not in first.cmdline()
    assert login_key(state) == first  # kept, not made anew
    assert login_key(LabState.for_lab(tmp_path / "other" / "lab.yaml", "k")) != first  # one per lab
    first.private_path.write_text("not a key\n")
    with pytest.raises(LabctlError, match="not the lab's ed25519 login key"):
        login_key(state)


def test_the_box_volume_is_seeded_under_vagrant_libvirts_name_once(tmp_path):
    from labctl.lab.vms import box as boxes

    info = boxes.BoxInfo("labctl-bookworm-abc", "abc", "bookworm", tmp_path, tmp_path / "x.box", tmp_path, tmp_path, 0)
    image = boxes._vagrant_box_dir(tmp_path / "vagrant.d", info.name) / "box.img"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"qcow2 image")
    os.utime(image, (1700000000, 1700000000))
    pool = tmp_path / "pool"
    pool.mkdir()
    seeded = boxes.seed_pool(info, tmp_path / "vagrant.d", pool)
    assert seeded == pool / "labctl-bookworm-abc_vagrant_box_image_0_1700000000_box.img"
    assert seeded.read_bytes() == b"qcow2 image" and seeded.stat().st_ino == image.stat().st_ino  # a hard link
    assert boxes.seed_pool(info, tmp_path / "vagrant.d", pool) is None
    assert sorted(p.name for p in pool.iterdir()) == [seeded.name]


def test_box_files_are_linked_whole_or_not_at_all(tmp_path):
    from labctl.lab.vms import box as boxes

    source, target = tmp_path / "kept", tmp_path / "home" / "boxes" / "b" / "0" / "libvirt"
    source.mkdir()
    for name in ("box.img", "metadata.json"):
        (source / name).write_text(name)
    assert not boxes._link_files(source, target)  # no Vagrantfile: nothing linked
    assert not target.exists() or not any(target.iterdir())
    (source / "Vagrantfile").write_text("v")
    assert boxes._link_files(source, target)
    assert (target / "box.img").stat().st_ino == (source / "box.img").stat().st_ino
    assert sorted(p.name for p in target.iterdir()) == ["Vagrantfile", "box.img", "metadata.json"]
