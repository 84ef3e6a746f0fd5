"""How long `labctl validate` takes on big lab files; prints figures, asserts nothing.

Each file is generated, then read by `labfile.read_lab` in this process (the best of three
runs, wall and CPU seconds); the biggest `top` file is also validated once by `labctl validate`
as a user runs it (a new process: start-up, printing and all).
  top     N unknown top-level keys (`key00000: 0` ...): N problems, the first LISTED_MAX listed
  vips    a list of N VIPs each with a misspelt key and nothing else: 2N problems
  reals   N reals in a /16 and `vips: {count: 3}`: a valid lab whose VIP addresses are found
          among the nodes' ones
Usage: .venv/bin/python -m bench.validate [--json] [--sizes 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from labctl.model import labfile
from labctl.model.initlab import initial_lab, lab_file_text

SIZES = (1000, 5000, 20000)


def top_keys(n: int) -> dict[str, Any]:
    return {"name": "bench", **{f"key{i:05d}": i for i in range(n)}}


def long_vips(n: int) -> dict[str, Any]:
    data = yaml.safe_load(lab_file_text(initial_lab()))
    data["vips"] = [{"nmae": f"VI_{i}"} for i in range(n)]
    return data


def many_reals(n: int) -> dict[str, Any]:
    data = yaml.safe_load(lab_file_text(initial_lab()))
    net = ipaddress.IPv4Network("10.20.0.0/16")
    data["network"]["cidr"] = str(net)
    hosts = net.hosts()
    next(hosts)  # the bridge's
    # Balancers and client first, then the reals from .0.5 on: the VIPs' preferred .10, .20 and
    # .30 are taken, so their addresses are looked for past all N reals.
    for role in ("balancers", "clients"):
        data[role] = {name: str(next(hosts)) for name in data[role]}
    data["reals"] = {f"r{i}": str(next(hosts)) for i in range(n)}
    data["vips"] = {"count": 3}
    return data


KINDS: dict[str, Callable[[int], dict[str, Any]]] = {"top": top_keys, "vips": long_vips, "reals": many_reals}


def read(path: Path) -> int:
    """Problems found in PATH (listed and counted); 0 for a valid lab."""
    try:
        labfile.read_lab(path)
    except labfile.LabFileError as exc:
        more = getattr(exc, "more", 0)  # 0 before the bound; after it, the last line counts them
        return len(exc.problems) - (1 if more else 0) + more
    return 0


def timed(path: Path, runs: int = 3) -> dict[str, float | int]:
    best_wall = best_cpu = float("inf")
    found = 0
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        found = read(path)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return {"wall_s": round(best_wall, 3), "cpu_s": round(best_cpu, 3), "problems": found}


def cli_run(path: Path) -> dict[str, float | int]:
    """`labctl validate -f PATH` in a new process, as a user runs it."""
    labctl = Path(sys.executable).with_name("labctl")
    started = time.perf_counter()
    result = subprocess.run([str(labctl), "validate", "-f", str(path)], capture_output=True, text=True, check=False)
    return {
        "wall_s": round(time.perf_counter() - started, 3),
        "exit": result.returncode,
        "lines": len(result.stderr.splitlines()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="numbers of keys, items or reals")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "load": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="labctl-bench-validate-") as tmp:
        for kind, make in KINDS.items():
            for n in sizes:
                path = Path(tmp) / f"{kind}-{n}.yaml"
                path.write_text(yaml.safe_dump(make(n), sort_keys=False))
                figures[f"{kind}_{n}"] = {"kib": round(path.stat().st_size / 1024), **timed(path)}
        figures[f"cli_top_{max(sizes)}"] = cli_run(Path(tmp) / f"top-{max(sizes)}.yaml")
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['cpus']} cpus, load {figures['load']} (a busy host stretches every figure)")
    for key, value in figures.items():
        if isinstance(value, dict):
            print(f"{key:<14} " + "  ".join(f"{k} {v}" for k, v in value.items()))


if __name__ == "__main__":
    main()
