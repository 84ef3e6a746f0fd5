"""`provider: netns` end to end, as a user runs it: `labctl init --provider netns`, `up` (the real
keepalived and nginx in network namespaces), `status --json`, `exec`, `scenario run failover`,
`down` and `destroy`, each a labctl process of its own (the daemons outlive the one that started
them). Where the host kernel has no IPVS (this host's has none), `up` must say so, and the VIPs
are answered by the balancer that holds them.

Each test's lab has a name of its own: labs of tests running at once never share a namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.host.processes import ProcessRecord, process_alive, terminate
from labctl.lab.providers.netns import naming
from labctl.lab.providers.netns.daemons import DaemonStore
from tests.support.labctl_run import run_labctl

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="a netns lab needs root"),
    pytest.mark.skipif(
        any(shutil.which(p) is None and not os.path.exists(f"/usr/sbin/{p}") for p in ("ip", "keepalived", "nginx")),
        reason="needs iproute2, keepalived and nginx",
    ),
]


def labctl(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_labctl(folder, *args, timeout=timeout)


def lab_namespaces(name: str) -> list[str]:
    return naming.lab_namespaces(name, netns.list_namespaces())


def recorded_leaders(folder: Path, name: str) -> dict[str, ProcessRecord]:
    """Every daemon the lab recorded, by node/name, with its leader."""
    store = DaemonStore(folder / ".labctl" / name / "netns" / "nodes")
    nodes = store.folder.iterdir() if store.folder.is_dir() else []
    return {f"{n.name}/{d.name}": d.leader for n in nodes for d in store.all(n.name) if d.leader is not None}


def alive(records: dict[str, ProcessRecord]) -> list[str]:
    return sorted(k for k, r in records.items() if r.matches() and process_alive(r.pid))


@pytest.fixture
def netns_lab(tmp_path: Path):
    """A folder with `labctl init --provider netns` done; whatever the test leaves is removed."""
    name = f"nt{secrets.token_hex(3)}"
    before = set(netns.list_namespaces())
    init = labctl(tmp_path, "init", "--provider", "netns", "--name", name)
    assert init.returncode == 0, init.stderr
    seen: dict[str, ProcessRecord] = {}
    try:
        yield tmp_path, name, seen
    finally:
        seen.update(recorded_leaders(tmp_path, name))
        if lab_namespaces(name):
            labctl(tmp_path, "destroy", "--yes")
        # Backstop, should destroy have failed: only what this lab recorded, only its namespaces.
        terminate([r for r in seen.values() if r.matches() and process_alive(r.pid)], grace=5.0)
        for namespace in lab_namespaces(name):
            if namespace not in before:
                netns.delete(namespace)


def test_a_netns_lab_from_init_to_destroy(netns_lab):
    folder, name, seen = netns_lab
    assert "name: netns" in (folder / "lab.yaml").read_text()

    up = labctl(folder, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "ready" in up.stdout
    # This host's kernel has no IPVS: `up` says so, and what the lab does instead.
    if not Path("/proc/net/ip_vs").exists():
        assert "IPVS is missing on this host" in up.stdout
        assert "answered by the nginx of the balancer namespace that holds it" in up.stdout
    namespaces = lab_namespaces(name)
    assert sorted(namespaces) == sorted(
        [naming.node_namespace(name, n) for n in ("b1", "b2", "b3", "r1", "r2", "c1")] + [naming.lan_namespace(name)]
    )
    leaders = recorded_leaders(folder, name)
    seen.update(leaders)
    assert set(leaders) >= {"b1/keepalived", "b2/keepalived", "b3/keepalived", "r1/nginx", "r2/nginx"}
    assert alive(leaders) == sorted(leaders)  # they outlived the `up` that started them

    status = labctl(folder, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    state = json.loads(status.stdout)
    assert {v: e["holders"] for v, e in state["vips"].items()} == {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
    assert {n: e["vm"] for n, e in state["nodes"].items()} == dict.fromkeys(state["nodes"], "running")
    assert state["nodes"]["b1"]["vrrp"] == {"VI_1": "MASTER", "VI_2": "BACKUP", "VI_3": "BACKUP"}

    addr = labctl(folder, "exec", "b1", "--", "ip", "-br", "addr")
    assert addr.returncode == 0, addr.stderr
    assert "10.10.1.2/24" in addr.stdout and "10.10.1.10/24" in addr.stdout

    run = labctl(folder, "scenario", "run", "failover", "--set", "method=keepalived-stop", "--json", timeout=600)
    assert run.returncode in (0, 1, 3), run.stdout + run.stderr  # passed, failed or judged inconclusive
    summary = json.loads(run.stdout)
    assert summary["vips"]["VI_1"]["new_holder"] == "b2", summary["vips"]["VI_1"]
    assert run.returncode == 0, summary.get("verdict")
    seen.update(recorded_leaders(folder, name))  # keepalived-stop restarted b1's keepalived

    down = labctl(folder, "down")
    assert down.returncode == 0, down.stderr
    leaders = recorded_leaders(folder, name)
    seen.update(leaders)
    assert alive(leaders) == []  # down stops every daemon...
    assert sorted(lab_namespaces(name)) == sorted(namespaces)  # ...and keeps the namespaces
    halted = json.loads(labctl(folder, "status", "--json").stdout)
    assert {e["vm"] for e in halted["nodes"].values()} == {"shutoff"}

    destroy = labctl(folder, "destroy", "--yes")
    assert destroy.returncode == 0, destroy.stderr
    assert lab_namespaces(name) == []
    assert alive(seen) == []
    assert not (folder / ".labctl" / name).exists()


def test_up_on_a_running_netns_lab_changes_nothing(netns_lab):
    folder, name, seen = netns_lab
    first = labctl(folder, "up", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    seen.update(recorded_leaders(folder, name))
    second = labctl(folder, "up", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    result = json.loads(second.stdout)
    assert {n: r["changes"] for n, r in result["nodes"].items()} == dict.fromkeys(result["nodes"], [])
    assert recorded_leaders(folder, name) == seen  # no daemon restarted
    # `render` writes the nodes' files and no Vagrantfile (a netns lab has no VMs).
    rendered = labctl(folder, "render")
    assert rendered.returncode == 0, rendered.stderr
    assert (folder / ".labctl" / "render" / "nodes" / "b1" / "keepalived.conf").exists()
    assert not (folder / ".labctl" / "render" / "Vagrantfile").exists()
