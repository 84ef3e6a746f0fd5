"""Parsers for what the balancers print: ipvsadm listings, `ip -o addr`, VRRP states.

Pure functions from text to records; running the commands is someone else's job. The ipvsadm
formats follow ipvsadm's own printf layouts (print_title, print_service_entry, print_conn,
print_largenum): columns are separated by at least one space, so the parsers split on
whitespace instead of relying on column widths, and tolerate missing header lines and trailing
blanks. Anything else raises ParseError naming the line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from labctl.errors import LabctlError


class ParseError(LabctlError, ValueError):
    """Text that does not look like the command output it was given as."""

    def __init__(self, message: str, line_no: int | None = None, line: str | None = None):
        self.line_no = line_no
        self.line = line
        where = f"line {line_no}: " if line_no is not None else ""
        shown = f": {line.strip()!r}" if line is not None else ""
        super().__init__(f"{where}{message}{shown}")


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """Numbered, right-stripped, non-blank lines."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.rstrip()


# --- addresses -------------------------------------------------------------------------------


def _split_addr_port(token: str, line_no: int, line: str) -> tuple[str, int]:
    """'10.10.1.10:80' or '[2001:db8::1]:80' -> (address, port)."""
    if token.startswith("["):
        address, sep, port = token[1:].partition("]:")
    else:
        address, sep, port = token.rpartition(":")
    if not sep:
        raise ParseError(f"expected ADDRESS:PORT, got {token!r}", line_no, line)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        message = f"not an IP address: {address!r} (use ipvsadm -n)"
        raise ParseError(message, line_no, line) from None
    if not port.isdigit() or int(port) > 65535:
        raise ParseError(f"not a port number: {port!r} (use ipvsadm -n)", line_no, line)
    return address, int(port)


def _int(token: str, what: str, line_no: int | None, line: str | None) -> int:
    if not token.isdigit():
        raise ParseError(f"{what} is not a whole number: {token!r}", line_no, line)
    return int(token)


# --- ipvsadm -Ln -----------------------------------------------------------------------------

FORWARD_METHODS = ("Route", "Masq", "Tunnel", "Local", "FullNat")
_SERVICE_PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass
class IpvsReal:
    address: str
    port: int
    forward: str  # Route (direct routing, -g), Masq (NAT, -m), Tunnel (-i), Local
    weight: int
    active_conn: int = 0
    inact_conn: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IpvsService:
    """One virtual service. For a firewall-mark service proto is 'FWM', vip '' and port 0."""

    proto: str
    vip: str
    port: int
    scheduler: str
    flags: list[str] = field(default_factory=list)  # e.g. persistent, ops, sh-port
    persistent: int | None = None  # persistence timeout in seconds
    netmask: str | None = None  # persistence granularity
    pe: str | None = None  # persistence engine, e.g. sip
    fwmark: int | None = None
    reals: list[IpvsReal] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int]:
        if self.fwmark is not None:
            return ("FWM", str(self.fwmark), 0)
        return (self.proto, self.vip, self.port)

    @property
    def label(self) -> str:
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        return f"{self.proto} {self.vip}:{self.port}"

    def real(self, address: str, port: int | None = None) -> IpvsReal | None:
        return next(
            (r for r in self.reals if r.address == address and (port is None or r.port == port)),
            None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IpvsTable:
    services: list[IpvsService] = field(default_factory=list)
    version: str | None = None  # "1.2.1" from the banner, when present
    size: int | None = None  # connection hash table size from the banner

    def service(self, vip: str, port: int = 80, proto: str = "TCP") -> IpvsService | None:
        return next((s for s in self.services if s.key == (proto.upper(), vip, port)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "size": self.size,
            "services": [service.to_dict() for service in self.services],
        }


_BANNER_RE = re.compile(r"^IP Virtual Server version (\S+) \(size=(\d+)\)$")


# /proc/net/ip_vs spells an IPv4 address and port in hex ("0A0A010A:0050"); otherwise its
# lines are those of `ipvsadm -Ln`, so one parser reads both.
_PROC_ADDR = re.compile(r"\b([0-9A-F]{8}):([0-9A-F]{4})\b")
# ... and a persistent service's netmask after the timeout: "persistent 300 FFFFFFFF".
_PROC_NETMASK = re.compile(r"(persistent \d+) ([0-9A-F]{8})$")


def _dotted(match: re.Match[str]) -> str:
    value = int(match.group(1), 16)
    address = ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))
    return f"{address}:{int(match.group(2), 16)}"


