"""A netns lab on this host: its namespaces, its network, its daemons, from `up` to `destroy`.

Layout (the lab's state folder, `.labctl/<lab>/netns/`): `layout.json` (namespaces, bridge
ports, whether the host had IPVS), `nodes/<node>/` (the node's files as labctl renders them,
its configurations, its daemons' records and logs, and `run/`, which the node sees as
/run/labctl). A later labctl reads the layout, so `status`, `exec`, `scenario run`, `down` and
`destroy` find the lab whatever process brought it up.

The lab network is the bridge br0 of the lab's lan namespace, which has the network's first
address (the host side, as libvirt's bridge for a VM lab); each node's lab interface is a veth
whose peer is a port of br0. Nothing is ever added to the host's own namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.lab.host import netns
from labctl.lab.host.processes import ProcessRecord, process_alive, terminate
from labctl.lab.host.state import LabState
from labctl.lab.links.linkshaping import HostLink
from labctl.lab.links.packet_capture import CapturePoint
from labctl.lab.nodes import hosthttp, verify
from labctl.lab.nodes.provision import NodeReport
from labctl.lab.nodes.snapshot import read_node_state
from labctl.lab.nodes.ssh import CommandFailed, CommandResult, ShellResult
from labctl.lab.providers.netns import naming, plan
from labctl.lab.providers.netns.access import RUN_DIR, NetnsLab
from labctl.lab.providers.netns.daemons import DaemonStore, digest_of
from labctl.lab.providers.netns.prerequisites import IpvsVerdict, probe_ipvs, program, require_root
from labctl.lab.vms.render import RenderedFile
from labctl.model.lab import Lab
from labctl.observe.snapshot import NodeSnapshot

LAYOUT = "layout.json"
NOTIFY = f"{RUN_DIR}/bin/labctl-vrrp-notify"


class NamespaceShell:
    """A NodeShell over a netns node: commands through its NetnsLab."""

    def __init__(self, access: NetnsLab, node: str) -> None:
        self.access = access
        self.node = node

    def run(
        self,
        argv: list[str] | str,
        sudo: bool = False,
        timeout: float = 600.0,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        result = self.access.run(self.node, argv, timeout=timeout, stdin=stdin)
        if check and not result.ok:
            raise CommandFailed(result)
        return result


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabctlError(f"ip {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc


def _has_link(namespace: str, name: str) -> bool:
    return subprocess.run(["ip", "-n", namespace, "link", "show", name], capture_output=True).returncode == 0


def _link_up(namespace: str, name: str) -> bool:
    proc = subprocess.run(["ip", "-n", namespace, "-o", "link", "show", name], capture_output=True, text=True)
    return proc.returncode == 0 and "state DOWN" not in proc.stdout and ",UP" in proc.stdout


class NetnsHost:
    """The lab LAB_NAME's namespaces and daemons, recorded in STATE."""

    def __init__(self, state: LabState, lab_name: str) -> None:
        self.state = state
        self.name = lab_name
        self.folder = state.root / "netns"
        self.daemons = DaemonStore(self.folder / "nodes")

    # -- the layout -----------------------------------------------------------------------

    def layout(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.folder / LAYOUT).read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise LabctlError(
                f"{self.folder / LAYOUT} is damaged ({exc})", fix="labctl destroy, then labctl up"
            ) from exc
        return data

    def brought_up(self) -> bool:
        return (self.folder / LAYOUT).exists()

    def _save_layout(self, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{LAYOUT}.{os.getpid()}"
        partial.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(partial, self.folder / LAYOUT)

    def _require_layout(self) -> dict[str, Any]:
        data = self.layout()
        if data is None:
            raise LabctlError(f"lab {self.name} is not up", fix="labctl up")
        return data

    def access(self, lab: Lab) -> NetnsLab:
        """The running lab as a LabAccess (what `scenario run` drives)."""
        require_root("reaching the nodes")
        data = self._require_layout()
        nodes: dict[str, dict[str, str]] = data["nodes"]
        lan = str(data["lan"])
        links = {
            node: HostLink(lan, entry["port"], f"{entry['port']}: {node}'s port on the lab bridge (namespace {lan})")
            for node, entry in nodes.items()
        }
        return NetnsLab(
            lab,
            {node: entry["namespace"] for node, entry in nodes.items()},
            self.folder,
            lan,
            self.state.journal,
            self.state.folder,
            interface=str(data["interface"]),
            capture_at=CapturePoint(lan, naming.BRIDGE, f"bridge {naming.BRIDGE} of the lab network (namespace {lan})"),
            links=links,
        )

    def shells(self, lab: Lab, nodes: list[str]) -> dict[str, ShellResult]:
        access = self.access(lab)
        return {n: ShellResult(n, NamespaceShell(access, n)) for n in nodes}

    def ipvs(self) -> IpvsVerdict:
        data = self._require_layout()
        return IpvsVerdict(bool(data["ipvs"]), str(data["ipvs_why"]))

    # -- up -------------------------------------------------------------------------------

    def up(
        self, lab: Lab, files: dict[str, list[RenderedFile]], say: Callable[[str], None]
    ) -> tuple[dict[str, NodeReport], dict[str, str]]:
        """Every node's namespace, link, addresses and daemons as LAB says (idempotent: what
        already is as planned is left). FILES: each node's rendered files."""
        verdict = probe_ipvs()
        say(verdict.words())
        lan = naming.lan_namespace(lab.name)
        network = ipaddress.ip_network(lab.network.cidr)
        host_side = f"{next(network.hosts())}/{network.prefixlen}"
        layout: dict[str, Any] = {
            "lab": lab.name,
            "lan": lan,
            "bridge": naming.BRIDGE,
            "interface": lab.network.interface,
            "host_address": host_side,
            "ipvs": verdict.available,
            "ipvs_why": verdict.why,
            "nodes": {
                node.name: {
                    "namespace": naming.node_namespace(lab.name, node.name),
                    "port": naming.port_name(index, node.name),
                    "role": node.role,
                }
                for index, node in enumerate(lab.nodes, start=1)
            },
        }
        # Recorded first: a `destroy` after a half-done `up` finds every namespace it made.
        self._save_layout(layout)
        reports: dict[str, NodeReport] = {}
        failures: dict[str, str] = {}
        if not netns.exists(lan):
            say(f"lab network: bridge {naming.BRIDGE} in namespace {lan}, host side {host_side}")
        netns.create(lan)
        if not _has_link(lan, naming.BRIDGE):
            _ip("-n", lan, "link", "add", naming.BRIDGE, "type", "bridge")
        _ip("-n", lan, "addr", "replace", host_side, "dev", naming.BRIDGE)
        _ip("-n", lan, "link", "set", naming.BRIDGE, "up")
        access = self.access(lab)
        for node in lab.nodes:
            started = time.monotonic()
            report = NodeReport(node.name)
            try:
                report.changes += self._node_link(lab, node.name, layout["nodes"][node.name], lan)
                report.changes += self._node_config(lab, access, node.name, files[node.name], verdict.available)
            except (LabctlError, OSError, subprocess.SubprocessError, KeyError) as exc:
                failures[node.name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                continue
            report.seconds = time.monotonic() - started
            reports[node.name] = report
        return reports, failures

    def _node_link(self, lab: Lab, node: str, entry: dict[str, str], lan: str) -> list[str]:
        changes = []
        namespace, port, iface = entry["namespace"], entry["port"], lab.network.interface
        if not netns.exists(namespace):
            changes.append(f"namespace {namespace}")
        netns.create(namespace)
        if not _has_link(namespace, iface):
            if _has_link(lan, port):
                _ip("-n", lan, "link", "delete", port)  # a port whose other end is gone
            _ip("-n", lan, "link", "add", port, "type", "veth", "peer", "name", iface, "netns", namespace)
            changes.append(f"{iface} linked to the lab bridge ({port})")
        _ip("-n", lan, "link", "set", port, "master", naming.BRIDGE, "up")
        address = f"{lab.node(node).address}/{lab.prefixlen}"
        shown = _ip("-n", namespace, "-o", "-4", "addr", "show", "dev", iface).stdout
        if f" {address} " not in shown:
            _ip("-n", namespace, "addr", "replace", address, "dev", iface)
            changes.append(f"{address} on {iface}")
        if not _link_up(namespace, iface):
            _ip("-n", namespace, "link", "set", iface, "up")
            changes.append(f"{iface} up")
        return changes

    def _node_config(self, lab: Lab, access: NetnsLab, node: str, files: list[RenderedFile], ipvs: bool) -> list[str]:
        role = lab.node(node).role
        node_dir = self.folder / "nodes" / node
        rendered = {f.path: f for f in files}
        etc = node_dir / "files"  # as a VM's /etc/labctl: what labctl rendered for it
        etc.mkdir(parents=True, exist_ok=True)
        for item in files:
            (etc / item.path).write_text(item.content)
            os.chmod(etc / item.path, item.mode)
        changes: list[str] = []
        if role == "real":
            for vip in lab.vips:
                shown = access.run(node, ["ip", "-o", "-4", "addr", "show", "dev", "lo"]).stdout
                if f" {vip.address}/32 " not in shown:
                    _ip("-n", access.namespaces[node], "addr", "replace", f"{vip.address}/32", "dev", "lo")
                    changes.append(f"VIP {vip.address} on lo")
            sysctls = access.run(node, ["sysctl", "-q", "-p", str(etc / "99-labctl-dr.conf")])
            if not sysctls.ok:
                raise LabctlError(f"{node}: DR sysctls: {sysctls.stderr.strip()}")
            www = node_dir / "www"
            www.mkdir(exist_ok=True)
            (www / "index.html").write_text(rendered["index.html"].content)
            changes += self._nginx(access, node, rendered["nginx-site.conf"].content)
        elif role == "balancer":
            notify = access.run_dir(node) / "bin" / "labctl-vrrp-notify"
            notify.parent.mkdir(parents=True, exist_ok=True)
            notify.write_text(rendered["labctl-vrrp-notify"].content)
            os.chmod(notify, 0o755)
            if ipvs and lab.ipvs.manager == "ipvsadm":
                changes += self._ipvsadm(lab, access, node, etc / "ipvsadm.rules")
            conf = node_dir / "keepalived.conf"
            text = plan.keepalived_conf(rendered["keepalived.conf"].content, NOTIFY)
            conf.write_text(text)
            os.chmod(conf, 0o600)
            keepalived = program("keepalived") or "keepalived"
            argv = plan.keepalived_argv(keepalived, str(conf), str(node_dir), ipvs)
            changes += self._daemon(access, node, "keepalived", argv, plan.keepalived_pid_files(str(node_dir)), text)
            if not ipvs:
                changes += self._nginx(access, node, plan.balancer_site(node, lab.ipvs.port))
        return changes

    def _nginx(self, access: NetnsLab, node: str, site: str) -> list[str]:
        node_dir = self.folder / "nodes" / node
        conf = node_dir / "nginx.conf"
        text = plan.nginx_main(site, str(node_dir))
        conf.write_text(text)
        for part in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (node_dir / "nginx-temp" / part).mkdir(parents=True, exist_ok=True)
        nginx = program("nginx") or "nginx"
        return self._daemon(access, node, "nginx", [nginx, "-c", str(conf)], [str(node_dir / "nginx.pid")], text)

    def _daemon(
        self, access: NetnsLab, node: str, name: str, argv: list[str], stale: list[str], config: str
    ) -> list[str]:
        digest = digest_of(config, *argv)
        known = self.daemons.get(node, name)
        if known is not None and known.running and known.digest == digest and known.argv == argv:
            return []
        restarted = known is not None and known.running
        access.add_daemon(node, name, argv, [Path(s) for s in stale], digest)
        return [f"{name} {'restarted' if restarted else 'started'}"]

    def _ipvsadm(self, lab: Lab, access: NetnsLab, node: str, rules: Path) -> list[str]:
        saved = access.run(node, ["ipvsadm", "-Sn"])
        if sorted(saved.stdout.splitlines()) == sorted(rules.read_text().splitlines()):
            return []
        t = lab.ipvs.timeouts
        done = access.run(node, f"ipvsadm -C && ipvsadm -R < {rules} && ipvsadm --set {t.tcp} {t.tcpfin} {t.udp}")
        if not done.ok:
            raise LabctlError(f"{node}: ipvsadm: {done.stderr.strip()}")
        return ["IPVS rules"]

    # -- checks ---------------------------------------------------------------------------

    def checks(self, lab: Lab) -> list[verify.Check]:
        """`up`'s checks: every node as planned, each VIP held by its planned master alone, the
        IPVS tables (when the host has IPVS) and HTTP through every VIP from the host side."""
        ipvs = self.ipvs()
        views: dict[str, NodeSnapshot] = {}
        for node, opened in self.shells(lab, [n.name for n in lab.nodes]).items():
            views[node] = read_node_state(opened.get())
        balancers = {b.name: views[b.name] for b in lab.balancers}
        checks = verify.evaluate_nodes(lab, views) + verify.evaluate_vips(lab, balancers)
        if ipvs.available:
            checks += verify.evaluate_ipvs(lab, balancers)
        if not all(c.ok for c in checks):
            return checks
        lan = str(self._require_layout()["lan"])
        rows = hosthttp.http_rows(lan, [v.address for v in lab.vips], lab.ipvs.port, 6)
        if ipvs.available:
            return checks + verify.evaluate_http(lab, "host", rows)
        vips = [v.address for v in lab.vips]
        holders = {v: sorted(n for n, view in balancers.items() if v in view.held(vips)) for v in vips}
        return checks + plan.evaluate_http_without_ipvs(lab, rows, holders)

    # -- states, down, destroy ------------------------------------------------------------

    def node_states(self) -> dict[str, str]:
        """Node -> running (its link up), shutoff (down, or powered off) or not_created."""
        require_root("reading the nodes' states")
        data = self.layout()
        if data is None:
            return {}
        states = {}
        for node, entry in data["nodes"].items():
            namespace = entry["namespace"]
            if not netns.exists(namespace):
                states[node] = "not_created"
            else:
                states[node] = "running" if _link_up(namespace, str(data["interface"])) else "shutoff"
        return states

    def halt(self, nodes: list[str] | None) -> None:
        """`down`: NODES' daemons stopped (SIGTERM: keepalived says goodbye), their links down;
        the namespaces stay, `up` starts them again."""
        require_root("stopping the nodes")
        data = self.layout()
        if data is None:
            return
        for node, entry in data["nodes"].items():
            if nodes is not None and node not in nodes:
                continue
            self.daemons.stop_all(node)
            if netns.exists(entry["namespace"]) and _has_link(entry["namespace"], str(data["interface"])):
                _ip("-n", entry["namespace"], "link", "set", str(data["interface"]), "down")

    def destroy(self) -> list[str]:
        """Every daemon stopped, every namespace of the lab removed. What the lab left running
        inside its own namespaces (a command of `labctl exec` still running, say) is stopped
        too: nothing else can be in them."""
        require_root("destroying the namespaces")
        removed = []
        data = self.layout() or {"nodes": {}, "lan": naming.lan_namespace(self.name)}
        stopped = []
        for node in sorted(set(data["nodes"]) | set(self._recorded_nodes())):
            stopped += [f"{node}/{name}" for name in self.daemons.stop_all(node)]
        if stopped:
            removed.append("daemons " + ", ".join(stopped))
        namespaces = [e["namespace"] for e in data["nodes"].values()] + [str(data["lan"])]
        namespaces += naming.lab_namespaces(self.name, netns.list_namespaces())
        namespaces = [n for n in dict.fromkeys(namespaces) if netns.exists(n)]
        left = [r for r in (ProcessRecord.of(p) for n in namespaces for p in netns.pids_in(n)) if r is not None]
        if left:
            terminate([r for r in left if process_alive(r.pid)], grace=5.0)
            removed.append(f"{len(left)} other process(es) inside the lab's namespaces")
        for namespace in namespaces:
            netns.delete(namespace)
        if namespaces:
            removed.append("namespaces " + ", ".join(namespaces))
        return removed

    def _recorded_nodes(self) -> list[str]:
        folder = self.folder / "nodes"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def power_off(self, lab: Lab | None, node: str) -> None:
        self._access_for(lab).power_off(node)

    def power_on(self, lab: Lab | None, node: str) -> None:
        self._access_for(lab).power_on(node)

    def _access_for(self, lab: Lab | None) -> NetnsLab:
        if lab is None:
            raise LabctlError(f"lab {self.name}: its lab file is needed to power a node off or on")
        return self.access(lab)
