"""One virsh command per node, all at once: libvirt runs each domain's job on its own, so six
managed saves or reverts take about as long as the slowest, not the sum."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labctl.lab.host.sandbox import Sandbox


@dataclass(frozen=True)
class TimedRun:
    """One virsh's finished process and the host's clock when it was started and when it ended."""

    proc: subprocess.CompletedProcess[str]
    sent: float
    back: float


def virsh_all(sandbox: Sandbox, commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run `virsh ARGS` for every node of COMMANDS at once (the socket is a file: no network
    traffic); each node's finished process, in COMMANDS' order."""
    return {node: run.proc for node, run in virsh_all_timed(sandbox, commands, None).items()}


def virsh_all_timed(
    sandbox: Sandbox, commands: dict[str, list[str]], timeout_s: float | None, clock: Callable[[], float] = time.time
) -> dict[str, TimedRun]:
    """As virsh_all, each run timed on its own (a thread each: one slow node must not widen
    another's round trip); a virsh still running after TIMEOUT_S (if any) is killed (exit 124)."""

    def one(args: list[str]) -> TimedRun:
        argv = ["virsh", "-q", "-c", sandbox.uri, *args]
        sent = clock()
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc = subprocess.CompletedProcess(argv, 124, "", f"error: virsh did not answer in {timeout_s:g} s")
        return TimedRun(proc, sent, clock())

    if not commands:
        return {}
    with ThreadPoolExecutor(max_workers=len(commands), thread_name_prefix="labctl-virsh") as pool:
        futures = {node: pool.submit(one, args) for node, args in commands.items()}
        return {node: future.result() for node, future in futures.items()}


def error_of(proc: subprocess.CompletedProcess[str]) -> str | None:
    """None when virsh succeeded, else its last error line."""
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return (lines[-1] if lines else f"virsh exited {proc.returncode}").removeprefix("error: ")
