"""One virsh command per node, all at once: libvirt runs each domain's job on its own, so six
managed saves or reverts take about as long as the slowest, not the sum."""

from __future__ import annotations

import subprocess

from labctl.lab.host.sandbox import Sandbox


def virsh_all(sandbox: Sandbox, commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run `virsh ARGS` for every node of COMMANDS at once (the socket is a file: no network
    traffic); each node's finished process, in COMMANDS' order."""
    procs = {
        node: subprocess.Popen(
            ["virsh", "-q", "-c", sandbox.uri, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node, args in commands.items()
    }
    done = {}
    for node, proc in procs.items():
        out, err = proc.communicate()
        done[node] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def error_of(proc: subprocess.CompletedProcess[str]) -> str | None:
    """None when virsh succeeded, else its last error line."""
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return (lines[-1] if lines else f"virsh exited {proc.returncode}").removeprefix("error: ")