def _from_proc(line: str) -> str:
    return _PROC_NETMASK.sub(r"\1", _PROC_ADDR.sub(_dotted, line))


def parse_ipvsadm_ln(text: str) -> IpvsTable:
    """The table printed by `ipvsadm -Ln` (or `-L -n`), or read from /proc/net/ip_vs (which any
    user may read: no ipvsadm process, no root)."""
    table = IpvsTable()
    current: IpvsService | None = None
    for line_no, raw in _lines(text):
        line = _from_proc(raw)
        words = line.split()
        if _is_banner(line, table) or _is_list_header(words):
            continue
        if words[0] == "->":
            if current is None:
                raise ParseError("real server line before any service", line_no, line)
            current.reals.append(_parse_real(words, line_no, line))
        elif words[0] in _SERVICE_PROTOCOLS or words[0] == "FWM":
            current = _parse_service(words, line_no, line)
            table.services.append(current)
        else:
            raise ParseError("not an ipvsadm -Ln line", line_no, line)
    return table


def _is_banner(line: str, table: IpvsTable) -> bool:
    match = _BANNER_RE.match(line.strip())
    if match:
        table.version, table.size = match.group(1), int(match.group(2))
    return match is not None


def _is_list_header(words: list[str]) -> bool:
    return words[:2] == ["Prot", "LocalAddress:Port"] or words[:2] == ["->", "RemoteAddress:Port"]


def _parse_service(words: list[str], line_no: int, line: str) -> IpvsService:
    if words[0] == "FWM":
        # "FWM  1 rr" or "FWM  1 IPv6 rr"
        rest = words[3:] if words[2:3] == ["IPv6"] else words[2:]
        if not rest:
            raise ParseError("firewall-mark service without a scheduler", line_no, line)
        mark = _int(words[1], "firewall mark", line_no, line)
        service = IpvsService(proto="FWM", vip="", port=0, scheduler=rest[0], fwmark=mark)
    else:
        if len(words) < 3:
            raise ParseError("service line without a scheduler", line_no, line)
        vip, port = _split_addr_port(words[1], line_no, line)
        service = IpvsService(proto=words[0], vip=vip, port=port, scheduler=words[2])
        rest = words[2:]
    _parse_service_flags(service, rest[1:], line_no, line)
    return service


def _parse_service_flags(service: IpvsService, words: list[str], line_no: int, line: str) -> None:
    """Words after the scheduler: 'persistent 300', 'mask 255.255.255.0', 'pe sip', 'ops',
    '(sh-fallback,sh-port)' (scheduler flags); unknown words are kept as flags."""
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word in ("persistent", "mask", "pe") and value is None:
            raise ParseError(f"'{word}' without a value", line_no, line)
        if word == "persistent":
            service.persistent = _int(value or "", "persistence timeout", line_no, line)
            service.flags.append(word)
            index += 2
        elif word in ("mask", "pe"):
            setattr(service, "netmask" if word == "mask" else "pe", value)
            index += 2
        elif word.startswith("(") and word.endswith(")"):
            service.flags.extend(flag for flag in word[1:-1].split(",") if flag)
            index += 1
        else:
            service.flags.append(word)
            index += 1


def _parse_real(words: list[str], line_no: int, line: str) -> IpvsReal:
    # "  -> 10.10.1.11:80   Route   1   0   0"
    if len(words) != 6:
        raise ParseError(
            "real server line needs address:port, forward, weight, ActiveConn, InActConn",
            line_no,
            line,
        )
    address, port = _split_addr_port(words[1], line_no, line)
    if words[2] not in FORWARD_METHODS:
        raise ParseError(f"unknown forward method {words[2]!r}", line_no, line)
    return IpvsReal(
        address=address,
        port=port,
        forward=words[2],
        weight=_int(words[3], "weight", line_no, line),
        active_conn=_int(words[4], "ActiveConn", line_no, line),
        inact_conn=_int(words[5], "InActConn", line_no, line),
    )


# --- ipvsadm -Ln --stats ---------------------------------------------------------------------

# Without --exact, ipvsadm shortens numbers from 100 million up by integer division:
# 123456789 prints as "123456K". The value read back is then a lower bound.
_SUFFIXES = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


