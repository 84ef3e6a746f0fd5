"""SSH to lab nodes: parse `vagrant ssh-config`, pin host keys, run commands, put files.

Connections are plain paramiko over a socket that `labctl.lab.host.netns` opens inside the lab's network
namespace, so no lab address is ever contacted from the host's own namespace. Authentication is
by the identity files Vagrant names and nothing else (no agent, no ~/.ssh keys, no passwords).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from labctl.errors import LabctlError
from labctl.lab.host import netns as netns_mod
from labctl.lab.host import safefiles, signals

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_COMMAND_TIMEOUT = 600.0  # package installs on a fresh VM can take minutes
_EOF_GRACE = 2.0  # seconds to wait for output to end once a command has exited
_ATTEMPT_TIMEOUT = 10.0  # one TCP connect / banner / auth attempt while waiting for a node


# --------------------------------------------------------------------------------------------
# Errors


class SshError(LabctlError):
    """Base of every error this module raises on purpose."""


class SshConfigError(SshError, ValueError):
    """`vagrant ssh-config` output that cannot be used."""


class SshUnreachable(SshError):
    """A node did not accept an SSH login within the allowed wait."""


class HostKeyMismatch(SshError):
    """A node presented a host key different from the one pinned on first contact."""


class CommandTimeout(SshError):
    """A remote command ran longer than its timeout (partial output is kept)."""

    def __init__(self, message: str, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


class Interrupted(SshError):
    """The command was interrupted (Ctrl-C, SIGTERM, SIGHUP) while this waited on a node."""


class CommandFailed(SshError):
    """A command run with check=True exited non-zero; `result` holds everything it returned."""

    def __init__(self, result: CommandResult, what: str | None = None) -> None:
        self.result = result
        tail = "\n".join(result.stderr.strip().splitlines()[-5:]) or "(no stderr)"
        what = what or f"command failed: {result.command}"
        super().__init__(f"{result.node}: {what} (exit code {result.rc})\n{tail}")


# --------------------------------------------------------------------------------------------
# vagrant ssh-config


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to one node."""

    name: str
    hostname: str
    port: int
    user: str
    identity_files: list[str] = field(default_factory=list)


def parse_ssh_config(text: str) -> dict[str, SshTarget]:
    """The targets described by `vagrant ssh-config` output (one `Host` block per node)."""
    if not text.strip():
        raise SshConfigError("vagrant ssh-config gave no output: are the machines running?")
    try:
        config = paramiko.SSHConfig.from_text(text)
    except paramiko.ssh_exception.ConfigParseError as exc:
        raise SshConfigError(f"cannot parse vagrant ssh-config output: {exc}") from exc
    # Wildcard patterns ("*", "web?") are defaults for other blocks, not nodes.
    names = sorted(n for n in config.get_hostnames() if not any(c in n for c in "*?!"))
    if not names:
        raise SshConfigError(f"vagrant ssh-config output has no 'Host NAME' block: got {_excerpt(text)!r}")
    return {name: _target_from(name, config.lookup(name)) for name in names}


def _target_from(name: str, entry: paramiko.SSHConfigDict) -> SshTarget:
    hostname = entry.get("hostname")
    if not hostname or hostname == name:
        raise SshConfigError(f"host {name!r} in vagrant ssh-config has no HostName")
    port_text = entry.get("port", "22")
    try:
        port = int(port_text)
    except ValueError:
        raise SshConfigError(f"host {name!r}: port {port_text!r} is not a number") from None
    user = entry.get("user")
    if not user:
        raise SshConfigError(f"host {name!r} in vagrant ssh-config has no User")
    return SshTarget(name, hostname, port, user, list(entry.get("identityfile", [])))


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


# --------------------------------------------------------------------------------------------
# Host key pinning (trust on first use, per lab)

_known_hosts_lock = threading.Lock()


