"""Helpers of the real-VM tests: run the real `labctl` command as a user would, find the
processes a lab started, run a scenario and read its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labctl.lab import netns
from labctl.lab.sandbox import namespace_for

LABCTL = [sys.executable, "-m", "labctl.cli"]


def labctl(folder: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LABCTL, *args], cwd=folder, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def pids_of(*names: str) -> set[int]:
    """Live processes with one of NAMES (zombies waiting for init to reap them don't count)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,stat=,comm="], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        pid, stat, comm = line.split(None, 2)
        if comm.strip() in names and not stat.startswith("Z"):
            found.add(int(pid))
    return found


# Process names as the kernel keeps them: at most 15 characters.
QEMU = "qemu-system-x86"
DAEMONS = (QEMU, "libvirtd", "virtlogd", "dnsmasq")


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_scenario(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    proc = labctl(folder, "scenario", "run", *args, "--json", timeout=900)
    summary = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    results = sorted((folder / "results").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
    print(f"{' '.join(args)}: {results}", file=sys.stderr)
    return proc, summary, results


def scenario_started(folder: Path, *args: str) -> subprocess.Popen[str]:
    """`labctl scenario run ARGS --json` started, not waited for (see scenario_finished)."""
    return subprocess.Popen(
        [*LABCTL, "scenario", "run", *args, "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def scenario_finished(
    folder: Path, popen: subprocess.Popen[str], timeout: float = 900
) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    out, err = popen.communicate(timeout=timeout)
    proc = subprocess.CompletedProcess(popen.args, popen.returncode, out, err)
    summary = json.loads(out) if out.strip().startswith("{") else {}
    results = sorted((folder / "results").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
    return proc, summary, results


def assert_complete_results(results: Path) -> None:
    for name in ("summary.json", "events.jsonl", "report.md", "timeline.png", "run.json"):
        assert (results / name).is_file(), name
    assert (results / "timeline.png").read_bytes()[:8] == PNG_MAGIC
    assert list(results.glob("capture-b*.txt"))


def nothing_left_on_the_taps(name: str) -> None:
    """No labctl table and no shaping on any interface of the lab's namespace."""
    ns = namespace_for(name)
    tables = subprocess.run(netns.exec_argv(ns, ["nft", "list", "tables"]), capture_output=True, text=True).stdout
    assert "labctl_" not in tables
    qdiscs = subprocess.run(netns.exec_argv(ns, ["tc", "qdisc", "show"]), capture_output=True, text=True).stdout
    assert " tbf " not in qdiscs and " netem " not in qdiscs
