"""One virsh command per node, all at once: libvirt runs each domain's job on its own, so six
managed saves or reverts take about as long as the slowest, not the sum."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

from labctl.lab.host.sandbox import Sandbox


def virsh_all(sandbox: Sandbox, commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run `virsh ARGS` for every node of COMMANDS at once (the socket is a file: no network
    traffic); each node's finished process, in COMMANDS' order."""

    def one(args: list[str]) -> subprocess.CompletedProcess[str]:
        argv = ["virsh", "-q", "-c", sandbox.uri, *args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)

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
