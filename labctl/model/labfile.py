"""Reading and validating a lab file: every problem is reported as `FILE:LINE: key.path: reason`."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from labctl.model import lab as model
from labctl.model.positions import Located, Path_, YamlSyntaxError, load
from labctl.model.problems import Problem, ProblemList, ProblemsError

# Every string of the lab file reaches a rendered file (Ruby, shell, keepalived.conf, nginx) or a
# command line, so each is matched in full (re.fullmatch: no trailing newline slips through) against
# a pattern without quotes, spaces (but cmd_line's single ones), '$', '#', '\\', braces or controls.
NODE_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]|[a-z]")
LAB_NAME = re.compile(r"[a-z][a-z0-9-]{0,20}")
VRRP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}")
IFACE_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,14}")
BOX_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")
URL_PATH = re.compile(r"/[A-Za-z0-9_./-]{0,255}")
# Kernel parameters: key or key=value words, one space apart (root=/dev/vda rw console=ttyS0).
KERNEL_CMD_LINE = re.compile(r"[A-Za-z0-9_.,:=/+-]{1,128}( [A-Za-z0-9_.,:=/+-]{1,128}){0,31}")
# A VRRP PASS password: one plain keepalived token (no spaces, quotes, '\\', '#', '!', '$', '~',
# braces or shell metacharacters). AUTH_PASS is what keepalived uses (and labctl generates);
# the lab file also takes a longer one as written (an imported submission's), since keepalived
# itself only cuts it to the first 8.
AUTH_PASS = re.compile(r"[A-Za-z0-9_.,:/@%+=-]{1,8}")
AUTH_PASS_WRITTEN = re.compile(r"[A-Za-z0-9_.,:/@%+=-]{1,64}")
RESERVED_LAB_NAMES = {"render"}


def shown(value: Any, limit: int = 40) -> str:
    """VALUE for a message: its repr, shortened (a hostile value may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class LabFileError(ProblemsError):
    """The lab file is missing, unreadable or invalid; `problems` lists the first issues, `more`
    counts the rest."""


@dataclass
class _Reader:
    """Walks the plain data, collecting problems with their lines instead of stopping."""

    located: Located
    file: str
    problems: ProblemList = field(init=False)

    def __post_init__(self) -> None:
        self.problems = ProblemList(self.file)

    def problem(self, path: Path_, message: str | Callable[[], str]) -> None:
        """Note a problem at PATH; a MESSAGE that costs to word is a function, called only when
        the problem is listed."""

        def make() -> Problem:
            dotted = ".".join(_path_part(p) for p in path)
            text = message if isinstance(message, str) else message()
            return Problem(self.file, self.located.line_of(path), dotted, text)

        self.problems.add(make)

    def mapping(self, value: Any, path: Path_, allowed: list[str]) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping of {', '.join(allowed)}")
            return {}
        for key in value:
            if key not in allowed:
                self.problem((*path, key), partial(_unknown_key, key, allowed))
        return value

    def integer(self, value: Any, path: Path_, default: int, low: int, high: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"must be a whole number from {low} to {high}, got {shown(value)}")
            return default
        if not low <= value <= high:
            self.problem(path, f"{value} is out of range: use {low} to {high}")
            return default
        return value

    def choice(self, value: Any, path: Path_, default: str, options: tuple[str, ...]) -> str:
        if value is None:
            return default
        if value not in options:
            self.problem(path, f"{shown(value)} is not one of {', '.join(options)}")
            return default
        return str(value)

    def text(
        self, value: Any, path: Path_, default: str, pattern: re.Pattern[str] | None = None, rule: str = ""
    ) -> str:
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            self.problem(path, f"must be a non-empty string, got {shown(value)}")
            return default
        if pattern and not pattern.fullmatch(value):
            self.problem(path, f"{shown(value)} is not allowed: {rule}")
            return default
        return value

    def boolean(self, value: Any, path: Path_, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, got {shown(value)}")
            return default
        return value


def _unknown_key(key: Any, allowed: list[str]) -> str:
    hint = difflib.get_close_matches(str(key), allowed, n=1)
    return "unknown key" + (f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(allowed)}")


def _path_part(part: str | int) -> str:
    text = str(part)
    return text if re.fullmatch(r"[!-~]{1,40}", text) else shown(part)


def _keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


TOP_KEYS = [
    "name",
    "provider",
    "isolation",
    "network",
    "balancers",
    "reals",
    "clients",
    "vips",
    "vrrp",
    "ipvs",
    "ready_snapshot",
]
TOP_KEYS.append("keepalived_extra")
# A carried block (see model.Lab.keepalived_extra): printable text, tabs and newlines.
EXTRA_TEXT = re.compile(r"[\t\n -~]{1,65536}")


def read_lab(path: Path | str) -> model.Lab:
    """Load and validate the lab file at PATH; raise LabFileError listing its problems (the first
    LISTED_MAX of them, and how many more)."""
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise LabFileError([Problem(shown, None, "", "no such lab file; create one with `labctl init`")])
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabFileError([Problem(shown, None, "", f"cannot read the lab file: {exc}")]) from exc
    return parse_lab(text, shown)


def parse_lab(text: str, file: str = "lab.yaml") -> model.Lab:
    if not text.strip():
        raise LabFileError([Problem(file, None, "", "the lab file is empty; `labctl init` writes one")])
    try:
        located = load(text)
    except YamlSyntaxError as exc:
        raise LabFileError([Problem(file, exc.line, "", exc.message)]) from exc
    if not isinstance(located.data, dict):
        raise LabFileError([Problem(file, 1, "", "the lab file must be a YAML mapping of settings")])
    reader = _Reader(located, file)
    lab = _build(reader, located.data)
    if reader.problems:
        raise LabFileError(reader.problems)
    assert lab is not None
    return lab


def _build(r: _Reader, data: dict[Any, Any]) -> model.Lab | None:
    r.mapping(data, (), TOP_KEYS)
    name = r.text(
        data.get("name"),
        ("name",),
        "lab",
        LAB_NAME,
        "lower-case letters, digits and '-', starting with a letter, at most 21 characters",
    )
    if name in RESERVED_LAB_NAMES:
        r.problem(("name",), f"{name!r} is reserved by labctl; choose another name")
    provider = _provider(r, data.get("provider"))
    isolation = r.choice(data.get("isolation"), ("isolation",), "none", model.ISOLATIONS)
    if isolation == "netns" and not provider.uses_vagrant:
        r.problem(
            ("isolation",),
            f"netns isolates a VM lab (its own libvirtd); provider {provider.name} runs every node in a "
            "namespace of its own already: use `isolation: none`",
        )
    ready_snapshot = r.boolean(data.get("ready_snapshot"), ("ready_snapshot",), True)
    network = _network(r, data.get("network"))
    nodes = _nodes(r, data, network)
    vrrp = _vrrp(r, data.get("vrrp"))
    ipvs = _ipvs(r, data.get("ipvs"))
    # Names as written, so that one bad address does not make every VIP complain about it too.
    raw_balancers = data.get("balancers")
    balancers = (
        [str(k) for k in raw_balancers]
        if isinstance(raw_balancers, dict)
        else [n.name for n in nodes if n.role == "balancer"]
    )
    extra = _keepalived_extra(r, data.get("keepalived_extra"), balancers)
    vips = _vips(r, data.get("vips"), network, nodes, balancers, allow_none=bool(extra))
    if r.problems:
        return None
    return model.Lab(
        name=name,
        provider=provider,
        network=network,
        nodes=tuple(nodes),
        vips=tuple(vips),
        vrrp=vrrp,
        ipvs=ipvs,
        isolation=isolation,
        ready_snapshot=ready_snapshot,
        keepalived_extra=extra,
    )


def _keepalived_extra(r: _Reader, value: Any, balancers: list[str]) -> dict[str, str]:
    """Blocks `labctl import` carried verbatim: they run inside the balancer's VM only."""
    data = r.mapping(value, ("keepalived_extra",), balancers)
    result: dict[str, str] = {}
    for name, text in data.items():
        if name not in balancers:
            continue
        if not isinstance(text, str) or not EXTRA_TEXT.fullmatch(text):
            r.problem(("keepalived_extra", name), "must be keepalived.conf text (printable ASCII, at most 64 KiB)")
            continue
        result[str(name)] = text
    return result


def _provider(r: _Reader, value: Any) -> model.ProviderSettings:
    base = model.ProviderSettings()
    path = ("provider",)
    data = r.mapping(value, path, _keys(model.ProviderSettings))
    lv_data = r.mapping(data.get("libvirt"), (*path, "libvirt"), _keys(model.LibvirtSettings))
    lv_base = model.LibvirtSettings()
    libvirt = model.LibvirtSettings(
        driver=r.choice(lv_data.get("driver"), (*path, "libvirt", "driver"), lv_base.driver, model.LIBVIRT_DRIVERS),
        tb_size=r.integer(lv_data.get("tb_size"), (*path, "libvirt", "tb_size"), lv_base.tb_size, 16, 4096),
        direct_kernel_boot=r.boolean(
            lv_data.get("direct_kernel_boot"), (*path, "libvirt", "direct_kernel_boot"), lv_base.direct_kernel_boot
        ),
        cmd_line=r.text(
            lv_data.get("cmd_line"),
            (*path, "libvirt", "cmd_line"),
            lv_base.cmd_line,
            KERNEL_CMD_LINE,
            "kernel parameters (letters, digits and _.,:=/+-) one space apart, e.g. root=/dev/vda rw console=ttyS0",
        ),
    )
    return model.ProviderSettings(
        name=r.choice(data.get("name"), (*path, "name"), base.name, model.PROVIDERS),
        box=r.text(
            data.get("box"),
            (*path, "box"),
            base.box,
            BOX_NAME,
            "a Vagrant box name such as debian/bookworm64 (letters, digits and _.:/-), or 'local'",
        ),
        memory=r.integer(data.get("memory"), (*path, "memory"), base.memory, 128, 65536),
        cpus=r.integer(data.get("cpus"), (*path, "cpus"), base.cpus, 1, 64),
        libvirt=libvirt,
    )


def _network(r: _Reader, value: Any) -> model.NetworkSettings:
    base = model.NetworkSettings()
    data = r.mapping(value, ("network",), _keys(model.NetworkSettings))
    cidr = base.cidr
    raw = data.get("cidr")
    if raw is not None:
        try:
            net = ipaddress.IPv4Network(str(raw), strict=True)
            if not 16 <= net.prefixlen <= 29:
                r.problem(("network", "cidr"), f"{raw}: use a network from /16 to /29, e.g. 10.10.1.0/24")
            else:
                cidr = str(net)
        except ValueError as exc:
            r.problem(("network", "cidr"), f"{shown(raw)} is not an IPv4 network such as 10.10.1.0/24 ({shown(exc)})")
    interface = r.text(
        data.get("interface"), ("network", "interface"), base.interface, IFACE_NAME, "an interface name such as eth1"
    )
    return model.NetworkSettings(cidr=cidr, interface=interface)


def _address(r: _Reader, raw: Any, path: Path_, network: model.NetworkSettings) -> str | None:
    try:
        addr = ipaddress.IPv4Address(str(raw))  # whole string: no stray whitespace or newline
    except ValueError:
        r.problem(path, f"{shown(raw)} is not an IPv4 address such as 10.10.1.11")
        return None
    net = ipaddress.IPv4Network(network.cidr)
    if addr not in net:
        r.problem(path, f"{addr} is outside the lab network {net}")
        return None
    if addr in (net.network_address, net.broadcast_address):
        r.problem(path, f"{addr} is the network's {'network' if addr == net.network_address else 'broadcast'} address")
        return None
    if addr == net.network_address + 1:
        r.problem(path, f"{addr} is the first address of {net}, which libvirt gives its bridge; use another")
        return None
    return str(addr)


ROLE_KEYS = {"balancers": "balancer", "reals": "real", "clients": "client"}
ROLE_DEFAULTS = {
    "balancers": [n for n in model.reference_nodes() if n.role == "balancer"],
    "reals": [n for n in model.reference_nodes() if n.role == "real"],
    "clients": [n for n in model.reference_nodes() if n.role == "client"],
}
ROLE_MINIMUM = {"balancers": 1, "reals": 1, "clients": 1}


def _nodes(r: _Reader, data: dict[Any, Any], network: model.NetworkSettings) -> list[model.Node]:
    nodes: list[model.Node] = []
    seen_names: dict[str, Path_] = {}
    seen_addrs: dict[str, Path_] = {}
    for key, role in ROLE_KEYS.items():
        value = data.get(key)
        if value is None:
            nodes.extend(ROLE_DEFAULTS[key])
            continue
        if not isinstance(value, dict) or not value:
            r.problem(
                (key,),
                f"must map at least {ROLE_MINIMUM[key]} node name to its address, "
                f"e.g. {ROLE_DEFAULTS[key][0].name}: {ROLE_DEFAULTS[key][0].address}",
            )
            continue
        for name, raw in value.items():
            path = (key, name)
            if not isinstance(name, str) or not NODE_NAME.fullmatch(name):
                r.problem(
                    path,
                    f"bad node name {shown(name)}: use lower-case letters, digits and '-' (a hostname), "
                    "starting with a letter",
                )
                continue
            if name in seen_names:
                r.problem(path, f"node name {name!r} is used twice (also at {'.'.join(map(str, seen_names[name]))})")
                continue
            seen_names[name] = path
            addr = _address(r, raw, path, network)
            if addr is None:
                continue
            if addr in seen_addrs:
                r.problem(path, f"duplicate address {addr}: {'.'.join(map(str, seen_addrs[addr]))} has it already")
                continue
            seen_addrs[addr] = path
            nodes.append(model.Node(name, role, addr))
    return nodes


def _vrrp(r: _Reader, value: Any) -> model.VrrpSettings:
    base = model.VrrpSettings()
    data = r.mapping(value, ("vrrp",), _keys(model.VrrpSettings))
    auth_type = r.choice(data.get("auth_type"), ("vrrp", "auth_type"), base.auth_type, ("PASS", "none"))
    auth_pass = data.get("auth_pass")
    if auth_pass is not None:
        # Longer than keepalived reads is kept as written (validate explains the cut: describe.py).
        if not isinstance(auth_pass, str) or not auth_pass or len(auth_pass) > 64:
            r.problem(
                ("vrrp", "auth_pass"),
                "must be a string of 1 to 64 characters, of which keepalived uses the first 8 "
                "(or leave it out: labctl generates one)",
            )
            auth_pass = None
        elif not AUTH_PASS_WRITTEN.fullmatch(auth_pass):
            r.problem(("vrrp", "auth_pass"), "use letters, digits and _.,:/@%+=- (no spaces, quotes or other symbols)")
            auth_pass = None
    return model.VrrpSettings(
        # VRRPv2 (needed for PASS auth) allows whole seconds only.
        advert_int=r.integer(data.get("advert_int"), ("vrrp", "advert_int"), base.advert_int, 1, 255),
        auth_type=auth_type,
        auth_pass=auth_pass,
    )


def _ipvs(r: _Reader, value: Any) -> model.IpvsSettings:
    base = model.IpvsSettings()
    data = r.mapping(value, ("ipvs",), _keys(model.IpvsSettings))
    t_data = r.mapping(data.get("timeouts"), ("ipvs", "timeouts"), _keys(model.Timeouts))
    tb = model.Timeouts()
    timeouts = model.Timeouts(
        tcp=r.integer(t_data.get("tcp"), ("ipvs", "timeouts", "tcp"), tb.tcp, 1, 86400 * 7),
        tcpfin=r.integer(t_data.get("tcpfin"), ("ipvs", "timeouts", "tcpfin"), tb.tcpfin, 1, 86400 * 7),
        udp=r.integer(t_data.get("udp"), ("ipvs", "timeouts", "udp"), tb.udp, 1, 86400 * 7),
    )
    h_data = r.mapping(data.get("health_check"), ("ipvs", "health_check"), _keys(model.HealthCheck))
    hb = model.HealthCheck()
    health = model.HealthCheck(
        path=r.text(
            h_data.get("path"),
            ("ipvs", "health_check", "path"),
            hb.path,
            URL_PATH,
            "a URL path such as / (letters, digits and _./-)",
        ),
        status_code=r.integer(
            h_data.get("status_code"), ("ipvs", "health_check", "status_code"), hb.status_code, 100, 599
        ),
        delay_loop=r.integer(h_data.get("delay_loop"), ("ipvs", "health_check", "delay_loop"), hb.delay_loop, 1, 3600),
        connect_timeout=r.integer(
            h_data.get("connect_timeout"), ("ipvs", "health_check", "connect_timeout"), hb.connect_timeout, 1, 600
        ),
        retry=r.integer(h_data.get("retry"), ("ipvs", "health_check", "retry"), hb.retry, 0, 100),
    )
    return model.IpvsSettings(
        manager=r.choice(data.get("manager"), ("ipvs", "manager"), base.manager, model.IPVS_MANAGERS),
        scheduler=r.choice(data.get("scheduler"), ("ipvs", "scheduler"), base.scheduler, model.SCHEDULERS),
        port=r.integer(data.get("port"), ("ipvs", "port"), base.port, 1, 65535),
        weight=r.integer(data.get("weight"), ("ipvs", "weight"), base.weight, 0, 65535),
        timeouts=timeouts,
        health_check=health,
    )


VIP_KEYS = ["name", "address", "vrid", "priorities"]


def _vips(
    r: _Reader,
    value: Any,
    network: model.NetworkSettings,
    nodes: list[model.Node],
    balancers: list[str],
    allow_none: bool = False,
) -> list[model.Vip]:
    if value is None:
        defaults = model.reference_vips()
        if set(balancers) != {"b1", "b2", "b3"}:
            r.problem(
                ("vips",),
                "the default VIPs name balancers b1, b2, b3: list your own VIPs, "
                "or use `vips: {count: N}` to let the planner build them",
            )
        return list(defaults)
    if isinstance(value, dict):
        return _planned_vips(r, value, network, nodes, balancers)
    if allow_none and value == []:
        return []  # an imported lab whose instances are all carried verbatim
    if not isinstance(value, list) or not value:
        r.problem(("vips",), "must be a list of VIPs (name, address, vrid, priorities) or {count: N}")
        return []
    node_addrs = {n.address: n.name for n in nodes}
    vips: list[model.Vip] = []
    seen: dict[str, dict[Any, Path_]] = {"name": {}, "address": {}, "vrid": {}}
    for index, item in enumerate(value):
        path = ("vips", index)
        data = r.mapping(item, path, VIP_KEYS)
        missing = [k for k in VIP_KEYS if k not in data]
        if missing:
            r.problem(path, f"missing {', '.join(missing)}")
            continue
        name = r.text(data["name"], (*path, "name"), "", VRRP_NAME, "letters, digits, '_' and '-', e.g. VI_1")
        address = _address(r, data["address"], (*path, "address"), network)
        if address in node_addrs:
            r.problem(
                (*path, "address"),
                f"{address} is node {node_addrs[address]}'s address; a VIP needs an address of its own",
            )
            address = None
        vrid = r.integer(data["vrid"], (*path, "vrid"), 0, 1, 255)
        priorities = _priorities(r, data["priorities"], (*path, "priorities"), balancers)
        for key, val in (("name", name), ("address", address), ("vrid", vrid)):
            if not val:
                continue
            if val in seen[key]:
                r.problem((*path, key), f"duplicate {key} {val}: {'.'.join(map(str, seen[key][val]))} has it already")
            else:
                seen[key][val] = (*path, key)
        if name and address and vrid and priorities:
            vips.append(model.Vip(name, address, vrid, priorities))
    return vips


def _priorities(r: _Reader, value: Any, path: Path_, balancers: list[str]) -> dict[str, int] | None:
    if not isinstance(value, dict):
        r.problem(path, f"must map balancers ({', '.join(balancers)}) to a priority 1..254")
        return None
    result: dict[str, int] = {}
    known = set(balancers)  # a set: a lab may have thousands of balancers, each named here
    for name, prio in value.items():
        if name not in known:
            r.problem((*path, name), partial(_not_a_balancer, name, value, balancers))
            continue
        # 255 is reserved for the address owner, 0 means "leaving" in VRRP.
        got = r.integer(prio, (*path, name), 0, 1, 254)
        if got:
            result[name] = got
    # A subset is a VRRP instance configured on those balancers only (`labctl validate` says
    # who never takes it over); none at all is no instance.
    if not value:
        r.problem(path, "give at least one balancer a priority" if balancers else "no balancer to give a priority to")
        return None
    if len(result) != len(value):
        return None  # each bad entry has its problem already
    top = max(result.values())
    if list(result.values()).count(top) > 1:
        r.problem(
            path,
            f"two balancers share the top priority {top}: the master would be decided by address, "
            "give one a higher priority",
        )
    return result


def _not_a_balancer(name: Any, priorities: dict[Any, Any], balancers: list[str]) -> str:
    # Suggest among the balancers still without a priority: the likely typo target.
    unset = [b for b in balancers if b not in priorities] or balancers
    hint = difflib.get_close_matches(str(name), unset, n=1, cutoff=0.5)
    return f"{shown(name)} is not a balancer" + (
        f"; did you mean {hint[0]!r}?" if hint else f"; balancers are {', '.join(balancers)}"
    )


def _planned_vips(
    r: _Reader, value: dict[Any, Any], network: model.NetworkSettings, nodes: list[model.Node], balancers: list[str]
) -> list[model.Vip]:
    from labctl.model import planner as plan  # the planner builds the priority matrix

    data = r.mapping(value, ("vips",), ["count", "tolerate", "first_vrid"])
    count = r.integer(data.get("count"), ("vips", "count"), 0, 1, 64)
    tolerate = r.integer(data.get("tolerate"), ("vips", "tolerate"), 1, 0, 8)
    first_vrid = r.integer(data.get("first_vrid"), ("vips", "first_vrid"), 55, 1, 255)
    if not count or not balancers:
        if "count" not in data:
            r.problem(("vips",), "give `count: N` (see `labctl plan`) or a list of VIPs")
        return []
    if first_vrid + count - 1 > 255:
        r.problem(("vips", "first_vrid"), f"VRIDs {first_vrid}..{first_vrid + count - 1} pass 255")
        return []
    if tolerate >= len(balancers):
        r.problem(("vips", "tolerate"), f"cannot tolerate {tolerate} failures with {len(balancers)} balancers")
        return []
    addresses = allocate_vip_addresses(network, {n.address for n in nodes}, count)
    if len(addresses) < count:
        r.problem(("vips", "count"), f"the network {network.cidr} has no room for {count} VIPs")
        return []
    matrix = plan.build_matrix(balancers, count, tolerate)
    return [
        model.Vip(f"VI_{i + 1}", addresses[i], first_vrid + i, dict(entry.priorities)) for i, entry in enumerate(matrix)
    ]


def allocate_vip_addresses(network: model.NetworkSettings, taken: set[str], count: int) -> list[str]:
    """VIP addresses as the reference numbers them (.10, .20, .30, ...), then any free ones."""
    net = ipaddress.IPv4Network(network.cidr)
    hosts = list(net.hosts())[1:]  # the first host address belongs to the provider's bridge
    usable = set(hosts)  # a set: a /16 has 65,534 hosts and each candidate is looked up
    preferred = [net.network_address + 10 * (i + 1) for i in range(count)]
    result: list[str] = []
    for candidate in [*preferred, *hosts]:
        text = str(candidate)
        if candidate in usable and text not in taken and text not in result:
            result.append(text)
        if len(result) == count:
            break
    return result
