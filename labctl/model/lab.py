"""The lab: a validated model of the nodes, VIPs, VRRP and IPVS settings of one lab file.

Defaults are the reference lab of homework 3.8 (../shared/reference): balancers b1..b3, reals
r1/r2 at 10.10.1.11/.12, VIPs 10.10.1.10/.20/.30 in VRRP instances VI_1..VI_3 (VRIDs 55..57) with
the reference's priorities, ties included, IPVS rr in direct routing on port 80.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field

ROLES = ("balancer", "real", "client")
# The lab file's `provider.name`: each is a folder under labctl/lab/providers/. The Vagrant ones
# make VMs (a Vagrantfile, SSH); netns makes each node a network namespace of this host.
VAGRANT_PROVIDERS = ("virtualbox", "libvirt")
PROVIDERS = (*VAGRANT_PROVIDERS, "netns")
# auto: `labctl up` picks kvm when a test guest runs under it on that host, else qemu (TCG).
LIBVIRT_DRIVERS = ("auto", "kvm", "qemu")
IPVS_MANAGERS = ("ipvsadm", "keepalived")
ISOLATIONS = ("none", "netns")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")
LOCAL_BOX = "local"
# keepalived uses at most 8 characters of a PASS password (VRRPv2).
AUTH_PASS_MAX = 8


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    address: str


@dataclass(frozen=True)
class Vip:
    """One VRRP instance carrying one virtual address, with the priority of each balancer it is
    configured on (a subset is allowed: the others never hold it)."""

    name: str
    address: str
    vrid: int
    priorities: dict[str, int]

    @property
    def master(self) -> str:
        """The balancer that holds this VIP when all are up (highest priority; VRRP breaks a
        tie by the higher primary address, which the caller resolves with `order`)."""
        return max(self.priorities, key=lambda name: self.priorities[name])

    def __hash__(self) -> int:
        return hash((self.name, self.address, self.vrid))


@dataclass(frozen=True)
class LibvirtSettings:
    driver: str = "auto"
    # qemu TCG translation cache in MiB; libvirt's default (1 GiB) costs ~1.5 GB per VM.
    tb_size: int = 128
    direct_kernel_boot: bool = False
    # no_timer_check: under a loaded host, emulated VMs can miss the kernel's early timer check
    # and panic ("IO-APIC + timer doesn't work"); the check proves nothing under emulation.
    # mitigations=off: the guests' own Spectre defences (retpolines, barriers) cost emulated
    # CPU and guard nothing in a lab. systemd.mask=...: no systemd-logind and D-Bus, which a
    # lab node does not use (labctl powers nodes off over SSH, not with ACPI's power button).
    # Measured (bench/floor.py, six VMs, 2 cores): 96.0 s to SSH-ready without the two,
    # 89.9 s with mitigations=off, 81.8 s with the masks.
    cmd_line: str = (
        "root=/dev/vda rw console=ttyS0 net.ifnames=0 no_timer_check quiet mitigations=off"
        " systemd.mask=systemd-logind.service systemd.mask=dbus.service systemd.mask=dbus.socket"
    )


@dataclass(frozen=True)
class ProviderSettings:
    name: str = "virtualbox"
    box: str = "debian/bookworm64"
    memory: int = 256
    cpus: int = 1
    libvirt: LibvirtSettings = field(default_factory=LibvirtSettings)

    @property
    def uses_vagrant(self) -> bool:
        """Whether the nodes are Vagrant machines (a Vagrantfile, a box, SSH): not netns."""
        return self.name in VAGRANT_PROVIDERS


@dataclass(frozen=True)
class NetworkSettings:
    cidr: str = "10.10.1.0/24"
    interface: str = "eth1"


@dataclass(frozen=True)
class VrrpSettings:
    advert_int: int = 1
    auth_type: str = "PASS"
    # None: generated per lab and kept in the lab's state (mode 0600), never in the lab file.
    auth_pass: str | None = None


@dataclass(frozen=True)
class Timeouts:
    tcp: int = 900
    tcpfin: int = 120
    udp: int = 300


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/"
    status_code: int = 200
    delay_loop: int = 2
    connect_timeout: int = 1
    retry: int = 1


@dataclass(frozen=True)
class IpvsSettings:
    manager: str = "ipvsadm"
    scheduler: str = "rr"
    port: int = 80
    weight: int = 1
    timeouts: Timeouts = field(default_factory=Timeouts)
    health_check: HealthCheck = field(default_factory=HealthCheck)


@dataclass(frozen=True)
class Lab:
    name: str
    provider: ProviderSettings
    network: NetworkSettings
    nodes: tuple[Node, ...]
    vips: tuple[Vip, ...]
    vrrp: VrrpSettings
    ipvs: IpvsSettings
    isolation: str = "none"
    # `labctl up` saves a whole-lab snapshot named `ready` after its first successful checks
    # (what `snapshot restore ready` and `scenario run --reset ready` go back to).
    ready_snapshot: bool = True
    # `labctl import`: per balancer, the submission's keepalived.conf blocks that this model
    # cannot express, appended to that balancer's keepalived.conf as written.
    keepalived_extra: dict[str, str] = field(default_factory=dict)

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    @property
    def balancers(self) -> list[Node]:
        return self.by_role("balancer")

    @property
    def reals(self) -> list[Node]:
        return self.by_role("real")

    @property
    def clients(self) -> list[Node]:
        return self.by_role("client")

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def vip(self, name: str) -> Vip:
        for vip in self.vips:
            if vip.name == name:
                return vip
        raise KeyError(name)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.network.cidr).prefixlen

    def backup_order(self, vip: Vip) -> list[str]:
        """Balancers in the order VRRP would elect them for VIP: priority, then the higher
        primary address. Between tied backups that is only the likelier winner: the first
        master-down timer to fire wins, the address only settles simultaneous claims."""
        return sorted(
            vip.priorities,
            key=lambda n: (vip.priorities[n], ipaddress.ip_address(self.node(n).address)),
            reverse=True,
        )

    def priority_ties(self, vip: Vip) -> list[tuple[int, list[str]]]:
        """VIP's balancers that share a priority, highest first: (priority, names in
        backup_order, so the first is the likelier winner of a simultaneous claim)."""
        order = self.backup_order(vip)
        shared = sorted((p for p, n in Counter(vip.priorities.values()).items() if n > 1), reverse=True)
        return [(p, [n for n in order if vip.priorities[n] == p]) for p in shared]

    def tied_for_master(self, vip: Vip, alive: set[str]) -> list[str]:
        """The ALIVE balancers with VIP's highest priority among them: any of them may end up
        holding it (more than one is a tie: the first master-down timer to fire wins)."""
        priorities = {name: p for name, p in vip.priorities.items() if name in alive}
        top = max(priorities.values(), default=None)
        return sorted(name for name, p in priorities.items() if p == top)

    def elected_master(self, vip: Vip, alive: set[str] | None = None) -> str | None:
        """Who holds VIP when only ALIVE balancers run (all when None)."""
        for name in self.backup_order(vip):
            if alive is None or name in alive:
                return name
        return None

    def initial_state(self, vip: Vip, balancer: str) -> str:
        """keepalived `state` for BALANCER in VIP: MASTER for the elected master, as in the
        reference files."""
        return "MASTER" if self.elected_master(vip) == balancer else "BACKUP"


def reference_nodes() -> tuple[Node, ...]:
    return (
        Node("b1", "balancer", "10.10.1.2"),
        Node("b2", "balancer", "10.10.1.3"),
        Node("b3", "balancer", "10.10.1.4"),
        Node("r1", "real", "10.10.1.11"),
        Node("r2", "real", "10.10.1.12"),
        Node("c1", "client", "10.10.1.100"),
    )


def reference_vips() -> tuple[Vip, ...]:
    # As written in the reference's three keepalived.conf files, ties included.
    return (
        Vip("VI_1", "10.10.1.10", 55, {"b1": 102, "b2": 101, "b3": 100}),
        Vip("VI_2", "10.10.1.20", 56, {"b1": 101, "b2": 102, "b3": 101}),
        Vip("VI_3", "10.10.1.30", 57, {"b1": 100, "b2": 100, "b3": 102}),
    )


def reference_lab(name: str = "lab") -> Lab:
    return Lab(
        name=name,
        provider=ProviderSettings(),
        network=NetworkSettings(),
        nodes=reference_nodes(),
        vips=reference_vips(),
        vrrp=VrrpSettings(),
        ipvs=IpvsSettings(),
    )
