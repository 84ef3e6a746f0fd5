"""What a netns lab needs on the host: root (namespaces, veths, daemons as root), iproute2,
keepalived and nginx; and whether the host kernel has IPVS, which the lab uses when it does
and does without, saying so, when it does not (`judge_ipvs` is the pure half)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import LabctlError

PROGRAMS = {
    "ip": "apt-get install iproute2",
    "keepalived": "apt-get install keepalived",
    "nginx": "apt-get install nginx-light (or nginx)",
}
IPVS_TABLE = Path("/proc/net/ip_vs")  # there once the ip_vs module is loaded


def program(name: str) -> str | None:
    """NAME's path: on PATH, or in the sbin folders a sudo'd PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        if os.access(f"{folder}/{name}", os.X_OK):
            return f"{folder}/{name}"
    return None


def require_root(what: str) -> None:
    """Refuse WHAT on a netns lab unless labctl runs as root (namespaces need it)."""
    if os.geteuid() != 0:
        raise LabctlError(
            f"{what} of a netns lab needs root: its nodes are network namespaces",
            fix="run labctl with sudo",
        )


def check_prerequisites(isolation: str, euid: int | None = None) -> None:
    problem = missing_prerequisite(os.geteuid() if euid is None else euid, {p: program(p) for p in PROGRAMS})
    if problem is not None:
        raise LabctlError(problem[0], fix=problem[1])


def missing_prerequisite(euid: int, found: dict[str, str | None]) -> tuple[str, str] | None:
    """The first thing the host lacks for a netns lab, with its fix (None: nothing)."""
    if euid != 0:
        return (
            "a netns lab needs root: its nodes are network namespaces, their links veth pairs, "
            "keepalived and nginx run in them as root",
            "run labctl with sudo (e.g. `sudo labctl up`), or use a VM provider (`--provider libvirt`)",
        )
    for name, fix in PROGRAMS.items():
        if not found.get(name):
            return f"a netns lab runs the host's own {name}, which is not installed", fix
    return None


@dataclass(frozen=True)
class IpvsVerdict:
    available: bool
    why: str

    def words(self) -> str:
        """What `up` says about it."""
        if self.available:
            return f"IPVS: the host kernel has it ({self.why}); the balancers forward to the reals"
        return (
            f"IPVS is missing on this host ({self.why}): each VIP is answered by the nginx of the "
            "balancer namespace that holds it, not forwarded to the reals. VRRP, failover and the "
            "probes work; IPVS tables, direct routing and the traffic experiment do not"
        )


def judge_ipvs(table_before: bool, modprobe: tuple[int, str] | None, table_after: bool) -> IpvsVerdict:
    """IPVS or not, from /proc/net/ip_vs before, `modprobe ip_vs` (its status and stderr; None:
    no modprobe here, or not run since the table was there) and the table after it."""
    if table_before:
        return IpvsVerdict(True, "ip_vs is loaded")
    if modprobe is None:
        return IpvsVerdict(False, "ip_vs is not loaded and there is no modprobe to load it")
    rc, err = modprobe
    if rc == 0 and table_after:
        return IpvsVerdict(True, "ip_vs loaded by `modprobe ip_vs`")
    said = err.strip().splitlines()[-1] if err.strip() else f"status {rc}"
    return IpvsVerdict(False, f"`modprobe ip_vs` failed: {said}")


def probe_ipvs() -> IpvsVerdict:
    """Judge this host, loading ip_vs when it is there to load (a lab's namespaces need it)."""
    before = IPVS_TABLE.exists()
    modprobe = None
    if not before:
        found = program("modprobe")
        if found:
            proc = subprocess.run([found, "ip_vs"], capture_output=True, text=True)
            modprobe = (proc.returncode, proc.stderr)
    return judge_ipvs(before, modprobe, IPVS_TABLE.exists())
