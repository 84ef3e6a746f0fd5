"""IPVS rules as people paste them, with FILE:LINE: an `ipvsadm -Ln` listing, `ipvsadm -Sn`
(ipvsadm-save) output, or a shell script of `ipvsadm -A/-a` lines. Read, never run."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from labctl.submission.where import SubmissionError, Where

FORWARDS = {"-g": "Route", "--gatewaying": "Route", "-m": "Masq", "--masquerading": "Masq"}
FORWARDS |= {"-i": "Tunnel", "--ipip": "Tunnel", "Route": "Route", "Masq": "Masq", "Tunnel": "Tunnel"}
PROTOCOLS = {"-t": "TCP", "--tcp-service": "TCP", "-u": "UDP", "--udp-service": "UDP"}
PROTOCOLS |= {"--sctp-service": "SCTP", "-f": "FWM", "--fwmark-service": "FWM"}
_LISTING_SERVICE = re.compile(r"(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\S+)(.*)")
_LISTING_REAL = re.compile(r"->\s+(\S+)\s+(\S+)\s+(\d+)(?:\s+\d+\s+\d+)?")
# The banner and column titles of `ipvsadm -Ln`.
_HEADERS = ("IP Virtual Server version", "Prot LocalAddress", "-> RemoteAddress")
_SCRIPT_COMMAND = re.compile(r"(?:sudo\s+)?(?:/usr)?(?:/s?bin/)?ipvsadm\s+(.*)")


@dataclass
class Real:
    address: str
    port: int
    forward: str  # Route (direct routing), Masq (NAT), Tunnel
    weight: int
    where: Where
    flags: list[str] = field(default_factory=list)  # -x/-y thresholds, as written


@dataclass
class Service:
    proto: str  # TCP, UDP, SCTP or FWM (then address is the mark and port 0)
    address: str
    port: int
    scheduler: str
    where: Where
    persistent: int | None = None
    flags: list[str] = field(default_factory=list)
    reals: list[Real] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"FWM {self.address}" if self.proto == "FWM" else f"{self.proto} {self.address}:{self.port}"


@dataclass
class IpvsTimeouts:
    tcp: int
    tcpfin: int
    udp: int
    where: Where


@dataclass
class Rules:
    services: list[Service] = field(default_factory=list)
    timeouts: IpvsTimeouts | None = None


def is_rule_line(raw: str) -> bool:
    """RAW is a line of one of the forms (a listing's titles included)."""
    line = raw.strip()
    listing = _LISTING_SERVICE.fullmatch(line)
    if listing and (listing.group(1) == "FWM" or ":" in listing.group(2)):
        return True
    return bool(
        line.startswith(_HEADERS)
        or _LISTING_REAL.fullmatch(line)
        or line.startswith(("-A ", "-a ", "--set "))
        or _SCRIPT_COMMAND.fullmatch(line)
    )


def looks_like_rules(text: str) -> bool:
    return any(is_rule_line(line) and not line.strip().startswith(_HEADERS) for line in text.splitlines())


def read_rules(text: str, file: str, first_line: int = 1) -> Rules:
    """Every service and real of TEXT, whatever the form (they may be mixed, as pasted)."""
    rules = Rules()
    for offset, raw in enumerate(text.splitlines()):
        where = Where(file, first_line + offset)
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("->") else raw.strip()
        if not line or line.startswith(_HEADERS):
            continue
        listing = _LISTING_SERVICE.fullmatch(line)
        real = _LISTING_REAL.fullmatch(line)
        command = _SCRIPT_COMMAND.fullmatch(line)
        if listing:
            rules.services.append(_listed_service(listing, where))
        elif real:
            _current(rules, where, line).reals.append(_listed_real(real, where))
        elif line.startswith("-") or command:
            _command(rules, shlex.split(command.group(1) if command else line), where, line)
    return rules


def _current(rules: Rules, where: Where, line: str) -> Service:
    if not rules.services:
        raise SubmissionError(where, line[:40], "a real server before any virtual service")
    return rules.services[-1]


def _address(text: str, where: Where, proto: str = "TCP") -> tuple[str, int]:
    if proto == "FWM":
        return text, 0
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise SubmissionError(where, text, "is not ADDRESS:PORT")
    if "$" in text:
        raise SubmissionError(where, text, "a shell variable: labctl reads the rules as text, it never runs them")
    return host.strip("[]"), int(port)


def _listed_service(match: re.Match[str], where: Where) -> Service:
    proto, target, scheduler, rest = match.groups()
    address, port = _address(target, where, proto)
    service = Service(proto, address, port, scheduler, where)
    words = rest.split()
    if "persistent" in words:
        index = words.index("persistent")
        service.persistent = int(words[index + 1]) if index + 1 < len(words) and words[index + 1].isdigit() else 300
    service.flags = [w for w in words if not w.isdigit() and w != "persistent"]
    return service


def _listed_real(match: re.Match[str], where: Where) -> Real:
    target, forward, weight = match.groups()
    if forward not in FORWARDS:
        raise SubmissionError(where, forward, "is not a forwarding method (Route, Masq, Tunnel)")
    address, port = _address(target, where)
    return Real(address, port, FORWARDS[forward], int(weight), where)


def _command(rules: Rules, words: list[str], where: Where, line: str) -> None:
    """One ipvsadm command line (its words after `ipvsadm`): -A/-a add, -C and -Z are ignored."""
    if not words or words[0] in ("-C", "--clear", "-Z", "--zero", "-L", "-l", "--list", "-Ln", "-S", "-Sn", "-R"):
        return
    if words[0] == "--set":
        if len(words) < 4 or not all(w.isdigit() for w in words[1:4]):
            raise SubmissionError(where, "--set", "needs three numbers: tcp tcpfin udp")
        rules.timeouts = IpvsTimeouts(int(words[1]), int(words[2]), int(words[3]), where)
        return
    options = _options(words[1:], where)
    target = next(((PROTOCOLS[k], v) for k, v in options.items() if k in PROTOCOLS), None)
    if target is None:
        raise SubmissionError(where, words[0], "names no virtual service (-t, -u or -f)")
    proto, text = target
    address, port = _address(text, where, proto)
    if words[0] in ("-A", "--add-service"):
        service = Service(proto, address, port, options.get("-s", options.get("--scheduler", "wlc")), where)
        persistent = options.get("-p", options.get("--persistent"))
        if persistent is not None:
            service.persistent = int(persistent) if persistent.isdigit() else 300
        service.flags = [f"{k} {v}".strip() for k, v in options.items() if k in _SERVICE_FLAGS]
        rules.services.append(service)
    elif words[0] in ("-a", "--add-server"):
        added = next((s for s in rules.services if (s.proto, s.address, s.port) == (proto, address, port)), None)
        if added is None:
            raise SubmissionError(where, line[:60], f"adds a real server to {proto} {text}, never added with -A")
        real = options.get("-r", options.get("--real-server"))
        if real is None:
            raise SubmissionError(where, line[:60], "names no real server (-r)")
        forward = next((FORWARDS[k] for k in options if k in FORWARDS), "Route")
        real_address, real_port = _address(real if ":" in real else f"{real}:{port}", where)
        weight = options.get("-w", options.get("--weight", "1"))
        flags = [f"{k} {v}" for k, v in options.items() if k in _REAL_FLAGS]
        added.reals.append(Real(real_address, real_port, forward, int(weight), where, flags))
    else:
        raise SubmissionError(where, words[0], "labctl import reads -A, -a, -C and --set lines of ipvsadm")


# Options that take a value; -p's is optional.
_VALUED = {"-t", "-u", "-f", "--tcp-service", "--udp-service", "--sctp-service", "--fwmark-service", "-s"}
_VALUED |= {"--scheduler", "-r", "--real-server", "-w", "--weight", "-M", "--netmask", "-x", "-y", "-b", "--pe"}
_VALUED |= {"--sched-flags", "-x", "--u-threshold", "-y", "--l-threshold"}
# Settings of a service beside its scheduler and persistence (kept as written, for the report).
_SERVICE_FLAGS = {"-b", "--sched-flags", "-o", "--ops", "--pe", "-M", "--netmask"}
_REAL_FLAGS = {"-x", "--u-threshold", "-y", "--l-threshold"}


def _options(words: list[str], where: Where) -> dict[str, str]:
    options: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else None
        if word in _VALUED:
            if following is None:
                raise SubmissionError(where, word, "needs a value")
            options[word] = following
            index += 2
        elif word in ("-p", "--persistent") and following is not None and following.isdigit():
            options[word] = following
            index += 2
        else:
            options[word] = ""
            index += 1
    if any(k in ("-w", "--weight") and not v.isdigit() for k, v in options.items()):
        raise SubmissionError(where, "-w", "the weight must be a whole number")
    return options
