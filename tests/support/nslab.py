"""A whole lab in network namespaces for the scenario integration tests (fixture `ns_lab`).

Three balancer namespaces run real keepalived with the lab's rendered keepalived.conf; each also
runs nginx answering with its own name, so the probe shows which balancer holds the VIP (the
host kernel has no IPVS to forward to the reals). Two real namespaces run nginx with the VIPs on
lo and the DR ARP sysctls. The client namespace runs the real probe script.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab.links.linkshaping import HostLink
from labctl.lab.links.packet_capture import CapturePoint
from labctl.lab.vms.render import BoxRef, RenderContext, node_files
from labctl.model import planner
from labctl.model.lab import Lab, NetworkSettings, Vip, reference_lab
from labctl.resources import provision_dir
from tests.support.nsaccess import NamespaceLab

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
        f'        location / {{ return 200 "{node}\\n"; }}\n    }}\n}}\n'
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


def planned_lab(vip_count: int, name: str = "nslab") -> Lab:
    """The reference lab with the planner's VIP matrix for VIP_COUNT VIPs (one failure
    tolerated): VI_i at 10.10.1.<10 i>, virtual_router_id 54 + i."""
    balancers = [b.name for b in reference_lab().balancers]
    matrix = planner.build_matrix(balancers, vip_count, 1)
    vips = tuple(
        Vip(f"VI_{order.index}", f"10.10.1.{10 * order.index}", 54 + order.index, dict(order.priorities))
        for order in matrix
    )
    return replace(reference_lab(name), vips=vips)


@pytest.fixture
def ns_lab(lab_segment, tmp_path: Path, request: pytest.FixtureRequest):
    """The reference lab in namespaces; parametrize indirectly with a Lab for another one."""
    keepalived, nginx = _program("keepalived"), _program("nginx")
    base = getattr(request, "param", None) or reference_lab("nslab")
    lab = replace(base, network=NetworkSettings(interface="eth0"))
    segment = lab_segment({n.name: f"{n.address}/24" for n in lab.nodes})
    # The client's bridge port hears everything the client does: VRRP and ARP are flooded to
    # it, and its own requests and their answers pass through it.
    ports = {n.name: f"v{index}" for index, n in enumerate(lab.nodes, start=1)}
    access = NamespaceLab(
        lab,
        {n.name: segment.ns(n.name) for n in lab.nodes},
        tmp_path,
        capture_at=CapturePoint(segment.bridge_ns, ports[lab.clients[0].name], "client's bridge port"),
        links={name: HostLink(segment.bridge_ns, port, f"{name}'s bridge port") for name, port in ports.items()},
    )
    notify = (provision_dir() / "balancer" / "labctl-vrrp-notify").read_text()
    try:
        for real in lab.reals:
            for vip in lab.vips:
                access.run(real.name, ["ip", "addr", "add", f"{vip.address}/32", "dev", "lo"])
            for key in ("all", "lo"):
                access.run(real.name, f"sysctl -qw net.ipv4.conf.{key}.arp_ignore=1 net.ipv4.conf.{key}.arp_announce=2")
        for node in [n.name for n in lab.balancers] + [n.name for n in lab.reals]:
            (tmp_path / f"tmp-{node}").mkdir()
            access.add_daemon(
                node, "nginx", [nginx, "-c", str(_nginx_conf(tmp_path, node))], [tmp_path / f"nginx-{node}.pid"]
            )
        for balancer in lab.balancers:
            access.put(balancer.name, NOTIFY, notify, mode=0o755)
            name = balancer.name
            pids = [tmp_path / f"{name}-{kind}.pid" for kind in ("keepalived", "vrrp")]
            access.add_daemon(
                name,
                "keepalived",
                [
                    keepalived,
                    "--dont-fork",
                    "--log-console",
                    "--no-syslog",
                    "--vrrp",
                    "-f",
                    str(_keepalived_conf(lab, tmp_path, name)),
                    "-p",
                    str(pids[0]),
                    "-r",
                    str(pids[1]),
                ],
                pids,
            )
        yield access
    finally:
        access.close()
