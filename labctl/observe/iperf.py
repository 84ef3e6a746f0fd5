"""iperf3's text logs (3.12, `-i 1 --forceflush --timestamps=%s `) -> per-second records.

The traffic experiment runs one UDP iperf3 client per VIP on the client and one iperf3 server
per VIP on every real; labctl fetches their log files once, at the end, as one text per node:
each file under a marker line `@@log FILE` (FILE is `STREAM.ROLE.VIP.log`). These parsers read
that text back. A per-second line looks like

    client: 1795660521 [  6]   0.00-1.00   sec  62.1 KBytes   509 Kbits/sec  53
    server: 1795660521 [  6]   0.00-1.00   sec  62.1 KBytes   509 Kbits/sec  0.285 ms  0/53 (0%)

The client's last figure is the datagrams it sent in that interval; the server's `LOST/TOTAL`
is what it missed and what it should have had by the datagrams' sequence numbers. Lines ending
in `sender` or `receiver` are the test's totals, not seconds, and are skipped. The leading
number is the moment the line was printed, in whole seconds of the node's clock (epoch, so no
time zone or locale to guess); the interval bounds are seconds since the test started, to the
hundredth.

The logs are read defensively: a line that does not parse (garbage, an unknown format) is
skipped, a last line without its newline (a cut transfer) is dropped, and iperf3 3.12's habit
of printing the last full interval twice at the end of a test is undone (one record per
interval of a test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = "@@log "
DATAGRAM = 1200  # UDP payload bytes of the experiment's datagrams (iperf3 -l), unless a step says otherwise
# Bytes a frame carries beyond a datagram's payload: UDP 8, IPv4 20, Ethernet 14. The rates of
# the experiment are rates on the wire, as a tap's byte counter and the tbf on it see them.
WIRE_OVERHEAD = 42
ROLES = ("client", "server")

_STAMP = re.compile(r"^(\d{1,12})\s+(.*)$")
_INTERVAL = re.compile(
    r"^\[\s*(\d+)\]\s+(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\s+sec\s+\d+(?:\.\d+)?\s+\w?Bytes\s+"
    r"\d+(?:\.\d+)?\s+\w?bits/sec\s+(.*)$"
)
_CLIENT_TAIL = re.compile(r"^(\d+)$")
_SERVER_TAIL = re.compile(r"^\d+(?:\.\d+)?\s+ms\s+(-?\d+)/(\d+)\s+\(\s*-?[\d.e+-]*%\s*\)$")
# Lines that start a new test in a log (a server serves one test after another).
_TEST_START = ("Connecting to host", "Accepted connection from")


@dataclass(frozen=True)
class Interval:
    start: float  # seconds since the test started (iperf3's own clock, to the hundredth)
    end: float
    stamp: int | None  # when the line was printed: whole seconds, node clock (epoch)
    datagrams: int  # client: sent; server: expected by sequence numbers (LOST/TOTAL's TOTAL)
    lost: int | None = None  # server only; may be negative (late datagrams counted again)

    @property
    def received(self) -> int:
        return self.datagrams - (self.lost or 0)


@dataclass(frozen=True)
class IperfTest:
    """One test (one connection) found in one log file."""

    node: str
    role: str  # client or server
    stream: str  # the traffic stream's name in the scenario
    vip: str
    intervals: tuple[Interval, ...]
    offset: float = 0.0  # the node's clock minus the host's, when it was measured


def _complete_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1]  # the last piece has no newline: empty, or a line cut short


def parse_log(text: str, role: str) -> list[tuple[Interval, ...]]:
    """The tests of one iperf3 log, each as its per-second intervals in order."""
    tests: list[list[Interval]] = []
    current: list[Interval] | None = None
    seen: set[tuple[float, float]] = set()
    for raw in _complete_lines(text):
        line = raw.strip().replace("\0", "")
        stamp: int | None = None
        matched = _STAMP.match(line)
        if matched:
            stamp, line = int(matched.group(1)), matched.group(2).strip()
        if any(marker in line for marker in _TEST_START):
            current, seen = None, set()
            continue
        record = _interval(line, role, stamp)
        if record is None:
            continue
        key = (record.start, record.end)
        if current and record.start < current[-1].start:
            current, seen = None, set()  # the offsets went back without a marker: another test
        if current is None:
            current, seen = [], set()
            tests.append(current)
        if key in seen:
            continue  # 3.12 repeats the last full interval when a test ends
        seen.add(key)
        current.append(record)
    return [tuple(t) for t in tests if t]


def _interval(line: str, role: str, stamp: int | None) -> Interval | None:
    matched = _INTERVAL.match(line)
    if matched is None:
        return None
    tail = matched.group(4).strip()
    if tail.endswith(("sender", "receiver")):
        return None  # the test's totals
    try:
        start, end = float(matched.group(2)), float(matched.group(3))
    except ValueError:
        return None
    if end <= start:
        return None
    if role == "client":
        count = _CLIENT_TAIL.match(tail)
        return Interval(start, end, stamp, int(count.group(1))) if count else None
    loss = _SERVER_TAIL.match(tail)
    if loss is None:
        return None
    lost, total = int(loss.group(1)), int(loss.group(2))
    return Interval(start, end, stamp, total, lost)


def log_name(stream: str, role: str, vip: str) -> str:
    """The log file's name on the node (it names the stream, the role and the VIP)."""
    return f"{stream}.{role}.{vip}.log"


def parse_fetched(text: str, node: str) -> list[IperfTest]:
    """Every test in NODE's fetched logs (sections after `@@log FILE` lines)."""
    found: list[IperfTest] = []
    sections: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        if line.startswith(MARKER):
            sections.append((line[len(MARKER) :].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    for index, (name, lines) in enumerate(sections):
        parts = name.rsplit("/", 1)[-1].removesuffix(".log").split(".", 2)
        if len(parts) != 3 or parts[1] not in ROLES:
            continue
        stream, role, vip = parts
        # A section ends where the next marker starts; only the last one can be cut short.
        body = "\n".join(lines) + ("\n" if index + 1 < len(sections) else "")
        for intervals in parse_log(body, role):
            found.append(IperfTest(node, role, stream, vip, intervals))
    return found