@dataclass
class IpvsCounters:
    conns: int
    in_pkts: int
    out_pkts: int
    in_bytes: int
    out_bytes: int
    approximate: bool = False  # some value had a K/M/G/T suffix: truncated, a lower bound

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IpvsRealStats:
    address: str
    port: int
    counters: IpvsCounters

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, **self.counters.to_dict()}


@dataclass
class IpvsServiceStats:
    proto: str
    vip: str
    port: int
    counters: IpvsCounters
    fwmark: int | None = None
    reals: list[IpvsRealStats] = field(default_factory=list)

    def real(self, address: str, port: int | None = None) -> IpvsRealStats | None:
        return next(
            (r for r in self.reals if r.address == address and (port is None or r.port == port)),
            None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "proto": self.proto,
            "vip": self.vip,
            "port": self.port,
            "fwmark": self.fwmark,
            **self.counters.to_dict(),
            "reals": [real.to_dict() for real in self.reals],
        }


@dataclass
class IpvsStats:
    services: list[IpvsServiceStats] = field(default_factory=list)

    def service(self, vip: str, port: int = 80, proto: str = "TCP") -> IpvsServiceStats | None:
        return next(
            (s for s in self.services if (s.proto, s.vip, s.port) == (proto.upper(), vip, port) and s.fwmark is None),
            None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"services": [service.to_dict() for service in self.services]}


def parse_large_number(token: str, line_no: int = 0, line: str = "") -> tuple[int, bool]:
    """ipvsadm's number column: '19950' -> (19950, False), '123456K' -> (123456000, True)."""
    multiplier = _SUFFIXES.get(token[-1:])
    digits = token[:-1] if multiplier else token
    value = _int(digits, "counter", line_no or None, line or None)
    return (value * multiplier, True) if multiplier else (value, False)


def parse_ipvsadm_stats(text: str) -> IpvsStats:
    """`ipvsadm -Ln --stats` (with or without --exact): Conns InPkts OutPkts InBytes OutBytes."""
    stats = IpvsStats()
    current: IpvsServiceStats | None = None
    for line_no, line in _lines(text):
        words = line.split()
        if _BANNER_RE.match(line.strip()) or _is_stats_header(words):
            continue
        if words[:2] == ["Prot", "LocalAddress:Port"]:
            raise ParseError("this header is not --stats output", line_no, line)
        if words[0] == "->":
            if current is None:
                raise ParseError("real server line before any service", line_no, line)
            target = _one(words[1:-5], line_no, line)
            address, port = _split_addr_port(target, line_no, line)
            current.reals.append(IpvsRealStats(address, port, _counters(words[-5:], line_no, line)))
        elif words[0] in _SERVICE_PROTOCOLS or words[0] == "FWM":
            current = _parse_service_stats(words, line_no, line)
            stats.services.append(current)
        else:
            raise ParseError("not an ipvsadm --stats line", line_no, line)
    return stats


def _is_stats_header(words: list[str]) -> bool:
    return words == ["->", "RemoteAddress:Port"] or words[:3] == ["Prot", "LocalAddress:Port", "Conns"]


def _one(words: list[str], line_no: int, line: str) -> str:
    if len(words) != 1:
        raise ParseError("expected one ADDRESS:PORT and five counters", line_no, line)
    return words[0]


def _parse_service_stats(words: list[str], line_no: int, line: str) -> IpvsServiceStats:
    name = words[1:-5]
    if not name:
        raise ParseError("expected a service and five counters", line_no, line)
    counters = _counters(words[-5:], line_no, line)
    if words[0] == "FWM":
        if not name or name[1:] not in ([], ["IPv6"]):
            raise ParseError("expected FWM MARK and five counters", line_no, line)
        mark = _int(name[0], "firewall mark", line_no, line)
        return IpvsServiceStats("FWM", "", 0, counters, fwmark=mark)
    vip, port = _split_addr_port(_one(name, line_no, line), line_no, line)
    return IpvsServiceStats(words[0], vip, port, counters)


def _counters(words: list[str], line_no: int, line: str) -> IpvsCounters:
    if len(words) != 5:
        raise ParseError("expected five counters", line_no, line)
    values = [parse_large_number(word, line_no, line) for word in words]
    conns, in_pkts, out_pkts, in_bytes, out_bytes = (value for value, _ in values)
    return IpvsCounters(conns, in_pkts, out_pkts, in_bytes, out_bytes, approximate=any(approx for _, approx in values))


