"""The traffic experiment's load and its measuring: iperf3 inside the lab, tap counters outside.

The load is real UDP through IPVS: one iperf3 client per VIP on the client, one iperf3 server
per VIP on every real (each binds its VIP, which sits on the real's lo in direct routing; an
iperf3 server serves one test at a time, hence one per VIP). For iperf3's TCP control
connection and its UDP data to reach the same real, every balancer gets, for every VIP, a UDP
and a TCP IPVS service on VIP:PORT with the source-hashing scheduler (`sh`) and every real in
the lab's order (`-g`, direct routing): identical real lists hash one client to the same real
on every director, so a VIP that moves keeps its real. `net.ipv4.vs.sloppy_tcp=1` lets the new
director take up the control connection in mid-stream after a hand-over (without it, the
packet would reach the director's own stack and the client would get a RST). keepalived
leaves services that are not in its config alone; labctl records the services it added in
/run/labctl/iperf/ on each balancer, and removes exactly those (`iperf-services-clear`).
While the experiment runs they are also kept for the balancer's boots: a balancer powered on
again gets its VIPs back from keepalived seconds into its boot, long before labctl can reach
it, and a VIP without its service would reach the balancer's own stack (ICMP port
unreachable, which ends iperf3's client). So the rules go to /etc/labctl/iperf-ipvs.rules and a
oneshot unit loads them with `ipvsadm -R` before keepalived starts (after labctl-ipvs-rules.service
or Debian's ipvsadm.service, which flush the table before restoring the lab's own rules).

Nothing is read while the load runs (measuring costs the lab nothing): every iperf3 writes its
per-second lines to a log under /run/labctl/iperf/, and `stop` ends the clients (SIGINT: they
tell their servers the test is over), then the servers, and fetches each node's logs in the
same SSH call, saved raw in the run folder as traffic-NAME-NODE.txt (labctl.observe.iperf
parses them). Each balancer's load comes from the host-side byte counters of its tap
(labctl.lab.links.tapcounters samples them, labctl.observe.tapcounters reads them), recorded every
second in counters.txt.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.lab.host import netns, safefiles
from labctl.lab.host.processes import PopenLineStream, dies_with_parent
from labctl.lab.links import tapcounters
from labctl.lab.runtime import LabAccess
from labctl.observe.iperf import DATAGRAM, MARKER, WIRE_OVERHEAD, log_name
from labctl.scenario.access import RUN_DIR
from labctl.scenario.clock import ClockOffset
from labctl.scenario.linkactions import host_link
from labctl.scenario.streams import RecordedStream
from labctl.templating import render

PORT = 5201  # iperf3's own port
IPERF_DIR = f"{RUN_DIR}/iperf"  # root's; /run is a tmpfs: a rebooted node starts without it
SERVICES_FILE = f"{IPERF_DIR}/ipvs-services"  # `-u VIP:PORT` / `-t VIP:PORT`, one a line
# Kept for the balancer's boots while the experiment runs (iperf-services-clear removes them):
# the services' rules, the unit that loads them before keepalived starts, and sloppy_tcp's
# value before labctl (after a boot the unit has set it already).
CONFIG_DIR = "/etc/labctl"
RULES_FILE = f"{CONFIG_DIR}/iperf-ipvs.rules"  # `ipvsadm -S -n` lines, for `ipvsadm -R`
SLOPPY_FILE = f"{CONFIG_DIR}/iperf-sloppy_tcp.before"
UNIT_DIR = "/etc/systemd/system"
BOOT_UNIT = f"{UNIT_DIR}/labctl-iperf-ipvs.service"
BOOT_WANTS = f"{UNIT_DIR}/multi-user.target.wants/labctl-iperf-ipvs.service"
SLOPPY = "net.ipv4.vs.sloppy_tcp"
# Epoch seconds before each line: no time zone or locale to guess when reading the logs back.
TIMESTAMPS = "--timestamps=%s "
STOP_WAIT_S = 3.0  # how long an interrupted iperf3 gets to end its test before SIGKILL


def raw_name(stream: str, node: str) -> str:
    """The run folder's file with NODE's logs of traffic stream STREAM."""
    return f"traffic-{stream}-{node}.txt"


@dataclass(frozen=True)
class TrafficSpec:
    name: str  # the stream's name in the scenario (letters, digits, - and _)
    vips: tuple[str, ...]  # addresses
    rate_bps: float  # in total, on the wire, split evenly over the VIPs
    port: int = PORT
    datagram: int = DATAGRAM
    duration: float = 0.0  # seconds; 0 until stopped

    @property
    def per_vip_bps(self) -> float:
        return self.rate_bps / len(self.vips)

    @property
    def payload_bps(self) -> float:
        """What iperf3's -b asks of each client: it paces payload bits, the wire carries more."""
        return self.per_vip_bps * self.datagram / (self.datagram + WIRE_OVERHEAD)

    def log(self, role: str, vip: str) -> str:
        return f"{IPERF_DIR}/{log_name(self.name, role, vip)}"

    def pidfile(self, role: str, vip: str) -> str:
        return f"{IPERF_DIR}/{self.name}.{role}.{vip}.pid"

    def server_argv(self, vip: str) -> list[str]:
        return [
            "iperf3", "-s", "-B", vip, "-p", str(self.port), "-i", "1", "--forceflush", TIMESTAMPS,
            "--logfile", self.log("server", vip), "-D", "-I", self.pidfile("server", vip),
        ]  # fmt: skip

    def client_argv(self, vip: str) -> list[str]:
        return [
            "iperf3", "-c", vip, "-p", str(self.port), "-u", "-b", f"{round(self.payload_bps)}",
            "-l", str(self.datagram), "-t", f"{self.duration:g}", "-i", "1", "--forceflush", TIMESTAMPS,
            "--logfile", self.log("client", vip),
        ]  # fmt: skip


