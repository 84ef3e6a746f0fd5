"""Network namespaces: create, remove, run a program inside, open a socket inside.

Every lab address lives in a namespace that labctl (or a test) created; nothing talks to a lab
address from the host's own namespace. Programs (libvirtd, vagrant, probes) run under
`ip netns exec`; labctl's own SSH connections use sockets opened inside the namespace by
switching one thread into it for the socket() call (a socket keeps the namespace it was born in).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import subprocess
import threading
from pathlib import Path

from labctl.errors import LabctlError

NETNS_DIR = Path("/var/run/netns")
_CLONE_NEWNET = 0x40000000
_switch_lock = threading.Lock()


class NetnsError(LabctlError, RuntimeError):
    """A namespace could not be created, entered or removed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    except FileNotFoundError as exc:  # iproute2 missing
        raise NetnsError("the 'ip' command is missing: apt-get install iproute2") from exc
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_namespaces() -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


def create(name: str) -> None:
    """Create namespace NAME with its loopback up; a no-op when it already exists."""
    if os.geteuid() != 0:
        raise NetnsError("network namespaces need root: run labctl with sudo, or drop --isolated")
    if not exists(name):
        _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")


def delete(name: str) -> None:
    """Remove namespace NAME; a no-op when it is already gone."""
    if exists(name):
        _ip("netns", "delete", name)


def exec_argv(name: str | None, argv: list[str]) -> list[str]:
    """The argv that runs ARGV inside namespace NAME (or as is when NAME is None)."""
    if name is None:
        return list(argv)
    return ["ip", "netns", "exec", name, *argv]


def pids_in(name: str) -> list[int]:
    """PIDs of the processes whose network namespace is NAME."""
    proc = _ip("netns", "pids", name, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc().setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)}")


def socket_in(name: str | None, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new socket that lives in namespace NAME (the current one when NAME is None)."""
    if name is None:
        return socket.socket(family, kind)
    target = NETNS_DIR / name
    if not target.exists():
        raise NetnsError(f"network namespace {name!r} does not exist")
    result: dict[str, object] = {}

    # A fresh thread switches namespace, makes the socket and ends: the caller's thread and
    # every other thread stay where they were.
    def make() -> None:
        try:
            with open(target) as ns_file:
                _setns(ns_file.fileno())
            result["sock"] = socket.socket(family, kind)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller's thread
            result["error"] = exc

    with _switch_lock:
        worker = threading.Thread(target=make, name=f"netns-{name}")
        worker.start()
        worker.join()
    if "error" in result:
        raise NetnsError(f"cannot open a socket in namespace {name!r}: {result['error']}")
    return result["sock"]  # type: ignore[return-value]


def connect_in(name: str | None, host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to HOST:PORT made from inside namespace NAME."""
    sock = socket_in(name)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock
