"""Benchmark of a lab's life on real VMs against the floor; prints figures, asserts nothing.

In one run on one machine (root, the local box, isolated sandboxes), each figure also as a ratio
to the floor:
  floor            the box booted as six bare qemu processes to SSH-ready (bench/floor.py)
  vagrant up       `vagrant up --no-provision` of the same six VMs: Vagrant and libvirt alone
  labctl up        the reference lab from nothing, as a user runs it (`labctl up`), and its parts
  second up        `labctl up` again on the healthy lab
  provisioning     six nodes at once (in the first up) against one node alone (r1 made anew);
                   and on booted VMs reset to the box's state, six at once against one, with the
                   guests' CPU time: the least six can take on this host's cores
                   (bench/provisioning.py)
  up after down    `labctl down`, then `labctl up`
  snapshots        snapshot save, suspend, resume (up), restore, sizes (bench/snapshots.py)
  destroy          `labctl destroy --yes`
  memory           resident size of each qemu process of the lab
Usage: sudo .venv/bin/python -m bench.up [--json] [--baseline] [--skip-vagrant]
  --json:       one JSON object on stdout (floor_s, vagrant_up_s, labctl_up_s, second_up_s,
                provision_one_s, provision_all_s, rss_per_vm_mib, ...); progress on stderr
  --baseline:   also the homework's way (Vagrant's shell provisioner) in a lab of its own
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import provisioning, snapshots
from bench.floor import measure_floor
from bench.timed import labctl, say
from labctl.cli.console import make_console
from labctl.cli.progress import RichUpProgress
from labctl.lab.bringup import bring_up
from labctl.lab.running import RunInfo, RunningLab
from labctl.lab.vms.box import build_box
from labctl.lab.vms.render import render_lab, write_rendered
from labctl.model import labfile
from labctl.model.initlab import initial_lab

TARGETS = {
    "labctl_up_s": 1.3,
    "vagrant_up_s": 1.2,
}


def qemu_rss_per_vm_mib() -> float:
    out = subprocess.run(["ps", "-C", "qemu-system-x86", "-o", "rss="], capture_output=True, text=True).stdout
    sizes = [int(x) for x in out.split()]
    return round(sum(sizes) / 1024 / max(len(sizes), 1), 1)


def bench_plain_vagrant(folder: Path, name: str, shell_provisioner: bool) -> float:
    """`vagrant up` of the same six VMs in a sandbox of their own: with --no-provision (Vagrant
    alone), or with the homework's way, Vagrant's shell provisioner running provision.sh."""
    lab = initial_lab(name, provider="libvirt", driver="qemu", box="local")
    path = folder / "lab.yaml"
    path.write_text("# bench\n")
    run = RunningLab.for_lab(lab, path)
    run.check_prerequisites()
    RunInfo.of(lab).save(run.state)
    run.ensure_box()
    run.start_sandbox()
    run.seed_box_volume()  # as `labctl up` does: the box's volume in the pool, not uploaded
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


def bench_labctl(folder: Path) -> dict[str, float]:
    """The lab's life through `labctl`; the lab is destroyed whatever happens (a lab left
    running in a removed temporary folder would hold its namespace, VMs and daemons)."""
    figures: dict[str, float] = {}
    try:
        _lab_life(folder, figures)
    finally:
        if "destroy_s" not in figures and (folder / ".labctl").exists():
            say("destroy (after a failure)")
            labctl(folder, "destroy", "--yes")
    return figures


def _lab_life(folder: Path, figures: dict[str, float]) -> None:
    labctl(folder, "init", ".", "--name", "benchup", "--provider", "libvirt", "--driver", "qemu", "--box", "local")
    say("labctl up (from nothing)")
    # Without the `ready` snapshot: its cost is its own figure (snapshot_save_s), below.
    figures["labctl_up_s"], proc = labctl(folder, "up", "--json", "--no-ready-snapshot")
    first = json.loads(proc.stdout)["timings"]
    figures["labctl_up_vagrant_part_s"] = first["vagrant_up"]
    figures["provision_all_s"] = first["provision"]
    figures["provision_after_last_vm_s"] = first["provision_after_up"]
    figures["verify_s"] = first["verify"]
    figures["rss_per_vm_mib"] = qemu_rss_per_vm_mib()
    say("second up")
    figures["second_up_s"], _ = labctl(folder, "up", "--json")
    say("provisioning on booted VMs, reset to the box's state: one node, then six at once")
    fresh = provisioning.measure(folder)
    figures.update({k: v for k, v in fresh.items() if isinstance(v, (int, float)) and k != "cores"})
    say("one node provisioned alone (r1 made anew)")
    lab = labfile.read_lab(folder / "lab.yaml")
    run = RunningLab.for_lab(lab, folder / "lab.yaml")
    subprocess.run(
        run.sandbox.run_argv(["vagrant", "destroy", "-f", "r1"]),
        cwd=run.state.render_dir,
        env=run.vagrant_env(),
        capture_output=True,
        check=True,
    )
    run.close()
    single = bring_up(
        lab, folder / "lab.yaml", RichUpProgress(make_console(stderr=True)), only_nodes=["r1"], run_checks=False
    )
    figures["provision_one_s"] = single.timings["provision"]
    say("down, then up")
    figures["down_s"], _ = labctl(folder, "down")
    figures["up_after_down_s"], _ = labctl(folder, "up", "--json", "--no-ready-snapshot")
    say("snapshots: save, suspend, resume, restore")
    figures.update(snapshots.measure(folder))
    say("destroy")
    figures["destroy_s"], _ = labctl(folder, "destroy", "--yes")


def ratios(figures: dict[str, float]) -> dict[str, float]:
    floor = figures["floor_s"]
    out = {
        f"{key}/floor": round(value / floor, 2)
        for key, value in figures.items()
        if key.endswith("_s") and key != "floor_s" and value and not key.startswith(("guest_cpu", "cpu_bound"))
    }
    if figures.get("provision_one_s"):
        out["provision_all/provision_one"] = round(figures["provision_all_s"] / figures["provision_one_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--skip-vagrant", action="store_true", help="leave out the plain `vagrant up` lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/up.py needs root (sandboxes, namespaces)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (VMs, namespaces) on TERM too
    box = build_box()
    figures: dict[str, float] = {}
    say(f"floor: six bare qemu VMs of box {box.name}")
    floor = measure_floor(box, 6)
    figures["floor_s"] = floor.floor_s
    figures["floor_rss_per_vm_mib"] = floor.rss_per_vm_mib
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as tmp:
        for sub in ("a", "b", "c"):
            (Path(tmp) / sub).mkdir()
        if not args.skip_vagrant:
            say("vagrant up --no-provision alone")
            figures["vagrant_up_s"] = bench_plain_vagrant(Path(tmp) / "c", "benchva", False)
        figures.update(bench_labctl(Path(tmp) / "a"))
        if args.baseline:
            say("the homework's way: vagrant up with the shell provisioner")
            figures["homework_way_s"] = bench_plain_vagrant(Path(tmp) / "b", "benchsh", True)
    result = {"box": box.name, "cpus": os.cpu_count(), **figures, "ratios": ratios(figures)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in figures) + 2
    for key, value in figures.items():
        ratio = result["ratios"].get(f"{key}/floor")
        target = TARGETS.get(key)
        note = f"  x{ratio} of the floor" if ratio else ""
        note += f" (target <= {target})" if target else ""
        print(f"{key:<{width}} {value}{note}")
    print(f"{'provision all / one':<{width}} {result['ratios'].get('provision_all/provision_one')} (target <= 1.5)")
    if "cpu_bound/one" in figures:
        print(
            f"{'on booted VMs':<{width}} six at once {figures['provision_fresh_all/one']}x one; the guests' CPU "
            f"alone needs {figures['cpu_bound/one']}x one on {os.cpu_count()} cores"
        )
    print(f"{'second up':<{width}} {figures['second_up_s']} s (target < 3)")


if __name__ == "__main__":
    main()
