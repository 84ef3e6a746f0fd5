"""A pcap file -> plain records (VRRP adverts, ARP, TCP to and from port 80): the only module
that knows scapy. Everything downstream is pure code on these records, starting with the
few helpers here that group adverts into spells of mastership."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# scapy warns on import about interfaces and routes it will never use for reading a file.
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)


@dataclass(frozen=True)
class VrrpAdvert:
    t: float
    source: str  # IPv4 source of the advert: the advertising balancer's primary address
    mac: str
    vrid: int
    priority: int
    advert_int: float  # seconds
    version: int
    auth_type: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class ArpFrame:
    t: float
    op: int  # 1 request, 2 reply
    sender_ip: str
    sender_mac: str
    target_ip: str

    @property
    def gratuitous(self) -> bool:
        """Announces the sender's own address (request or reply with sender == target)."""
        return self.sender_ip == self.target_ip


@dataclass(frozen=True)
class TcpSegment:
    t: float
    src: str
    dst: str
    sport: int
    dport: int
    flags: str  # scapy's letters: S, SA, R, RA, F, FA, PA, ...
    src_mac: str
    http_status: int | None = None  # first line of an HTTP answer in this segment


@dataclass
class Decoded:
    adverts: list[VrrpAdvert] = field(default_factory=list)
    arps: list[ArpFrame] = field(default_factory=list)
    tcp: list[TcpSegment] = field(default_factory=list)
    frames: int = 0
    first_t: float | None = None
    last_t: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "first_t": self.first_t,
            "last_t": self.last_t,
            "adverts": len(self.adverts),
            "arps": len(self.arps),
            "tcp": len(self.tcp),
            "error": self.error,
        }


def _http_status(payload: bytes) -> int | None:
    if not payload.startswith(b"HTTP/"):
        return None
    parts = payload.split(b" ", 2)
    if len(parts) >= 2 and parts[1][:3].isdigit():
        return int(parts[1][:3])
    return None


# Adverts further apart than this many intervals belong to different spells of mastership.
RUN_GAP_INTERVALS = 2.5


def adverts_for(decoded: Decoded, vrid: int) -> list[VrrpAdvert]:
    return sorted((a for a in decoded.adverts if a.vrid == vrid), key=lambda a: a.t)


def garps_for(arps: list[ArpFrame], vip: str) -> list[ArpFrame]:
    return [a for a in arps if a.gratuitous and a.sender_ip == vip]


def mastership_runs(adverts: list[VrrpAdvert], advert_int: float) -> list[dict[str, Any]]:
    """Spells during which one source kept advertising one VRID with a non-zero priority."""
    runs: list[dict[str, Any]] = []
    open_runs: dict[str, dict[str, Any]] = {}
    for advert in adverts:
        if advert.priority == 0:
            run = open_runs.pop(advert.source, None)
            if run is not None:
                run["ended_by"] = "priority 0"
            continue
        run = open_runs.get(advert.source)
        if run is not None and advert.t - run["end"] <= RUN_GAP_INTERVALS * advert_int:
            run["end"] = advert.t
            run["adverts"] += 1
            continue
        run = {
            "source": advert.source,
            "start": advert.t,
            "end": advert.t,
            "adverts": 1,
            "priority": advert.priority,
            "ended_by": None,
        }
        open_runs[advert.source] = run
        runs.append(run)
    return runs


def decode_pcap(path: Path, port: int = 80, clock_offset: float = 0.0) -> Decoded:
    """Every VRRP advert, ARP frame and TCP segment to or from PORT in PATH, in file order,
    on the host's clock (CLOCK_OFFSET: the recording node's clock minus the host's).

    A truncated file (the capture was killed) yields what was complete; a missing or unreadable
    one yields an empty result with the error."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP, Ether
    from scapy.layers.vrrp import VRRP, VRRPv3
    from scapy.utils import PcapReader

    out = Decoded()
    try:
        reader = PcapReader(str(path))
    except (OSError, ValueError) as exc:  # scapy raises Scapy_Exception (a ValueError-like)
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    except Exception as exc:  # noqa: BLE001 - scapy's own exception types for bad files
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    try:
        for frame in reader:
            t = float(frame.time) - clock_offset
            out.frames += 1
            out.first_t = t if out.first_t is None else out.first_t
            out.last_t = t
            mac = frame[Ether].src if Ether in frame else ""
            if ARP in frame:
                arp = frame[ARP]
                out.arps.append(ArpFrame(t, int(arp.op), str(arp.psrc), str(arp.hwsrc), str(arp.pdst)))
            elif VRRP in frame:
                adv = frame[VRRP]
                out.adverts.append(
                    VrrpAdvert(
                        t,
                        str(frame[IP].src),
                        mac,
                        int(adv.vrid),
                        int(adv.priority),
                        float(adv.adv),
                        int(adv.version),
                        int(adv.authtype),
                        tuple(str(a) for a in adv.addrlist),
                    )
                )
            elif VRRPv3 in frame:
                adv3 = frame[VRRPv3]
                out.adverts.append(
                    VrrpAdvert(
                        t,
                        str(frame[IP].src),
                        mac,
                        int(adv3.vrid),
                        int(adv3.priority),
                        int(adv3.adv) / 100,
                        int(adv3.version),
                        0,
                        tuple(str(a) for a in adv3.addrlist),
                    )
                )
            elif TCP in frame and IP in frame:
                seg = frame[TCP]
                if port not in (seg.sport, seg.dport):
                    continue
                payload = bytes(seg.payload)
                out.tcp.append(
                    TcpSegment(
                        t,
                        str(frame[IP].src),
                        str(frame[IP].dst),
                        int(seg.sport),
                        int(seg.dport),
                        str(seg.flags),
                        mac,
                        _http_status(payload) if seg.sport == port else None,
                    )
                )
    except EOFError:
        pass  # a capture cut mid-frame: keep what was whole
    except Exception as exc:  # noqa: BLE001 - a damaged file still gives its first part
        out.error = f"{type(exc).__name__}: {exc}"
    finally:
        reader.close()
    return out