# --- shell run on the nodes (each one SSH call): templates in labctl/templates/traffic/ ---------


def _render(template: str, **context: object) -> str:
    """A script of labctl/templates/traffic/ with the paths and constants every one may use."""
    return render(
        f"traffic/{template}",
        iperf_dir=IPERF_DIR,
        services_file=SERVICES_FILE,
        config_dir=CONFIG_DIR,
        rules_file=RULES_FILE,
        sloppy_file=SLOPPY_FILE,
        unit_dir=UNIT_DIR,
        boot_unit=BOOT_UNIT,
        boot_wants=BOOT_WANTS,
        sloppy=SLOPPY,
        # The stop lines: how long an interrupted iperf3 gets before SIGKILL, in tenths of a second.
        stop_tries=round(STOP_WAIT_S * 10),
        **context,
    )


def _per_vip(spec: TrafficSpec, role: str, argv: Callable[[str], list[str]]) -> list[dict[str, object]]:
    return [
        {"vip": vip, "log": spec.log(role, vip), "pidfile": spec.pidfile(role, vip), "argv": argv(vip)}
        for vip in spec.vips
    ]


def servers_script(spec: TrafficSpec, wait: float = 5.0) -> str:
    """Start one daemonized iperf3 server per VIP and return once each wrote its PID file; a
    server that did not start prints its log and fails the call."""
    servers = _per_vip(spec, "server", spec.server_argv)
    return _render("servers.sh.j2", stream=spec.name, servers=servers, wait_tries=round(wait * 10))


def clients_script(spec: TrafficSpec, check_after: float = 1.5) -> str:
    """Start one iperf3 client per VIP in its own session (it outlives the SSH call), print
    `@started NODE_TIME` right after, and after CHECK_AFTER seconds fail with the log of any
    client that already ended (no server reached, say)."""
    clients = _per_vip(spec, "client", spec.client_argv)
    return _render("clients.sh.j2", stream=spec.name, clients=clients, check_after=f"{check_after:g}")


def stop_script(stream: str | None = None) -> str:
    """Stop the iperf3 processes of STREAM on a node (every stream's when None): SIGINT (a client
    sends its end of test, a server writes its totals), up to STOP_WAIT_S, then SIGKILL. A PID
    whose process is not iperf3 any more is left alone."""
    return _render("stop.sh.j2", prefix=f"{stream}." if stream else "")


def stop_and_fetch_script(stream: str, roles: tuple[str, ...]) -> str:
    """Stop STREAM's iperf3 processes of ROLES on a node, then print each of its logs under a
    `@@log FILE` line (the logs stay on the node, in /run)."""
    return _render("stop-and-fetch.sh.j2", stream=stream, roles=roles, log_format=f"\\n{MARKER}%s\\n")


def boot_unit() -> str:
    """The systemd unit that puts labctl's iperf3 services back at boot, before keepalived can
    claim a VIP (a VIP without its service would reach the balancer's own stack: ICMP port
    unreachable, and iperf3's client dies of it). After labctl-ipvs-rules.service (and Debian's
    ipvsadm.service, where it runs), which clear the table (`ipvsadm -C`) before loading
    /etc/ipvsadm.rules: `ipvsadm -R` adds to the table and clears nothing. (No `$` in it: systemd would
    expand it.)"""
    return _render("labctl-iperf-ipvs.service.j2")


