"""Benchmark of `labctl up` on real VMs; prints figures, asserts nothing.

In one run on the same machine (root, the local box, an isolated sandbox):
  0. `vagrant up --no-provision` of the same six VMs: Vagrant alone
  1. `labctl up` of the reference lab: total, and its provisioning (overlapped with the boot)
  2. a second `labctl up` on the healthy lab
  3. provisioning of one node alone (r1 destroyed, brought up and provisioned by itself)
  4. host memory of the six-VM lab (resident size of every qemu process)
  5. the homework's way as the baseline: the same VMs with Vagrant's shell provisioner doing the
     same configuration (`vagrant up` with provisioning), in a second lab
Usage: sudo .venv/bin/python bench/up.py [--keep]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from labctl.cli.progress import RichUpProgress
from labctl.lab.bringup import bring_up
from labctl.lab.render import render_lab, write_rendered
from labctl.lab.running import RunInfo, RunningLab
from labctl.model.initlab import initial_lab


def qemu_rss_mb() -> float:
    out = subprocess.run(["ps", "-C", "qemu-system-x86", "-o", "rss="], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split()) / 1024


def lab_in(folder: Path, name: str):
    lab = initial_lab(name, provider="libvirt", driver="qemu", box="local")
    (folder / "lab.yaml").write_text("# bench\n")
    return lab, folder / "lab.yaml"


def bench_labctl(folder: Path, console: Console) -> dict[str, float]:
    lab, path = lab_in(folder, "benchup")
    figures: dict[str, float] = {}
    first = bring_up(lab, path, RichUpProgress(console))
    if not first.ok:
        raise SystemExit(f"labctl up failed: {first.failures or [c for c in first.checks if not c.ok]}")
    figures["labctl up: its vagrant up, provisioning overlapped (s)"] = first.timings["vagrant_up"]
    figures["labctl up: provisioning after the last VM (s)"] = first.timings["provision_after_up"]
    figures["labctl up provisioning, 6 nodes (s)"] = first.timings["provision"]
    figures["labctl up verification (s)"] = first.timings["verify"]
    figures["labctl up total (s)"] = first.timings["total"]
    figures["box + sandbox + render (s)"] = round(
        first.timings["box"] + first.timings["sandbox"] + first.timings["render"], 2
    )
    figures["host memory of 6 VMs, qemu RSS (MB)"] = round(qemu_rss_mb())
    second = bring_up(lab, path, RichUpProgress(console))
    figures["second labctl up (s)"] = second.timings["total"]
    # One node alone: r1 made anew and provisioned by itself.
    run = RunningLab.for_lab(lab, path)
    subprocess.run(
        run.sandbox.run_argv(["vagrant", "destroy", "-f", "r1"]),
        cwd=run.state.render_dir,
        env=run.vagrant_env(),
        capture_output=True,
        check=True,
    )
    single = bring_up(lab, path, RichUpProgress(console), only_nodes=["r1"], run_checks=False)
    figures["provisioning of one node alone (s)"] = single.timings["provision"]
    RunningLab(run.state, RunInfo.of(lab)).destroy()
    return figures


def bench_plain_vagrant(folder: Path, name: str, shell_provisioner: bool) -> float:
    """`vagrant up` of the same six VMs in a sandbox of their own: with --no-provision (Vagrant
    alone), or with the homework's way, Vagrant's shell provisioner running provision.sh."""
    lab, path = lab_in(folder, name)
    run = RunningLab.for_lab(lab, path)
    run.check_prerequisites()
    RunInfo.of(lab).save(run.state)
    run.ensure_box()
    run.start_sandbox()
    ctx = replace(run.render(), shell_provisioning=shell_provisioner)
    write_rendered(render_lab(lab, ctx), run.state.render_dir)
    args = ["vagrant", "up", "--provider=libvirt", *([] if shell_provisioner else ["--no-provision"])]
    started = time.monotonic()
    try:
        with open(run.state.root / "bench.log", "w") as log:
            subprocess.run(
                run.sandbox.run_argv(args),
                cwd=run.state.render_dir,
                env=run.vagrant_env(),
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return round(time.monotonic() - started, 2)
    finally:
        run.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as tmp:
        for sub in ("a", "b", "c"):
            (Path(tmp) / sub).mkdir()
        figures["vagrant up alone (s)"] = bench_plain_vagrant(Path(tmp) / "c", "benchva", False)
        figures.update(bench_labctl(Path(tmp) / "a", console))
        if not args.skip_baseline:
            figures["baseline: vagrant up with shell provisioner (s)"] = bench_plain_vagrant(
                Path(tmp) / "b", "benchsh", True
            )
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    up_alone = figures["vagrant up alone (s)"]
    print(
        f"{'ratio labctl up / vagrant up alone':<{width}}  "
        f"{figures['labctl up total (s)'] / up_alone:.2f} (target <= 1.15)"
    )
    print(
        f"{'ratio provisioning 6 nodes / 1 node':<{width}}  "
        f"{figures['labctl up provisioning, 6 nodes (s)'] / figures['provisioning of one node alone (s)']:.2f}"
        " (target <= 1.5)"
    )
    if "baseline: vagrant up with shell provisioner (s)" in figures:
        print(
            f"{'ratio labctl up / the homework way':<{width}}  "
            f"{figures['labctl up total (s)'] / figures['baseline: vagrant up with shell provisioner (s)']:.2f}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
