"""Rendering: the Vagrantfile and every node's files, from templates, deterministically.

The same lab (and the same generated password) always gives byte-identical files, so a user can
read exactly what `labctl up` will install, and a second `up` can tell that nothing changed.
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from labctl.model.lab import Lab, Node
from labctl.resources import provision_dir
from labctl.templating import render

# Files each role gets, as (template or plain file under provision/, name on the node).
ROLE_FILES: dict[str, list[str]] = {
    "balancer": [
        "provision.sh.j2",
        "keepalived.conf.j2",
        "ipvsadm.rules.j2",
        "ipvsadm.default.j2",
        "labctl-vrrp-notify",
        "modules-ip_vs.conf",
    ],
    "real": [
        "provision.sh.j2",
        "99-labctl-dr.conf.j2",
        "labctl-vips.service.j2",
        "index.html.j2",
        "nginx-site.conf.j2",
    ],
    "client": ["provision.sh.j2"],
}
EXECUTABLES = {"provision.sh", "labctl-vrrp-notify"}


@dataclass(frozen=True)
class BoxRef:
    """The box the Vagrantfile names, and where its kernel is for direct kernel boot."""

    name: str
    kernel: str = ""
    initrd: str = ""
    insecure_key: bool = False


@dataclass(frozen=True)
class LibvirtRuntime:
    """Settings that depend on where the lab runs (a sandbox's private libvirtd), not on the file."""

    uri: str = ""
    emulator_path: str = ""
    management_network_name: str = ""
    management_network_address: str = ""
    management_network_mode: str = ""
    storage_pool_name: str = ""


@dataclass(frozen=True)
class RenderContext:
    box: BoxRef
    libvirt: LibvirtRuntime = field(default_factory=LibvirtRuntime)
    auth_pass: str = ""
    # Benchmarks only: the homework's way, Vagrant's shell provisioner doing the same work.
    shell_provisioning: bool = False


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the output folder
    content: str
    mode: int = 0o644


def vagrantfile(lab: Lab, ctx: RenderContext) -> str:
    netmask = str(ipaddress.ip_network(lab.network.cidr).netmask)
    return render(
        "Vagrantfile.j2",
        lab=lab,
        box=ctx.box,
        libvirt=ctx.libvirt,
        netmask=netmask,
        shell_provisioning=ctx.shell_provisioning,
    )


def node_files(lab: Lab, node: Node, ctx: RenderContext) -> list[RenderedFile]:
    """The files that go to NODE's /etc/labctl, provision.sh first."""
    files = []
    for source in ROLE_FILES[node.role]:
        if node.role == "balancer" and source == "ipvsadm.rules.j2" and lab.ipvs.manager != "ipvsadm":
            continue
        name = source.removesuffix(".j2")
        template = f"provision/{node.role}/{source}"
        if source.endswith(".j2"):
            content = render(template, lab=lab, node=node, auth_pass=ctx.auth_pass)
        else:
            content = (provision_dir() / node.role / source).read_text()
        mode = 0o755 if name in EXECUTABLES else 0o600 if name == "keepalived.conf" else 0o644
        files.append(RenderedFile(name, content, mode))
    return files


def render_lab(lab: Lab, ctx: RenderContext) -> list[RenderedFile]:
    files = [RenderedFile("Vagrantfile", vagrantfile(lab, ctx))]
    for node in lab.nodes:
        files.extend(RenderedFile(f"nodes/{node.name}/{f.path}", f.content, f.mode) for f in node_files(lab, node, ctx))
    return files


def write_rendered(files: list[RenderedFile], out: Path) -> list[Path]:
    """Write FILES under OUT, replacing its nodes/ folder so no stale node lingers."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "nodes").is_dir():
        shutil.rmtree(out / "nodes")
    written = []
    for item in files:
        target = out / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.content)
        target.chmod(item.mode)
        written.append(target)
    return written
