"""Rendering: the Vagrantfile and every node's files, from templates, deterministically.

The same lab (and the same generated password) always gives byte-identical files, so a user can
read exactly what `labctl up` will install, and a second `up` can tell that nothing changed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from labctl.lab.host import safefiles
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
        "labctl-ipvs-rules.service",
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
# Files every node gets, from provision/common/.
# labctl-snapshot.sh is there so that provisioning's round trip can end with a snapshot.
COMMON_FILES = ["lab-link.network.j2", "labctl-snapshot.sh"]
EXECUTABLES = {"provision.sh", "labctl-vrrp-notify", "labctl-snapshot.sh"}


@dataclass(frozen=True)
class BoxRef:
    """The box the Vagrantfile names, and where its kernel is for direct kernel boot."""

    name: str
    kernel: str = ""
    initrd: str = ""
    insecure_key: bool = False
    # labctl's own box: provisioning configures the lab interface, so Vagrant need not (its
    # network configuration restarts networking on every VM, seconds each under emulation).
    local: bool = False
    # labctl's box only: the lab's login key (private key file, public blob for the kernel
    # command line); empty when the box is somebody else's.
    login_key_path: str = ""
    login_key_cmdline: str = ""


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
    for source in ROLE_FILES[node.role] + COMMON_FILES:
        if node.role == "balancer" and source == "ipvsadm.rules.j2" and lab.ipvs.manager != "ipvsadm":
            continue
        name = source.removesuffix(".j2")
        folder = "common" if source in COMMON_FILES else node.role
        template = f"provision/{folder}/{source}"
        if source.endswith(".j2"):
            content = render(template, lab=lab, node=node, auth_pass=ctx.auth_pass)
        else:
            content = (provision_dir() / folder / source).read_text()
        mode = 0o755 if name in EXECUTABLES else 0o600 if name == "keepalived.conf" else 0o644
        files.append(RenderedFile(name, content, mode))
    return files


def keepalived_conf(lab: Lab, node: Node, auth_pass: str) -> str:
    """NODE's keepalived.conf alone, as node_files renders it (what `labctl import` checks)."""
    return render("provision/balancer/keepalived.conf.j2", lab=lab, node=node, auth_pass=auth_pass)


def render_lab(lab: Lab, ctx: RenderContext) -> list[RenderedFile]:
    if lab.provider.name == "libvirt" and lab.provider.libvirt.driver not in ("kvm", "qemu"):
        # Vagrant knows kvm and qemu only: `auto` is settled on the host (labctl.lab.providers.libvirt.driver).
        raise ValueError(f"libvirt driver {lab.provider.libvirt.driver!r} not settled before rendering")
    # A provider without VMs (netns) needs no Vagrantfile; its nodes' files are the same.
    files = [RenderedFile("Vagrantfile", vagrantfile(lab, ctx))] if lab.provider.uses_vagrant else []
    for node in lab.nodes:
        files.extend(RenderedFile(f"nodes/{node.name}/{f.path}", f.content, f.mode) for f in node_files(lab, node, ctx))
    return files


# What the last render wrote, one relative path a line: the next render removes those it no
# longer writes, and never anything else in the folder (it may be a folder of the user's own).
MANIFEST = ".labctl-rendered"


def write_rendered(files: list[RenderedFile], out: Path, base: Path | None = None) -> list[Path]:
    """Write FILES under OUT (folders below BASE checked, no link followed: see safefiles) and
    remove the files an earlier render wrote there that are no longer part of the lab.
    Folders made here are 0700: keepalived.conf holds the VRRP password."""
    out = Path(os.path.abspath(out))
    base = Path(os.path.abspath(base)) if base is not None else out.parent
    with safefiles.open_dir(out, base) as out_fd:
        try:
            previous = set(_read_manifest(out_fd))
        except FileNotFoundError:
            previous = set()
    written = []
    for item in files:
        target = out / item.path
        safefiles.write_file(target, item.content, item.mode, base=base)
        written.append(target)
    wanted = {item.path for item in files}
    for stale in sorted(previous - wanted):
        _remove_stale(out, stale, base)
    with safefiles.open_dir(out, base) as out_fd:
        safefiles.write_at(out_fd, MANIFEST, "".join(f"{p}\n" for p in sorted(wanted)), 0o600)
    return written


def _read_manifest(out_fd: int) -> list[str]:
    fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=out_fd)
    with os.fdopen(fd, encoding="utf-8") as handle:
        names = [line.strip() for line in handle]
    # Only plain relative paths inside the folder: a hand-edited manifest removes nothing else.
    return [n for n in names if n and not n.startswith("/") and ".." not in Path(n).parts]


def _remove_stale(out: Path, relative: str, base: Path) -> None:
    """Remove a file the previous render wrote, then its folders inside OUT once empty."""
    path = out / relative
    try:
        with safefiles.open_dir(path.parent, base, create=False) as dir_fd:
            safefiles.remove_at(dir_fd, path.name)
    except FileNotFoundError:
        return
    folder = path.parent
    while folder != out:
        try:
            with safefiles.open_dir(folder.parent, base, create=False) as parent_fd:
                os.rmdir(folder.name, dir_fd=parent_fd)
        except OSError:
            return  # not empty (the user's files, or other nodes'), or gone
        folder = folder.parent