def services_script(vips: list[str], reals: list[str], port: int, root: str = "") -> str:
    """On a balancer: a UDP and a TCP IPVS service on VIP:PORT for every VIP (sh, every real
    with -g, in the order given), each recorded in SERVICES_FILE as soon as it exists, and
    sloppy_tcp on (its value before recorded once, in SLOPPY_FILE). Then the same kept for the
    balancer's boots while the experiment runs: labctl's services saved in RULES_FILE (`ipvsadm
    -S -n` lines) and BOOT_UNIT (boot_unit()), enabled by its wants link (systemd reads it at the
    next boot; no daemon-reload, no enable: each costs seconds under emulation).

    A service of that address that labctl did not add is not touched: the call fails instead.
    One that came back at boot (in the table just as RULES_FILE has it) is labctl's own.
    ROOT prefixes every file written (tests run the script on a scratch tree)."""
    return _render("services.sh.j2", vips=vips, reals=reals, port=port, root=root)


def clear_services_script(root: str = "") -> str:
    """Undo services_script: the boot unit and its wants link first (a crash halfway leaves
    nothing to come back at boot), then the services SERVICES_FILE and RULES_FILE list (and
    nothing else), RULES_FILE, and sloppy_tcp as it was before labctl."""
    return _render("clear-services.sh.j2", root=root)


# --- the experiment's load --------------------------------------------------------------------


class TrafficError(LabctlError, RuntimeError):
    """The traffic experiment could not be set up, run or read."""


@dataclass
class TrafficRun:
    """One traffic stream: servers on REALS, clients on CLIENT, logs fetched once at stop.
    ON_STOPPED(node) is told of each node whose iperf3 processes are gone (the journal)."""

    access: LabAccess
    spec: TrafficSpec
    client: str
    reals: list[str]
    out: Path
    on_stopped: Callable[[str], None] = lambda node: None
    started: float | None = None  # host time, once the clients run
    fetched: dict[str, int] = field(default_factory=dict)  # node -> bytes saved
    errors: list[str] = field(default_factory=list)
    _finished: bool = False

    @property
    def finished(self) -> bool:
        return self._finished

    def start_servers(self) -> None:
        """On every real at once (a round trip with sudo costs about a second under TCG)."""
        with ThreadPoolExecutor(max_workers=max(len(self.reals), 1)) as pool:
            results = pool.map(lambda real: self.access.run(real, servers_script(self.spec), sudo=True, timeout=30),
                               self.reals)  # fmt: skip
        for real, result in zip(self.reals, results):
            if not result.ok:
                raise TrafficError(f"{real}: {(result.stderr or result.stdout).strip()}")

    def start_clients(self, clock: ClockOffset | None) -> float:
        """Start the clients; returns the host time at which they started (the node's own
        `date` right after starting them, moved to host time with CLOCK when known)."""
        before = time.time()
        result = self.access.run(self.client, clients_script(self.spec), sudo=True, timeout=30)
        node_time = next(
            (float(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("@started ")), None
        )
        self.started = clock.to_host(node_time) if clock is not None and node_time is not None else before
        if not result.ok:
            raise TrafficError(f"{self.client}: {(result.stderr or result.stdout).strip()}")
        return self.started

    def stop(self) -> dict[str, Any]:
        """Clients first, then servers; each node's logs into the run folder. Idempotent."""
        if self._finished:
            return {"fetched": self.fetched, "errors": self.errors}
        self._finished = True
        self._stop_and_fetch(self.client, ("client",))
        # The servers once no datagram is on its way, every real at once.
        with ThreadPoolExecutor(max_workers=max(len(self.reals), 1)) as pool:
            list(pool.map(lambda real: self._stop_and_fetch(real, ("server",)), self.reals))
        return {"fetched": self.fetched, "errors": self.errors}

    def _stop_and_fetch(self, node: str, roles: tuple[str, ...]) -> None:
        try:
            result = self.access.run(
                node, stop_and_fetch_script(self.spec.name, roles), sudo=True, timeout=30 + 2 * STOP_WAIT_S
            )
        except Exception as exc:  # noqa: BLE001 - the other nodes' logs still count
            self.errors.append(f"{node}: {type(exc).__name__}: {exc}")
            return
        raw = self.out / raw_name(self.spec.name, node)
        safefiles.write_file(raw, result.stdout, 0o644)
        self.fetched[node] = len(result.stdout)
        if result.ok:
            self.on_stopped(node)
        else:
            self.errors.append(f"{node}: {(result.stderr or result.stdout).strip()[-300:]}")


# --- the tap counters -------------------------------------------------------------------------


def start_counters(access: LabAccess, node: str, raw: Path, interval: float = 1.0) -> RecordedStream:
    """The tap counters of the namespace holding NODE's host-side link (every tap is there)."""
    link = host_link(access, node)
    if link is None:
        raise RuntimeError("the lab has no host side to count its links on (not sandboxed)")
    argv = dies_with_parent(netns.exec_argv(link.namespace, tapcounters.sampler_argv(interval)))
    return RecordedStream("counters", PopenLineStream.start(argv, stderr=subprocess.DEVNULL), raw)
