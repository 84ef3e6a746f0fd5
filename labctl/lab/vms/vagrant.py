"""Vagrant through python-vagrant, optionally inside the lab's network namespace.

Vagrant's own output goes to a log file under the lab state; callers get parsed events
(`==> b1: Starting domain.`) to show progress, and a one-line error naming the log otherwise.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import vagrant as python_vagrant

from labctl.errors import LabctlError
from labctl.lab.host import netns, safefiles
from labctl.lab.host.processes import ProcessRecord, dies_with_parent, stop_group
from labctl.lab.host.state import LabState

log = logging.getLogger(__name__)
# The long commands labctl streams; each leaves a record of its process while it runs.
STREAMED = ("up", "halt", "destroy")

NODE_LINE = re.compile(r"^==> (?P<node>[\w.-]+): (?P<text>.*)$")
# An id in Vagrant's machine index: 32 hex digits.
INDEX_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class NodeStatus:
    name: str
    state: str  # running, shutoff, not_created, poweroff, ...
    provider: str


class _NamespacedVagrant(python_vagrant.Vagrant):
    """python-vagrant, with every vagrant command run inside a network namespace (or not)."""

    def __init__(
        self, root: Path, namespace: str | None, env: dict[str, str], out_cm: Callable, err_cm: Callable
    ) -> None:
        super().__init__(root=str(root), env=env, out_cm=out_cm, err_cm=err_cm)
        self._namespace = namespace

    def _make_vagrant_command(self, args):  # python-vagrant builds every command here
        return netns.exec_argv(self._namespace, super()._make_vagrant_command(args))


def require_vagrant() -> None:
    if shutil.which("vagrant") is None:
        raise LabctlError(
            "Vagrant is not installed", fix="apt-get install vagrant vagrant-libvirt (or see README: scripts/setup.sh)"
        )


class LabVagrant:
    """The Vagrant environment of one lab: the folder holding its Vagrantfile, its env and log."""

    def __init__(
        self,
        root: Path,
        env: dict[str, str],
        log_file: Path,
        namespace: str | None = None,
        provider: str = "libvirt",
        state: LabState | None = None,
    ) -> None:
        self.root = root
        self.state = state
        self.env = env
        self.log_file = log_file
        self.namespace = namespace
        self.provider = provider
        with safefiles.open_dir(log_file.parent, log_file.parent.parent.parent):
            pass  # <state>/logs: made 0700 below the lab folder, no link followed

    def _client(self) -> _NamespacedVagrant:
        require_vagrant()
        log_cm = self._open_log  # each use reopens it: never through a link, even one planted meanwhile
        return _NamespacedVagrant(self.root, self.namespace, self.env, log_cm, log_cm)

    def _open_log(self) -> IO[str]:
        return safefiles.open_append(self.log_file)

    def _fail(self, what: str, exc: Exception) -> LabctlError:
        tail = self.log_tail()
        return LabctlError(
            f"vagrant {what} failed: {tail or exc}", fix=f"read {self.log_file}; then run the same labctl command again"
        )

    def log_tail(self, lines: int = 1) -> str:
        if not self.log_file.exists():
            return ""
        text = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        return " | ".join(t.strip() for t in text[-lines:])

    # --- naming machines to Vagrant ------------------------------------------------------------
    #
    # Vagrant 2.3 looks every machine name a command gets up in its machine index first, as a
    # prefix of the machines' ids (MachineIndex#find_by_prefix), even when no name is given. The
    # ids are hex, and so are names such as b1, b2, b3 and c1: when b2's id happens to start
    # with "b1", every command on b1 acts on b2 (seen in a CI-like run: `vagrant ssh-config b1`
    # answered for b2, `vagrant status` listed b2 twice). About one lab in thirteen draws such an
    # id (reported upstream as hashicorp/vagrant#8152, "Machine name b2 treated as default"). A
    # machine's full id is unambiguous, so once a machine exists labctl names it by its id.

    def _index_ids(self) -> set[str]:
        """The ids in Vagrant's machine index, read under Vagrant's own lock on it (Vagrant
        rewrites the file in place, under an exclusive flock of index.lock)."""
        home = self.env.get("VAGRANT_HOME") or os.path.join(
            self.env.get("HOME") or os.path.expanduser("~"), ".vagrant.d"
        )
        index = Path(home, "data", "machine-index", "index")
        if not index.exists():
            return set()
        with open(f"{index}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                data = json.loads(index.read_text())
            except (OSError, ValueError) as exc:
                if not Path(home).resolve().is_relative_to(self.root.resolve().parent):
                    raise LabctlError(
                        f"cannot read Vagrant's machine index {index}: {exc}",
                        fix="run the same labctl command again, or `vagrant global-status --prune`",
                    ) from exc
                # The lab's own Vagrant home (its sandbox): a vagrant killed while it rewrote the
                # index (seen after an `up` killed outright) leaves it empty, and every vagrant
                # command then dies in Ruby. An empty index is valid: Vagrant adds each machine
                # of this folder back from .vagrant/machines on its next command.
                fcntl.flock(lock, fcntl.LOCK_EX)
                log.warning("Vagrant's machine index %s was unreadable (%s): emptied", index, exc)
                index.write_text(json.dumps({"version": 1, "machines": {}}))
                return set()
        machines = data.get("machines") if isinstance(data, dict) else None
        return set(machines) if isinstance(machines, dict) else set()

    def _index_id(self, node: str) -> str | None:
        try:
            text = (self.root / ".vagrant" / "machines" / node / self.provider / "index_uuid").read_text().strip()
        except OSError:
            return None
        return text if INDEX_ID.match(text) else None

    def targets(self, nodes: list[str]) -> list[str]:
        """How to name NODES on a vagrant command line: a machine in Vagrant's index by its id
        there, one not made yet by its name. A name that Vagrant would take for another
        machine's id is refused with the reason, rather than acting on that machine."""
        known = self._index_ids()
        named = []
        for node in nodes:
            uid = self._index_id(node)
            if uid and uid in known:
                named.append(uid)
                continue
            clash = sorted(i for i in known if i.startswith(node))
            if clash:
                raise LabctlError(
                    f"Vagrant would take node name {node!r} for the machine whose id starts with it "
                    f"({clash[0]}): a Vagrant 2.3 flaw (names are looked up as id prefixes first)",
                    fix="`labctl destroy` and `labctl up` again (new ids), or rename the node in lab.yaml",
                )
            named.append(node)
        return named

    def created(self) -> list[str]:
        """The machines Vagrant has made in this folder (its .vagrant/machines)."""
        folder = self.root / ".vagrant" / "machines"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / self.provider / "id").exists())

    def status(self, nodes: list[str] | None = None) -> list[NodeStatus]:
        """Each node's machine state (of NODES, or of every machine made so far)."""
        client = self._client()
        try:
            out = self._run(["status", "--machine-readable", *self.targets(nodes or self.created())])
            found = client._parse_status(out)
        except (subprocess.CalledProcessError, OSError) as exc:
            raise self._fail("status", exc) from exc
        return [NodeStatus(s.name, s.state, s.provider) for s in found]

    def up(self, nodes: list[str], on_line: Callable[[str, str], None] | None = None) -> None:
        """`vagrant up` of NODES (all at once where the provider can), streaming its lines to
        the log and per-node events to ON_LINE(node, text)."""

        def args() -> list[str]:
            # Asked again for the retry: the failed vagrant may have left the index reset.
            return ["up", "--no-provision", f"--provider={self.provider}", *self.targets(nodes)]

        started = time.monotonic()
        try:
            self._stream(args(), on_line, "up")
        except LabctlError:
            # Once, after an up killed outright, the next one died in Ruby within a second,
            # before touching a VM (its traceback is in vagrant.log): `vagrant up` is
            # idempotent, so a failure that quick is given one more try.
            if time.monotonic() - started > 10:
                raise
            log.warning("vagrant up failed within %.1f s: trying once more", time.monotonic() - started)
            self._stream(args(), on_line, "up")

    def halt(self, node: str | None = None, force: bool = False) -> None:
        nodes = [node] if node else self.created()
        if nodes:  # none made: nothing to halt (and no name for Vagrant to take for another's id)
            self._stream(["halt", *(["--force"] if force else []), *self.targets(nodes)], None, "halt")

    def destroy(self, on_line: Callable[[str, str], None] | None = None) -> None:
        nodes = self.created()
        if nodes:  # none made: nothing to destroy (a bare name could pick another folder's machine)
            self._stream(["destroy", "--force", *self.targets(nodes)], on_line, "destroy")

    def ssh_config_text(self, nodes: list[str]) -> str:
        try:
            return self._run(["ssh-config", *self.targets(nodes)])
        except subprocess.CalledProcessError as exc:
            raise self._fail("ssh-config", exc) from exc

    def _run(self, args: list[str]) -> str:
        client = self._client()
        command = client._make_vagrant_command(args)
        proc = subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        with self._open_log() as log:
            log.write(f"$ vagrant {' '.join(args)}\n{proc.stderr}")
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, command, proc.stdout, proc.stderr)
        return proc.stdout

    # --- a vagrant command that outlived the labctl that started it ---------------------------
    #
    # labctl killed outright (SIGKILL, a closed terminal) leaves its vagrant child behind: it
    # would hold Vagrant's machine locks against the next command, or destroy a half-made VM
    # later. The child gets SIGTERM when labctl dies (dies_with_parent), and its record in the
    # state folder lets the next command stop whatever of it still runs. The record of an `up`
    # stays until one succeeds: the next `labctl up` then runs `vagrant up` again even if every
    # VM already runs (a VM of an interrupted up may still be booting).

    def _record_name(self, what: str) -> str:
        return f"vagrant-{what}.json"

    def _record(self, what: str, pid: int) -> None:
        record = ProcessRecord.of(pid)
        if self.state is not None and record is not None:
            self.state.write(self._record_name(what), json.dumps(record.to_dict()) + "\n")

    def _forget(self, what: str) -> None:
        if self.state is not None:
            (self.state.root / self._record_name(what)).unlink(missing_ok=True)

    def unfinished_up(self) -> bool:
        """True when the last `vagrant up` of this lab did not end in success."""
        return self.state is not None and self.state.read(self._record_name("up")) is not None

    def drop_damaged_box_meta(self) -> list[str]:
        """Each machine's box_meta that is not JSON, removed; the machines it was for. Vagrant
        rewrites that file at every `up` (StoreBoxMetadata): one killed meanwhile left it empty,
        and every vagrant command then died parsing it (CI10, after an `up` killed outright).
        Without it Vagrant takes the box the Vagrantfile names, and writes the file again."""
        dropped = []
        for meta in sorted((self.root / ".vagrant" / "machines").glob(f"*/{self.provider}/box_meta")):
            try:
                json.loads(meta.read_text())
            except ValueError:
                meta.unlink(missing_ok=True)
                dropped.append(meta.parent.parent.name)
            except OSError:
                continue
        if dropped:
            log.warning("Vagrant's box_meta of %s was damaged: removed", ", ".join(dropped))
        return dropped

    def stop_leftovers(self) -> list[str]:
        """Stop what still runs of vagrant commands started by an earlier labctl; their names.
        What one killed outright left damaged in this folder's .vagrant is repaired too."""
        stopped: list[str] = []
        if self.state is None:
            return stopped
        for what in STREAMED:
            text = self.state.read(self._record_name(what))
            try:
                record = ProcessRecord.from_dict(json.loads(text)) if text else None
            except (ValueError, KeyError, TypeError):
                record = None  # a damaged record names no process
            if record is not None and stop_group(record):
                log.info("stopped a vagrant %s left by an earlier labctl (pid %d)", what, record.pid)
                stopped.append(what)
            if what != "up":
                self._forget(what)
        self.drop_damaged_box_meta()  # no vagrant of ours writes it any more
        return stopped

    def _stream(self, args: list[str], on_line: Callable[[str, str], None] | None, what: str) -> None:
        client = self._client()
        self.stop_leftovers()
        command = dies_with_parent(client._make_vagrant_command(args))
        with self._open_log() as log:
            log.write(f"$ vagrant {' '.join(args)}\n")
            log.flush()
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                start_new_session=True,  # its group (ruby, ssh) is stopped as one
            )
            self._record(what, proc.pid)
            assert proc.stdout is not None
            started = time.monotonic()
            try:
                for line in proc.stdout:
                    # Seconds since the command started: where a long `vagrant up` spends them.
                    log.write(f"[{time.monotonic() - started:7.2f}] {line}")
                    log.flush()
                    match = NODE_LINE.match(line.rstrip())
                    if match and on_line:
                        on_line(match["node"], match["text"])
            except BaseException:
                # Interrupted: the whole group (it has a session of its own, so the terminal's
                # Ctrl-C did not reach it), given the time Vagrant takes to clean up.
                record = ProcessRecord.of(proc.pid)
                if record is not None:
                    stop_group(record, grace=30.0)
                proc.wait(timeout=5)
                raise
            code = proc.wait()
        if code != 0:
            raise self._fail(what, subprocess.CalledProcessError(code, command))
        self._forget(what)