# --- ipvsadm -Lnc ----------------------------------------------------------------------------

_EXPIRE_RE = re.compile(r"^(\d+):([0-5]\d)$")


@dataclass
class IpvsConnection:
    proto: str
    expire_s: int
    state: str  # ESTABLISHED, FIN_WAIT, SYN_RECV, TIME_WAIT, CLOSE, NONE (template), UDP, ...
    source: str
    source_port: int
    virtual: str
    virtual_port: int
    destination: str
    destination_port: int
    pe_name: str | None = None  # only with --persistent-conn
    pe_data: str | None = None

    @property
    def active(self) -> bool:
        """ipvsadm's ActiveConn counts ESTABLISHED TCP only; every other state is InActConn."""
        return self.state == "ESTABLISHED"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_ipvsadm_connections(text: str) -> list[IpvsConnection]:
    """`ipvsadm -Lnc` (optionally --persistent-conn): one record per connection entry."""
    connections = []
    for line_no, line in _lines(text):
        words = line.split()
        if line.strip() == "IPVS connection entries" or words[:3] == ["pro", "expire", "state"]:
            continue
        if len(words) not in (6, 8):
            raise ParseError("expected pro expire state source virtual destination", line_no, line)
        connections.append(_parse_connection(words, line_no, line))
    return connections


def _parse_connection(words: list[str], line_no: int, line: str) -> IpvsConnection:
    expire = _EXPIRE_RE.match(words[1])
    if not expire:
        raise ParseError(f"expire is not mm:ss: {words[1]!r}", line_no, line)
    source, vip, dest = (_split_addr_port(word, line_no, line) for word in words[3:6])
    return IpvsConnection(
        proto=words[0],
        expire_s=int(expire.group(1)) * 60 + int(expire.group(2)),
        state=words[2],
        source=source[0],
        source_port=source[1],
        virtual=vip[0],
        virtual_port=vip[1],
        destination=dest[0],
        destination_port=dest[1],
        pe_name=words[6] if len(words) == 8 else None,
        pe_data=words[7] if len(words) == 8 else None,
    )


# --- ipvsadm -L --timeout --------------------------------------------------------------------

_TIMEOUT_RE = re.compile(r"Timeout \(tcp tcpfin udp\):\s*(\d+)\s+(\d+)\s+(\d+)\s*$")


class IpvsTimeouts(NamedTuple):
    tcp: int
    tcpfin: int
    udp: int

    def to_dict(self) -> dict[str, int]:
        return self._asdict()


def parse_ipvsadm_timeout(text: str) -> IpvsTimeouts:
    """'Timeout (tcp tcpfin udp): 900 120 300' -> (900, 120, 300)."""
    for line_no, line in _lines(text):
        match = _TIMEOUT_RE.search(line)
        if match:
            return IpvsTimeouts(*(int(group) for group in match.groups()))
        raise ParseError("expected 'Timeout (tcp tcpfin udp): TCP TCPFIN UDP'", line_no, line)
    raise ParseError("empty output: expected 'Timeout (tcp tcpfin udp): TCP TCPFIN UDP'")


# --- ip -o addr show -------------------------------------------------------------------------

# "2: eth1    inet 10.10.1.10/24 scope global secondary eth1\       valid_lft forever ..."
_ONELINE_RE = re.compile(r"^\d+:\s+(\S+)\s+(inet6?)\s+(\S+)")
# Plain `ip addr` (not -o) works too: a "2: eth1: <...>" header, then indented inet lines.
_LINK_HEADER_RE = re.compile(r"^\d+:\s+(\S+?):\s+<")
_INDENTED_INET_RE = re.compile(r"^\s+(inet6?)\s+(\S+)")


class IpAddress(NamedTuple):
    ifname: str
    address: str
    prefixlen: int

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def parse_ip_addr(text: str) -> list[IpAddress]:
    """`ip -o -4 addr show` (also -6, or plain `ip addr show`) -> (ifname, address, prefixlen).
    A veth name such as 'eth0@if7' is reported as 'eth0'."""
    addresses: list[IpAddress] = []
    current_link: str | None = None
    for line_no, line in _lines(text):
        oneline = _ONELINE_RE.match(line)
        header = _LINK_HEADER_RE.match(line)
        indented = _INDENTED_INET_RE.match(line)
        if oneline:
            addresses.append(_ip_address(oneline.group(1), oneline.group(3), line_no, line))
        elif header:
            current_link = header.group(1)
        elif indented and current_link is not None:
            addresses.append(_ip_address(current_link, indented.group(2), line_no, line))
        elif not line[:1].isspace() or current_link is None:
            raise ParseError("not an `ip addr` line", line_no, line)
        # other indented lines (link/ether, valid_lft, altname) carry no address
    return addresses