def host_pattern(hostname: str, port: int) -> str:
    """The known_hosts spelling of an address, as OpenSSH writes it."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


@contextmanager
def _locked(known_hosts: Path) -> Iterator[None]:
    """Serialise readers/writers of one known_hosts file across threads and processes."""
    with safefiles.open_dir(known_hosts.parent) as folder:
        fd = safefiles.open_at(folder, known_hosts.name + ".lock", os.O_WRONLY | os.O_CREAT)
    with _known_hosts_lock, os.fdopen(fd, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_lines(known_hosts: Path) -> list[str]:
    try:
        return safefiles.read_text(known_hosts).splitlines()
    except FileNotFoundError:
        return []


def _write_lines(known_hosts: Path, lines: list[str]) -> None:
    # A sibling file renamed over it (never written through a link): a crash leaves no half file.
    safefiles.write_file(known_hosts, "".join(line + "\n" for line in lines), 0o600)


def _parse_entry(line: str) -> HostKeyEntry | None:
    """One known_hosts line, or None for comments, blanks and lines we cannot read."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    try:
        return HostKeyEntry.from_line(line)
    except (InvalidHostKey, paramiko.SSHException, ValueError):  # a hand-edited or foreign line: leave it be
        return None


def _entry_names(line: str) -> list[str]:
    entry = _parse_entry(line)
    return entry.hostnames if entry else []


def pinned_keys(known_hosts: Path, name: str, hostname: str, port: int) -> list[paramiko.PKey]:
    """Keys pinned for node NAME at HOSTNAME:PORT (both must be on the same line)."""
    wanted = {name, host_pattern(hostname, port)}
    keys = []
    for line in _read_lines(known_hosts):
        entry = _parse_entry(line)
        if entry and wanted <= set(entry.hostnames):
            keys.append(entry.key)
    return keys


def forget_host(known_hosts: Path, name: str) -> int:
    """Drop every key pinned for node NAME (call it when the VM is re-created); lines removed."""
    if not known_hosts.exists():
        return 0
    with _locked(known_hosts):
        lines = _read_lines(known_hosts)
        kept = [line for line in lines if name not in _entry_names(line)]
        if len(kept) != len(lines):
            _write_lines(known_hosts, kept)
    return len(lines) - len(kept)


def _pin_or_check(known_hosts: Path, target: SshTarget, key: paramiko.PKey) -> None:
    """Pin KEY for TARGET on first contact; refuse a key that differs from the pinned one."""
    address = host_pattern(target.hostname, target.port)
    with _locked(known_hosts):
        pinned = pinned_keys(known_hosts, target.name, target.hostname, target.port)
        if any(_same_key(p, key) for p in pinned):
            return
        if pinned:
            raise HostKeyMismatch(
                f"{target.name} ({address}) presented a different host key "
                f"({key.get_name()} {key.fingerprint}) from the one pinned in {known_hosts}. "
                "If the VM was re-created this is expected: run `labctl destroy` and bring the "
                f"lab up again, or delete the line starting with '{target.name},' from that "
                "file. Otherwise something else answers at that address."
            )
        # A node known at another address (it got a new lease) is a new machine: replace it.
        lines = [ln for ln in _read_lines(known_hosts) if target.name not in _entry_names(ln)]
        lines.append(f"{target.name},{address} {key.get_name()} {key.get_base64()}")
        _write_lines(known_hosts, lines)
        log.info("%s: pinned host key %s %s", target.name, key.get_name(), key.fingerprint)


def _same_key(a: paramiko.PKey, b: paramiko.PKey) -> bool:
    return a.get_name() == b.get_name() and a.asbytes() == b.asbytes()


class _PinningPolicy(paramiko.MissingHostKeyPolicy):
    """Paramiko calls this for every connection because the client holds no host keys itself."""

    def __init__(self, target: SshTarget, known_hosts: Path) -> None:
        self.target = target
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        _pin_or_check(self.known_hosts, self.target, key)


# --------------------------------------------------------------------------------------------
# Commands


@dataclass(frozen=True)
class CommandResult:
    node: str
    argv: list[str] | str
    rc: int
    stdout: str
    stderr: str
    duration: float
    command: str = ""  # the exact string sent to the remote shell

    @property
    def ok(self) -> bool:
        return self.rc == 0


