"""The probe script runs on Debian's python3-minimal: only the modules that package ships.

Measured from the bookworm packages (python3.11-minimal, libpython3.11-minimal 3.11.2): they
hold socket, threading, argparse, selectors and signal, but neither json nor http (http.client),
so the script speaks HTTP over a raw socket and writes its JSON by hand.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from labctl.observe.probes import parse_probe_line, parse_probe_lines
from labctl.scenario.probe import ProbeSpec, probe_script

MINIMAL_OK = {"argparse", "socket", "sys", "threading", "time"}


def test_probe_imports_only_what_python3_minimal_has():
    tree = ast.parse(probe_script())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= MINIMAL_OK, imported - MINIMAL_OK


def test_probe_records_a_refused_connection_as_data(tmp_path):
    # 127.0.0.1 port 9 (discard) on loopback: nothing listens, the request is refused at once.
    script = tmp_path / "probe.py"
    script.write_text(probe_script())
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--vip",
            "127.0.0.1",
            "--port",
            "9",
            "--count",
            "3",
            "--rate",
            "50",
            "--timeout",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)  # hand-written JSON parses
    records = parse_probe_lines(lines, offset=0.0)
    assert len(records) == 3
    assert {r.error for r in records} == {"refused"} and not any(r.ok for r in records)


def test_parse_probe_line_applies_the_clock_offset():
    line = (
        '{"t": 100.5, "vip": "10.10.1.10", "seq": 1, "ok": true, "status": 200, "error": null, "ms": 1.5, "real": "r2"}'
    )
    record = parse_probe_line(line, offset=0.5)
    assert (record.t, record.real, record.ok) == (100.0, "r2", True)
    assert parse_probe_line('{"probe": "start", "t": 1}') is None
    assert parse_probe_line("Traceback (most recent call last):") is None


def test_probe_argv():
    argv = ProbeSpec(("10.10.1.10", "10.10.1.20"), rate=25, count=50, sequential=True).argv()
    assert argv[:3] == ["python3", "-u", "/run/labctl/bin/labctl-probe.py"]
    assert argv.count("--vip") == 2 and "--sequential" in argv