def _ip_address(ifname: str, token: str, line_no: int, line: str) -> IpAddress:
    try:
        interface = ipaddress.ip_interface(token)  # "10.0.0.1" (peer form) means /32
    except ValueError:
        raise ParseError(f"not an address/prefix: {token!r}", line_no, line) from None
    return IpAddress(ifname.split("@", 1)[0], str(interface.ip), interface.network.prefixlen)


def _bare_address(vip: str) -> str:
    return vip.split("/", 1)[0]


def vips_held(parsed: Iterable[IpAddress], vips: Iterable[str]) -> set[str]:
    """The VIPs (given bare or as 'addr/prefix') present among PARSED addresses."""
    wanted = {_bare_address(vip) for vip in vips}
    return {entry.address for entry in parsed} & wanted


def vip_holders(per_host: Mapping[str, Iterable[IpAddress]], vips: Iterable[str]) -> dict[str, list[str]]:
    """VIP -> the hosts holding it, sorted. More than one holder is a split brain (a SIGKILLed
    master keeps its VIP); none means the VIP is down."""
    holders: dict[str, list[str]] = {_bare_address(vip): [] for vip in vips}
    for host in sorted(per_host):
        for vip in vips_held(per_host[host], holders):
            holders[vip].append(host)
    return holders


# --- VRRP states written by the lab's notify script ------------------------------------------

VRRP_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "INIT", "DELETED")


def parse_vrrp_states(text: str) -> dict[str, str]:
    """Lines 'VI_1 MASTER' (or keepalived's notify arguments 'INSTANCE VI_1 MASTER 102') -> a
    dict instance -> state. '#' comments and blank lines are skipped; when an instance appears
    twice the later line wins, so an appended log reads as the current state."""
    states: dict[str, str] = {}
    for line_no, line in _lines(text):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in ("INSTANCE", "GROUP") and len(words) in (3, 4):
            words = words[1:3]
        if len(words) != 2:
            raise ParseError("expected 'INSTANCE_NAME STATE'", line_no, line)
        name, state = words[0], words[1].upper()
        if state not in VRRP_STATES:
            raise ParseError(f"unknown VRRP state {words[1]!r}", line_no, line)
        states[name] = state
    return states


# --- comparing IPVS tables -------------------------------------------------------------------

_FORWARD_ALIASES = {
    "route": "Route",
    "dr": "Route",
    "g": "Route",
    "gatewaying": "Route",
    "masq": "Masq",
    "nat": "Masq",
    "m": "Masq",
    "masquerading": "Masq",
    "tunnel": "Tunnel",
    "tun": "Tunnel",
    "ipip": "Tunnel",
    "i": "Tunnel",
    "local": "Local",
    "fullnat": "FullNat",
}


def normalize_forward(method: str) -> str:
    """'DR', 'dr', '-g', 'route' -> 'Route'; 'NAT' -> 'Masq'; 'TUN' -> 'Tunnel'."""
    key = method.strip().lstrip("-").lower()
    if key not in _FORWARD_ALIASES:
        raise ValueError(f"unknown forward method {method!r}")
    return _FORWARD_ALIASES[key]


_UNSET = object()  # "the spec does not say": not compared


@dataclass
class _RealSpec:
    address: str
    port: int
    forward: Any = _UNSET
    weight: Any = _UNSET


@dataclass
class _ServiceSpec:
    key: tuple[str, str, int]
    label: str
    scheduler: Any = _UNSET
    persistent: Any = _UNSET
    reals: list[_RealSpec] = field(default_factory=list)


ServiceSpecLike = IpvsService | Mapping[str, Any]
IpvsSpecLike = IpvsTable | Mapping[str, Any] | Iterable[ServiceSpecLike]


