"""The failover scenario end to end in network namespaces, through NamespaceLab.

Three balancer namespaces run real keepalived with the lab's rendered keepalived.conf; each also
runs nginx answering with its own name, so the probe shows which balancer holds the VIP (the
host kernel has no IPVS to forward to the reals). Two real namespaces run nginx with the VIPs on
lo and the DR ARP sysctls. The client namespace runs the real probe script.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab import NetworkSettings, reference_lab
from labctl.render import BoxRef, RenderContext, node_files
from labctl.report import build
from labctl.scenario.engine import Engine
from labctl.scenario.loader import read_scenario
from labctl.scenario.nsaccess import NamespaceLab
from labctl.resources import scenarios_dir

pytestmark = pytest.mark.integration
CTX = RenderContext(box=BoxRef("x"), auth_pass="abcd1234")
NOTIFY = "/run/labctl/bin/labctl-vrrp-notify"


def _program(name: str) -> str:
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not Path(path).exists():
        pytest.skip(f"{name} is not installed")
    return path


def _nginx_conf(workdir: Path, node: str) -> Path:
    conf = workdir / f"nginx-{node}.conf"
    conf.write_text(
        f"pid {workdir}/nginx-{node}.pid;\nerror_log {workdir}/nginx-{node}.error.log;\n"
        "daemon off;\nworker_processes 1;\nevents {}\nhttp {\n    access_log off;\n"
        f"    client_body_temp_path {workdir}/tmp-{node};\n"
        "    server {\n        listen 80 default_server;\n"
        f"        add_header X-Real-Server {node} always;\n"
        f"        location / {{ return 200 \"{node}\\n\"; }}\n    }}\n}}\n"
    )
    return conf


def _keepalived_conf(lab, workdir: Path, node: str) -> Path:
    files = {f.path: f.content for f in node_files(lab, lab.node(node), CTX)}
    text = files["keepalived.conf"].replace("/usr/local/sbin/labctl-vrrp-notify", NOTIFY)
    # The notify script lives under the test's temp tree, which keepalived's script security
    # would reject (a world-writable /tmp above it); the nodes run as root anyway.
    text = text.replace("    enable_script_security\n", "")
    conf = workdir / f"keepalived-{node}.conf"
    conf.write_text(text)
    return conf


@pytest.fixture
def ns_lab(lab_segment, tmp_path: Path):
    keepalived, nginx = _program("keepalived"), _program("nginx")
    lab = replace(reference_lab("nslab"), network=NetworkSettings(interface="eth0"))
    segment = lab_segment({n.name: f"{n.address}/24" for n in lab.nodes})
    access = NamespaceLab(lab, {n.name: segment.ns(n.name) for n in lab.nodes}, tmp_path)
    notify = (Path(__file__).parents[2] / "provision" / "balancer" / "labctl-vrrp-notify").read_text()
    try:
        for real in lab.reals:
            for vip in lab.vips:
                access.run(real.name, ["ip", "addr", "add", f"{vip.address}/32", "dev", "lo"])
            for key in ("all", "lo"):
                access.run(real.name, f"sysctl -qw net.ipv4.conf.{key}.arp_ignore=1 "
                                      f"net.ipv4.conf.{key}.arp_announce=2")
        for node in [n.name for n in lab.balancers] + [n.name for n in lab.reals]:
            (tmp_path / f"tmp-{node}").mkdir()
            access.add_daemon(node, "nginx", [nginx, "-c", str(_nginx_conf(tmp_path, node))],
                              [tmp_path / f"nginx-{node}.pid"])
        for balancer in lab.balancers:
            access.put(balancer.name, NOTIFY, notify, mode=0o755)
            name = balancer.name
            pids = [tmp_path / f"{name}-{kind}.pid" for kind in ("keepalived", "vrrp")]
            access.add_daemon(name, "keepalived", [
                keepalived, "--dont-fork", "--log-console", "--no-syslog", "--vrrp",
                "-f", str(_keepalived_conf(lab, tmp_path, name)),
                "-p", str(pids[0]), "-r", str(pids[1])], pids)
        yield access
    finally:
        access.close()


def _valid_png(path: Path) -> bool:
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    width, height = struct.unpack(">II", data[16:24])
    return width > 100 and height > 100


@pytest.mark.parametrize("method", ["keepalived-stop", "keepalived-kill", "poweroff"])
def test_failover_in_namespaces(ns_lab, tmp_path: Path, method: str):
    scenario = read_scenario(scenarios_dir() / "failover.yaml", {
        "method": method, "capture_ipvs": "false", "settle": "2", "down_for": "4",
        "after": "2", "max_preemption": "20"}, ns_lab.lab)
    out = tmp_path / "results" / f"failover-{method}"
    Engine(ns_lab, scenario, out).run()
    summary = build(out)

    for name in ("summary.json", "events.jsonl", "report.md", "timeline.png", "run.json",
                 "clock.json", "probe-main.jsonl", "scenario.yaml"):
        assert (out / name).exists(), name
    assert list(out.glob("capture-b1.*.txt"))
    assert _valid_png(out / "timeline.png")
    assert "![timeline](timeline.png)" in (out / "report.md").read_text()
    assert json.loads((out / "summary.json").read_text())["vips"]["VI_1"]

    vi1 = summary["vips"]["VI_1"]
    print(method, json.dumps({k: vi1.get(k) for k in (
        "outage_s", "failed", "moved_after_s", "new_holder", "theory_s", "duplicate_s",
        "preemption_s")}))
    assert summary["error"] is None
    assert vi1["new_holder"] == "b2"  # VI_1: b1 102, b2 101, b3 100
    # Sanity bounds from lab-facts (namespaces): graceful 0.62-0.66 s, dead master 3.0-3.6 s.
    if method == "keepalived-stop":
        assert 0.2 < vi1["moved_after_s"] < 2.0
        assert summary["failover"]["duplicate_detected"] is False
    else:
        assert 2.0 < vi1["moved_after_s"] < 5.5
        # SIGKILL leaves the VIP on b1 (two holders); a powered-off b1 holds nothing.
        assert summary["failover"]["duplicate_detected"] is (method == "keepalived-kill")
    if method == "poweroff":
        # The client keeps sending to b1's MAC until b2's gratuitous ARP: a real outage.
        assert 2.0 < vi1["outage_s"] < 6.0
    assert vi1["preemption_s"] is not None
    # VIPs whose master stayed up were never disturbed.
    assert summary["vips"]["VI_2"]["failed"] == 0
    assert summary["vips"]["VI_3"]["failed"] == 0
    failed = [e for e in summary["expectations"] if not e["passed"]]
    assert summary["passed"], failed
