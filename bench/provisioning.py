"""Provisioning on booted VMs, six nodes at once against one, with what it costs the host.

Each node is first put back to how the box left it (labctl's files, keepalived's and nginx's
configuration gone, both stopped), so the run is a first provisioning, not the no-op of a second
one. Besides the wall time, the CPU time of each VM's qemu process during the run: under TCG a
guest's work is host CPU, so six nodes' provisioning cannot take less than the sum of their CPU
time over the host's cores, however it is scheduled (`cpu_bound_s`).

Usage (on a running lab): sudo .venv/bin/python -m bench.provisioning LABDIR [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from labctl.lab.nodes.provision import provision_node
from labctl.lab.running import RunningLab
from labctl.lab.vms.render import node_files
from labctl.model import labfile

# How the box leaves a node: no labctl files, service configuration or boot links, the box's
# hostname, no lab address, nothing of the lab running.
AS_FROM_THE_BOX = (
    "systemctl stop keepalived nginx 2>/dev/null; ipvsadm -C 2>/dev/null;"
    " rm -rf /etc/labctl /var/lib/labctl /etc/keepalived/keepalived.conf /etc/ipvsadm.rules"
    " /etc/nginx/sites-enabled/labctl /etc/nginx/sites-available/labctl /etc/sysctl.d/99-labctl-dr.conf"
    " /etc/systemd/network/20-labctl-lab.network /etc/modules-load.d/labctl-ip_vs.conf"
    " /etc/systemd/system/multi-user.target.wants/keepalived.service"
    " /etc/systemd/system/multi-user.target.wants/nginx.service"
    " /etc/systemd/system/multi-user.target.wants/labctl-*.service /etc/systemd/system/labctl-*.service;"
    " ip -4 addr flush dev eth1 scope global; ip -4 addr flush dev lo scope global;"
    " hostname labctl; echo labctl > /etc/hostname; true"
)


def qemu_cpu_seconds(lab_name: str) -> dict[str, float]:
    """Node -> CPU seconds (user + system) its qemu process has used so far."""
    found = {}
    prefix = f"guest=labctl-{lab_name}-".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        names = [a for a in argv if a.startswith(prefix)]
        if names:
            node = names[0].split(b",")[0].removeprefix(prefix).decode()
            found[node] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def provision_at_once(run: RunningLab, nodes: list[str]) -> dict[str, object]:
    """Reset NODES, then provision them all at once; wall time and guest CPU per node."""
    lab = run.lab
    ctx = run.render()
    sessions = {n: r.get() for n, r in run.sessions(nodes).items()}
    for node in nodes:
        sessions[node].run(["sh", "-c", AS_FROM_THE_BOX], sudo=True, check=True)
    time.sleep(3)  # let the resets' own work settle before the clock starts
    before = qemu_cpu_seconds(lab.name)
    seconds: dict[str, float] = {}
    errors: list[str] = []

    def one(node: str) -> None:
        started = time.monotonic()
        try:
            provision_node(sessions[node], node_files(lab, lab.node(node), ctx))
        except Exception as exc:  # noqa: BLE001 - reported, the other nodes go on
            errors.append(f"{node}: {exc}")
        seconds[node] = round(time.monotonic() - started, 2)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = round(time.monotonic() - started, 2)
    after = qemu_cpu_seconds(lab.name)
    cpu = {n: round(after[n] - before[n], 2) for n in nodes if n in after and n in before}
    return {"wall_s": wall, "per_node_s": seconds, "guest_cpu_s": cpu, "errors": errors}


def measure(folder: Path, one: str = "b1") -> dict[str, object]:
    lab = labfile.read_lab(folder / "lab.yaml")
    run = RunningLab.for_lab(lab, folder / "lab.yaml")
    try:
        alone = provision_at_once(run, [one])
        every = provision_at_once(run, [n.name for n in lab.nodes])
    finally:
        run.close()
    cores = os.cpu_count() or 1
    cpu_all = round(sum(every["guest_cpu_s"].values()), 2)
    return {
        "provision_fresh_one_s": alone["wall_s"],
        "provision_fresh_all_s": every["wall_s"],
        "provision_fresh_all/one": round(every["wall_s"] / alone["wall_s"], 2),
        "guest_cpu_one_s": round(sum(alone["guest_cpu_s"].values()), 2),
        "guest_cpu_all_s": cpu_all,
        "cores": cores,
        # No schedule does better: every node's work is CPU of this host's cores.
        "cpu_bound_s": round(cpu_all / cores, 2),
        "cpu_bound/one": round(cpu_all / cores / alone["wall_s"], 2),
        "per_node_s": every["per_node_s"],
        "guest_cpu_per_node_s": every["guest_cpu_s"],
        "errors": alone["errors"] + every["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder of a running lab's lab.yaml")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/provisioning.py needs root (the lab's namespace)")
    figures = measure(args.folder)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:<26} {value}")


if __name__ == "__main__":
    main()
