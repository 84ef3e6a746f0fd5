"""Suspend, resume and whole-lab snapshots on a running lab; prints figures, asserts nothing.

  snapshot_save_s   `labctl snapshot save` (every VM paused, snapshotted, resumed)
  snapshot_memory_mib_per_vm, snapshot_disks_mib   what the snapshot costs on disk
  suspend_s         `labctl suspend` (managed save of every VM at once)
  resume_s          `labctl up` on the suspended lab: resumed, clocks stepped, checks passed
  resume_clock_behind, resume_clock_left   the guests' clocks before and after the step (s)
  resume_clocks_by_agent   how many of them the guest agent stepped (the rest: over SSH)
  restore_s         `labctl snapshot restore`: every VM reverted, clocks stepped, checks passed
bench/up.py runs this inside its lab's life, each figure then a ratio to the floor.
Usage: sudo .venv/bin/python -m bench.snapshots LAB_FOLDER [--json] [--name NAME]
(the lab must be up; the snapshot NAME, default bench, is deleted at the end)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.timed import labctl, say
from labctl.lab import labsnapshots
from labctl.lab.running import RunningLab
from labctl.model import labfile


def sizes(folder: Path, name: str) -> dict[str, float]:
    lab = labfile.read_lab(folder / "lab.yaml")
    run = RunningLab.for_lab(lab, folder / "lab.yaml")
    row = next(r for r in labsnapshots.listing(run, [n.name for n in lab.nodes]) if r.name == name)
    memory = list(row.memory_bytes.values())
    return {
        "snapshot_memory_mib_per_vm": round(sum(memory) / len(memory) / 2**20, 1),
        "snapshot_memory_mib_max": round(max(memory) / 2**20, 1),
        "snapshot_disks_mib": round(row.disk_bytes / 2**20, 1),
    }


def measure(folder: Path, name: str = "bench") -> dict[str, Any]:
    """The figures on the running lab of FOLDER; leaves it running, without snapshot NAME."""
    figures: dict[str, Any] = {}
    say(f"snapshot save {name}")
    figures["snapshot_save_s"], _ = labctl(folder, "snapshot", "save", name)
    figures.update(sizes(folder, name))
    say("suspend")
    figures["suspend_s"], _ = labctl(folder, "suspend")
    say("up (resume)")
    figures["resume_s"], proc = labctl(folder, "up", "--json", "--no-ready-snapshot")
    resumed = json.loads(proc.stdout).get("resume") or {}
    clocks = resumed.get("clocks", {})
    # Seconds, but not named *_s: bench/up.py makes every *_s a ratio to the floor.
    figures["resume_clock_behind"] = min((c["before_s"] for c in clocks.values()), default=None)
    figures["resume_clock_left"] = max((abs(c["after_s"] or 0) for c in clocks.values()), default=None)
    figures["resume_clocks_by_agent"] = sum(c.get("via") == "agent" for c in clocks.values())
    say(f"snapshot restore {name}")
    figures["restore_s"], _ = labctl(folder, "snapshot", "restore", name)
    say(f"snapshot delete {name}")
    figures["snapshot_delete_s"], _ = labctl(folder, "snapshot", "delete", name)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--name", default="bench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.folder.resolve(), args.name)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:<30} {value}")


if __name__ == "__main__":
    main()
