"""Vagrant through python-vagrant, optionally inside the lab's network namespace.

Vagrant's own output goes to a log file under the lab state; callers get parsed events
(`==> b1: Starting domain.`) to show progress, and a one-line error naming the log otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import vagrant as python_vagrant

from labctl.errors import LabctlError
from labctl.lab import netns, safefiles

NODE_LINE = re.compile(r"^==> (?P<node>[\w.-]+): (?P<text>.*)$")


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
        self, root: Path, env: dict[str, str], log_file: Path, namespace: str | None = None, provider: str = "libvirt"
    ) -> None:
        self.root = root
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

    def status(self) -> list[NodeStatus]:
        try:
            found = self._client().status()
        except (subprocess.CalledProcessError, OSError) as exc:
            raise self._fail("status", exc) from exc
        return [NodeStatus(s.name, s.state, s.provider) for s in found]

    def up(self, nodes: list[str] | None = None, on_line: Callable[[str, str], None] | None = None) -> None:
        """`vagrant up` (all nodes at once where the provider can), streaming its lines to the
        log and per-node events to ON_LINE(node, text)."""
        args = ["up", "--no-provision", f"--provider={self.provider}", *(nodes or [])]
        self._stream(args, on_line, "up")

    def halt(self, node: str | None = None, force: bool = False) -> None:
        args = ["halt", *(["--force"] if force else []), *([node] if node else [])]
        self._stream(args, None, "halt")

    def destroy(self, on_line: Callable[[str, str], None] | None = None) -> None:
        self._stream(["destroy", "--force"], on_line, "destroy")

    def ssh_config_text(self, nodes: list[str]) -> str:
        try:
            return self._run(["ssh-config", *nodes])
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

    def _stream(self, args: list[str], on_line: Callable[[str, str], None] | None, what: str) -> None:
        client = self._client()
        command = client._make_vagrant_command(args)
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
            )
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    match = NODE_LINE.match(line.rstrip())
                    if match and on_line:
                        on_line(match["node"], match["text"])
            except BaseException:
                proc.terminate()
                proc.wait(timeout=30)
                raise
            code = proc.wait()
        if code != 0:
            raise self._fail(what, subprocess.CalledProcessError(code, command))