def diff_ipvs(expected: IpvsSpecLike, actual: IpvsTable, allow_extra: bool = False) -> list[str]:
    """Human-readable differences between EXPECTED and ACTUAL; empty when they match. Counters
    are ignored. EXPECTED is an IpvsTable, its to_dict(), or a list of services given as
    IpvsService or dicts {"proto": "TCP", "vip": ..., "port": 80, "scheduler": "rr",
    "persistent": None, "reals": [{"address": ..., "port": 80, "forward": "DR", "weight": 1}]};
    keys left out of a dict are not compared (proto defaults to TCP, port to 80, a real's port
    to its service's). Extra services and reals are differences unless ALLOW_EXTRA."""
    differences: list[str] = []
    specs = _service_specs(expected)
    for spec in specs:
        service = next((s for s in actual.services if s.key == spec.key), None)
        if service is None:
            differences.append(f"missing service {spec.label}")
        else:
            differences.extend(_diff_service(spec, service, allow_extra))
    if not allow_extra:
        expected_keys = {spec.key for spec in specs}
        differences.extend(
            f"unexpected service {service.label}" for service in actual.services if service.key not in expected_keys
        )
    return differences


def _diff_service(spec: _ServiceSpec, service: IpvsService, allow_extra: bool) -> list[str]:
    found: list[str] = []
    if spec.scheduler is not _UNSET and spec.scheduler != service.scheduler:
        found.append(f"{spec.label}: scheduler is {service.scheduler}, expected {spec.scheduler}")
    if spec.persistent is not _UNSET and spec.persistent != service.persistent:
        found.append(
            f"{spec.label}: persistence is {_persistence(service.persistent)}, expected {_persistence(spec.persistent)}"
        )
    for real_spec in spec.reals:
        real = service.real(real_spec.address, real_spec.port)
        name = f"{real_spec.address}:{real_spec.port}"
        if real is None:
            found.append(f"{spec.label}: missing real {name}")
            continue
        if real_spec.forward is not _UNSET and real_spec.forward != real.forward:
            found.append(f"{spec.label} -> {name}: forward is {real.forward}, expected {real_spec.forward}")
        if real_spec.weight is not _UNSET and real_spec.weight != real.weight:
            found.append(f"{spec.label} -> {name}: weight is {real.weight}, expected {real_spec.weight}")
    if not allow_extra:
        wanted = {(r.address, r.port) for r in spec.reals}
        found.extend(
            f"{spec.label}: unexpected real {real.address}:{real.port}"
            for real in service.reals
            if (real.address, real.port) not in wanted
        )
    return found


def _persistence(timeout: int | None) -> str:
    return "off" if timeout is None else f"{timeout} s"


def _service_specs(expected: IpvsSpecLike) -> list[_ServiceSpec]:
    if isinstance(expected, IpvsTable):
        services: Iterable[ServiceSpecLike] = expected.services
    elif isinstance(expected, Mapping):
        services = expected.get("services", [])
    else:
        services = expected
    return [_spec_from_service(s) if isinstance(s, IpvsService) else _spec_from_mapping(s) for s in services]


def _spec_from_service(service: IpvsService) -> _ServiceSpec:
    return _ServiceSpec(
        key=service.key,
        label=service.label,
        scheduler=service.scheduler,
        persistent=service.persistent,
        reals=[_RealSpec(r.address, r.port, r.forward, r.weight) for r in service.reals],
    )


def _spec_from_mapping(spec: Mapping[str, Any]) -> _ServiceSpec:
    if spec.get("fwmark") is not None:
        mark = int(spec["fwmark"])
        key, label, port = ("FWM", str(mark), 0), f"FWM {mark}", 0
    else:
        if "vip" not in spec:
            raise ValueError(f"service spec without a vip: {dict(spec)!r}")
        proto, vip = str(spec.get("proto", "TCP")).upper(), _bare_address(spec["vip"])
        port = int(spec.get("port", 80))
        key, label = (proto, vip, port), f"{proto} {vip}:{port}"
    return _ServiceSpec(
        key=key,
        label=label,
        scheduler=spec.get("scheduler", _UNSET),
        persistent=spec.get("persistent", _UNSET),
        reals=[_real_spec(real, port) for real in spec.get("reals", [])],
    )


def _real_spec(real: Mapping[str, Any], service_port: int) -> _RealSpec:
    forward = real.get("forward", _UNSET)
    weight = real.get("weight", _UNSET)
    return _RealSpec(
        address=real["address"],
        port=int(real.get("port", service_port)),
        forward=forward if forward is _UNSET else normalize_forward(str(forward)),
        weight=weight if weight is _UNSET else int(weight),
    )
