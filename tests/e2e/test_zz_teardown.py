"""The shared lab's last tests (this module runs after every other e2e module): the traffic
experiment killed outright with b1 powered off, r1 halted with `down r1`, an up killed outright while the
two VMs boot, an up that completes and puts back what the scenario left, `down` of the whole lab,
then a destroy that leaves nothing behind. Two VMs boot here, not six: the e2e tier's time goes
to what only VMs can show."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from labctl.lab.host import netns
from tests.e2e.labrun import DAEMONS, LABCTL, labctl, nothing_left_on_the_taps, pids_of, scenario_started

pytestmark = pytest.mark.e2e


def test_down_halts_and_up_brings_the_lab_back_as_it_was(lab_dir):
    folder = lab_dir[0]
    _scenario_killed_with_b1_off(folder)
    proc = labctl(folder, "down", "r1")
    assert proc.returncode == 0, proc.stderr
    assert "r1 halted" in proc.stdout
    status = labctl(folder, "status", "--json")
    assert status.returncode == 1  # not healthy: two VMs are off
    states = {n: e["vm"] for n, e in json.loads(status.stdout)["nodes"].items()}
    assert states == {"b1": "shutoff", "r1": "shutoff", "b2": "running", "b3": "running", "r2": "running",
                      "c1": "running"}  # fmt: skip
    _up_killed_while_the_vms_boot(folder, lab_dir[1], started=2)
    proc = labctl(folder, "up", "--json")
    vagrant_log = folder / ".labctl" / lab_dir[1] / "logs" / "vagrant.log"
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + _text(vagrant_log)[-4000:]
    # The killed up's vagrant up never finished: this one runs it again, though every VM runs.
    assert "the last `vagrant up` did not finish" in proc.stderr
    # The killed scenario's journal is replayed: nothing of it is left to restore.
    assert "an earlier scenario run ended without putting the lab back" in proc.stderr
    assert not (folder / ".labctl" / lab_dir[1] / "scenario-journal.json").exists()
    result = json.loads(proc.stdout)
    assert not result["vagrant_up_skipped"] and result["ok"]
    status = json.loads(labctl(folder, "status", "--json").stdout)
    assert {v: e["holders"] for v, e in status["vips"].items()} == {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
    # Nor is anything left of the traffic experiment: no iperf3 service or process, no shaping.
    ipvs = labctl(folder, "exec", "balancers", "--sudo", "--", "ipvsadm", "-Sn")
    assert ipvs.returncode == 0 and ":5201" not in ipvs.stdout, ipvs.stdout
    iperf = labctl(folder, "exec", "all", "--", "if pgrep -x iperf3 >/dev/null; then echo IPERF3-RUNS; fi")
    assert iperf.returncode == 0 and "IPERF3-RUNS" not in iperf.stdout, iperf.stdout
    nothing_left_on_the_taps(lab_dir[1])
    # A balancer and a real rebooted, and kept everything (keepalived enabled, IPVS rules
    # restored at boot, the lab address, VIPs on lo, DR sysctls, nginx): nothing to change.
    assert {n: r["changes"] for n, r in result["nodes"].items() if r["changes"]} == {}
    # `down` of the whole lab: every VM shut down at once.
    proc = labctl(folder, "down")
    assert proc.returncode == 0, proc.stderr
    status = labctl(folder, "status", "--json")
    assert status.returncode == 1  # not healthy: every VM is off
    assert {e["vm"] for e in json.loads(status.stdout)["nodes"].values()} == {"shutoff"}


def _scenario_killed_with_b1_off(folder) -> None:
    """`scenario run capacity-traffic` killed with SIGKILL once it has powered b1 off under
    load: no cleanup ran. b1 stays off; the balancers keep the iperf3 IPVS services (b1's for
    its next boot too), the client and the reals their iperf3 processes, the taps their shaping;
    the run's journal stays behind for the next `up` to replay."""
    started_at = time.time()
    popen = scenario_started(folder, "capacity-traffic", "--set", "down=b1", "--set", "link=10Mbit",
                             "--set", "traffic=15Mbit", "--set", "settle=1")  # fmt: skip
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            results = folder / "results"  # made by the scenario run (when this module runs alone)
            runs = [p for p in results.iterdir() if p.stat().st_mtime >= started_at - 1] if results.is_dir() else []
            if any('"action": "power-off"' in _text(run / "events.jsonl") for run in runs):
                break
            assert popen.poll() is None, "the scenario ended before it could be killed"
            time.sleep(0.5)
    finally:
        popen.send_signal(signal.SIGKILL)
        popen.communicate()
    status = json.loads(labctl(folder, "status", "--json").stdout)
    assert status["nodes"]["b1"]["vm"] != "running"


def _text(path) -> str:
    return path.read_text() if path.exists() else ""


def _vagrant_pids(namespace: str) -> list[int]:
    found = []
    for pid in netns.pids_in(namespace):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"/vagrant") for part in cmdline):
            found.append(pid)
    return found


def _up_killed_while_the_vms_boot(folder, name: str, started: int) -> None:
    """`labctl up` killed with SIGKILL once Vagrant has started STARTED VMs: its vagrant child
    must not outlive it (it would hold Vagrant's machine locks against the next up)."""
    log = folder / ".labctl" / name / "logs" / "vagrant.log"
    start = log.stat().st_size
    popen = subprocess.Popen([*LABCTL, "up"], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while log.read_text(errors="replace")[start:].count("Starting domain.") < started:
            assert popen.poll() is None, "labctl up ended before it could be killed"
            assert time.monotonic() < deadline, "vagrant started no VM in 300 s"
            time.sleep(0.5)
    finally:
        popen.send_signal(signal.SIGKILL)
        popen.wait()
    deadline = time.monotonic() + 30
    while _vagrant_pids(f"labctl-{name}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _vagrant_pids(f"labctl-{name}") == [], "vagrant outlived the labctl that started it"


def test_destroy_leaves_nothing_behind(lab_dir):
    folder, name, before, _up = lab_dir
    namespace = f"labctl-{name}"
    assert netns.exists(namespace)  # the lab is down (its VMs halted), not gone
    proc = labctl(folder, "destroy", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert not netns.exists(namespace)
    # Nothing of the lab's is left (other programs' namespaces may come and go meanwhile).
    assert set(netns.list_namespaces()) - before["namespaces"] == set()
    assert pids_of(*DAEMONS) - before["pids"] == set()
    assert not (folder / ".labctl" / name).exists()
    # The lab file and the experiments' results are the user's; nothing else is left.
    left = sorted(p.name for p in folder.iterdir() if p.name != "up-1.json")
    assert left in ([".labctl", "lab.yaml", "results"], ["lab.yaml", "results"], ["lab.yaml"])
    assert not any((folder / ".labctl").iterdir()) if (folder / ".labctl").exists() else True
    again = labctl(folder, "destroy", "--yes")
    assert again.returncode == 0 and "nothing to destroy" in again.stdout