def command_line(argv: list[str] | str, sudo: bool = False) -> str:
    """The shell command for ARGV: a list is quoted word by word, a string is shell text."""
    text = shlex.join(argv) if isinstance(argv, list) else argv
    if sudo:
        # -n: never prompt (a prompt would hang the channel); sh -c keeps pipes and
        # redirections inside the privileged shell.
        return f"sudo -n sh -c {shlex.quote(text)}"
    return text


# Written once per put: compares the sha256 of what is there, then writes through a temporary
# file in the same directory and renames it (readers never see half a file). Content arrives on
# stdin, so it never appears in a command line, a log or a world-readable temp file.
_PUT_SCRIPT = r"""
dest=$1 mode=$2 want=$3
if [ -f "$dest" ] && [ "$(sha256sum < "$dest" | cut -c1-64)" = "$want" ]; then
    cat > /dev/null
    if [ "$(stat -L -c %a "$dest")" = "$mode" ]; then echo unchanged; exit 0; fi
    chmod "$mode" "$dest" && echo mode; exit
fi
dir=$(dirname "$dest")
mkdir -p "$dir" || exit
tmp=$(umask 077 && mktemp "$dir/.labctl-put.XXXXXX") || exit
trap 'rm -f "$tmp"' EXIT
cat > "$tmp" && chmod "$mode" "$tmp" && mv -f "$tmp" "$dest" || exit
trap - EXIT
echo written
"""


class SshSession:
    """One logged-in SSH connection to a lab node."""

    def __init__(self, target: SshTarget, client: paramiko.SSHClient) -> None:
        self.target = target
        self._client = client

    @property
    def node(self) -> str:
        return self.target.name

    # -- connecting ---------------------------------------------------------------------------

    @classmethod
    def connect(
        cls, target: SshTarget, netns: str | None, known_hosts: Path, wait: float = 120.0, interval: float = 1.0
    ) -> SshSession:
        """Log in to TARGET from namespace NETNS, retrying for up to WAIT seconds while it boots."""
        keys = _existing_identity_files(target)
        started = time.monotonic()
        deadline = started + wait
        attempts = 0
        last_error: BaseException | None = None
        while True:
            attempts += 1
            remaining = max(deadline - time.monotonic(), 0.5)
            try:
                client = _login(target, netns, known_hosts, keys, min(_ATTEMPT_TIMEOUT, remaining))
            except (HostKeyMismatch, netns_mod.NetnsError):
                raise  # retrying cannot fix these
            except (OSError, EOFError, paramiko.SSHException) as exc:
                last_error = exc
            else:
                log.debug(
                    "%s: connected after %d attempt(s) in %.2fs", target.name, attempts, time.monotonic() - started
                )
                return cls(target, client)
            if time.monotonic() + interval > deadline:
                break
            if signals.cancelled.wait(interval):
                raise Interrupted(f"{target.name}: interrupted while waiting for SSH")
        raise SshUnreachable(
            f"{target.name} ({target.user}@{target.hostname}:{target.port}"
            f"{f' in namespace {netns}' if netns else ''}) did not accept SSH within "
            f"{time.monotonic() - started:.0f}s ({attempts} attempts); "
            f"last error: {_describe(last_error) if last_error else 'none'}"
        )

    # -- commands -----------------------------------------------------------------------------

    def run(
        self,
        argv: list[str] | str,
        sudo: bool = False,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ARGV on the node and wait for it; raise CommandFailed on rc != 0 when CHECK."""
        command = command_line(argv, sudo)
        log.debug("%s$ %s", self.node, command)
        started = time.monotonic()
        rc, out, err = self._exec(command, timeout, stdin)
        result = CommandResult(self.node, argv, rc, out, err, time.monotonic() - started, command)
        if check and rc != 0:
            raise CommandFailed(result)
        return result

    def put(self, remote_path: str, content: bytes | str, mode: int = 0o644, sudo: bool = False) -> bool:
        """Make REMOTE_PATH hold CONTENT with MODE; True when anything had to change."""
        if not remote_path.startswith("/"):
            raise ValueError(f"remote path must be absolute: {remote_path!r}")
        data = content.encode() if isinstance(content, str) else content
        digest = hashlib.sha256(data).hexdigest()
        argv = ["sh", "-c", _PUT_SCRIPT, "labctl-put", remote_path, format(mode, "o"), digest]
        result = self.run(argv, sudo=sudo, stdin=data)
        if not result.ok:  # the script itself is noise in an error message: name the file
            raise CommandFailed(result, f"cannot write {remote_path}{' with sudo' if sudo else ''}")
        outcome = result.stdout.strip()
        log.debug("%s: put %s (%d bytes, mode %o): %s", self.node, remote_path, len(data), mode, outcome)
        if outcome not in ("unchanged", "mode", "written"):
            raise SshError(f"{self.node}: unexpected answer while writing {remote_path}: {_excerpt(result.stdout)!r}")
        return outcome != "unchanged"

    def stream(self, argv: list[str] | str, sudo: bool = False) -> SshLineStream:
        """Start a long-running ARGV; iterate its output lines as they come, stop() to end it.

        The command runs on a pseudo-terminal: when stop() closes the channel, sshd hangs up
        the terminal and the remote process gets SIGHUP, so nothing is left running."""
        command = command_line(argv, sudo)
        log.debug("%s$ %s (stream)", self.node, command)
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(f"{self.node}: the SSH connection is closed")
        channel = transport.open_session(timeout=30.0)
        try:
            # No echo and no CR/LF translation would be nicer, but paramiko cannot set termios
            # modes; lines are stripped of '\r' instead.
            channel.get_pty(width=500)
            channel.exec_command(command)
        except BaseException:
            channel.close()
            raise
        return SshLineStream(channel)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _exec(self, command: str, timeout: float, stdin: bytes | None) -> tuple[int, str, str]:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(f"{self.node}: the SSH connection is closed")
        channel = transport.open_session(timeout=min(timeout, 30.0))
        try:
            channel.exec_command(command)
            feeder = _feed_stdin(channel, stdin)
            rc, out, err = _collect(channel, timeout, self.node, command)
            if feeder:
                feeder.join(timeout=1.0)
            return rc, out, err
        finally:
            channel.close()


class SshLineStream:
    """The output lines of a command started by SshSession.stream (stdout and stderr merged by
    the terminal)."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self._channel = channel
        self._stopped = False

    def __iter__(self) -> Iterator[str]:
        buffer = b""
        while True:
            try:
                chunk = self._channel.recv(65536)
            except (OSError, EOFError, paramiko.SSHException):
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield _text(line).rstrip("\r")
        if buffer.strip():
            yield _text(buffer).rstrip("\r")
        if not self._stopped:
            # The exit status follows the end of the output in its own message: wait for it,
            # so `returncode` is known once the lines are.
            self._channel.status_event.wait(timeout=10.0)

    def stop(self) -> None:
        self._stopped = True
        self._channel.close()

    @property
    def returncode(self) -> int | None:
        if self._channel.exit_status_ready():
            return self._channel.recv_exit_status()
        return -1 if self._stopped else None


def _existing_identity_files(target: SshTarget) -> list[str]:
    found = [p for p in target.identity_files if Path(p).is_file()]
    if not found:
        listed = ", ".join(target.identity_files) or "none listed"
        raise SshError(
            f"{target.name}: no usable identity file ({listed}); labctl logs in with the keys vagrant ssh-config names"
        )
    return found


def _login(target: SshTarget, ns: str | None, known_hosts: Path, keys: list[str], timeout: float) -> paramiko.SSHClient:
    sock = netns_mod.connect_in(ns, target.hostname, target.port, timeout=timeout)
    # SSH is chatty request/response; without this every channel open waits ~40 ms on
    # Nagle's algorithm meeting a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_PinningPolicy(target, known_hosts))
    try:
        client.connect(
            target.hostname,
            port=target.port,
            username=target.user,
            key_filename=keys,  # type: ignore[arg-type]  # paramiko takes a list too; types-paramiko says str
            sock=sock,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except BaseException:
        client.close()
        sock.close()
        raise
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(30)  # notice a VM that vanished mid-scenario
    return client


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _feed_stdin(channel: paramiko.Channel, data: bytes | None) -> threading.Thread | None:
    """Send DATA then EOF; in a thread so a command that writes while reading cannot deadlock."""
    if data is None:
        channel.shutdown_write()
        return None

    def feed() -> None:
        try:
            channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command exited early; its rc tells the story

    thread = threading.Thread(target=feed, name="ssh-stdin", daemon=True)
    thread.start()
    return thread


def _collect(channel: paramiko.Channel, timeout: float, node: str, command: str) -> tuple[int, str, str]:
    """Read stdout and stderr until the command exits and both streams are drained."""
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    while True:
        while channel.recv_ready():
            out += channel.recv(65536)
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        if channel.exit_status_ready():
            # A daemon started in the background may keep stdout open forever: after the
            # command itself has exited, wait only briefly for the end of its output.
            exited_at = exited_at or time.monotonic()
            if channel.eof_received or time.monotonic() - exited_at > _EOF_GRACE:
                break
        if channel.closed and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        if signals.cancelled.is_set():
            raise Interrupted(f"{node}: interrupted while running: {command}")
        if time.monotonic() > deadline:
            raise CommandTimeout(
                f"{node}: command still running after {timeout:.0f}s: {command}", _text(out), _text(err)
            )
        if channel.eof_received:
            channel.status_event.wait(0.05)  # only the exit status is still to come
        else:
            select.select([channel], [], [], 0.05)  # the channel's pipe signals new output
    while channel.recv_ready():
        out += channel.recv(65536)
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(65536)
    return channel.recv_exit_status(), _text(out), _text(err)


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# Parallel work


class NodeShell(Protocol):
    """A way to run commands on one node: an SSH session, or a netns lab's namespace. What
    `labctl exec` and a node's snapshot need, and nothing else."""

    @property
    def node(self) -> str: ...

    def run(
        self,
        argv: list[str] | str,
        sudo: bool = False,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult: ...


@dataclass(frozen=True)
class ShellResult:
    """A shell on NODE, or why there is none (SessionResult's kind for any NodeShell)."""

    node: str
    shell: NodeShell | None = None
    error: BaseException | None = None

    def get(self) -> NodeShell:
        if self.shell is None:
            raise self.error or SshError(f"{self.node}: no shell")
        return self.shell


@dataclass(frozen=True)
class SessionResult:
    """An SSH session to NODE, or why there is none: callers ask, they never type-test."""

    node: str
    session: SshSession | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.session is not None

    def get(self) -> SshSession:
        """The session, or the error that kept it from opening, raised."""
        if self.session is None:
            raise self.error or SshError(f"{self.node}: no session")
        return self.session

    def why(self) -> str:
        """The error's first line ("" when the session is open)."""
        if self.ok:
            return ""
        lines = str(self.error or "no session").strip().splitlines()
        return lines[0] if lines else type(self.error).__name__


def run_parallel(
    items: dict[str, T], fn: Callable[[str, T], R], max_workers: int | None = None
) -> dict[str, R | BaseException]:
    """FN(name, item) for every item at once; each result or exception, in ITEMS order."""
    if not items:
        return {}
    workers = max_workers or min(len(items), 32)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labctl-node") as pool:
        futures = {name: pool.submit(fn, name, item) for name, item in items.items()}
        results: dict[str, R | BaseException] = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except BaseException as exc:  # noqa: BLE001 - one node's failure must not hide the others'
                results[name] = exc
    return results


def failures(results: dict[str, object]) -> dict[str, BaseException]:
    """The entries of a run_parallel result that are exceptions."""
    return {name: r for name, r in results.items() if isinstance(r, BaseException)}
