"""Recorded-style runs for the scenario unit tests: capture loop output and probe lines in the
exact formats the scripts print, for a failover where b1's keepalived is SIGKILLed at t=10 s.

Timeline (VRRP theory for VI_1: b2 takes over after 3 x 1 + (256 - 101)/256 = 3.605 s):
  0-10     b1 holds 10.10.1.10 (VI_1), b2 .20, b3 .30; all requests succeed
  10       keepalived on b1 killed: b1 keeps 10.10.1.10 on eth1 (never removed)
  13.6     b2 adds 10.10.1.10: two holders
  10-13.6  requests to 10.10.1.10 fail (timeouts), then b2 answers
  20       keepalived on b1 started; 23.7 b1 is MASTER again, b2 drops 10.10.1.10
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures"
REFERENCE_IPVS = (FIXTURES / "ipvsadm_ln_reference.txt").read_text()
T0 = 1_700_000_000.0
INTERVAL = 0.2
END = 30.0


def ipvs_text(inact: int = 0, active: int = 0) -> str:
    """The reference table with counters on VIP 10.10.1.10's two reals."""
    lines = REFERENCE_IPVS.splitlines()
    out = []
    service = None
    for line in lines:
        if line.startswith("TCP"):
            service = line.split()[1]
        if line.strip().startswith("-> 10.10.1.1") and service == "10.10.1.10:80":
            addr = line.split()[1]
            out.append(f"  -> {addr:<28}Route   1      {active:<10} {inact}")
        else:
            out.append(line)
    return "\n".join(out)


def held(node: str, t: float) -> list[str]:
    vips = {"b1": ["10.10.1.10"], "b2": ["10.10.1.20"], "b3": ["10.10.1.30"]}[node][:]
    if node == "b2" and 13.6 <= t < 23.7:
        vips.append("10.10.1.10")
    return vips


def vrrp(node: str, t: float) -> dict[str, str]:
    own = {"b1": "VI_1", "b2": "VI_2", "b3": "VI_3"}[node]
    states = {name: "BACKUP" for name in ("VI_1", "VI_2", "VI_3")}
    states[own] = "MASTER"
    if node == "b2" and 13.6 <= t < 23.7:
        states["VI_1"] = "MASTER"
    return states


def capture_text(node: str, address: str, inact_at=None, with_timeout: bool = False) -> str:
    lines = []
    steps = int(END / INTERVAL)
    for i in range(steps):
        t = i * INTERVAL
        lines.append(f"@@sample {T0 + t:.9f}")
        lines.append("@@addr")
        lines.append("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever")
        lines.append(f"3: eth1    inet {address}/24 scope global eth1\\       valid_lft forever preferred_lft forever")
        for vip in held(node, t):
            lines.append(
                f"3: eth1    inet {vip}/24 scope global secondary eth1\\       valid_lft forever preferred_lft forever"
            )
        lines.append("@@vrrp")
        lines.extend(f"{k} {v}" for k, v in vrrp(node, t).items())
        lines.append("@@ipvs")
        inact = inact_at(t) if inact_at and node == "b1" else 0
        lines.extend(ipvs_text(inact).splitlines())
        if with_timeout:
            lines.append("@@timeout")
            lines.append("Timeout (tcp tcpfin udp): 900 10 300")
        lines.append("@@end")
    return "\n".join(lines) + "\n"


def probe_lines(rate: float = 20.0) -> list[str]:
    lines = [json.dumps({"probe": "start", "t": T0})]
    reals = ["r1", "r2"]
    for i in range(int(END * rate)):
        t = i / rate
        for n, vip in enumerate(("10.10.1.10", "10.10.1.20", "10.10.1.30")):
            down = vip == "10.10.1.10" and 10.0 <= t < 13.65
            record = {
                "t": T0 + t,
                "vip": vip,
                "seq": i,
                "ok": not down,
                "status": None if down else 200,
                "error": "timeout" if down else None,
                "ms": 500.0 if down else 1.2,
                "real": None if down else reals[(i + n) % 2],
            }
            lines.append(json.dumps(record))
    lines.append(json.dumps({"probe": "end", "t": T0 + END}))
    return lines


def events(method_action: str = "keepalived-kill") -> list[dict]:
    holders = {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
    return [
        {"t": T0 - 1, "kind": "start", "scenario": "failover"},
        {
            "t": T0 + 10.0,
            "kind": "action",
            "action": method_action,
            "node": "b1",
            "phase": "down",
            "t_start": T0 + 10.0,
            "t_end": T0 + 10.02,
            "holders_before": holders,
        },
        {
            "t": T0 + 20.0,
            "kind": "action",
            "action": "keepalived-start",
            "node": "b1",
            "phase": "up",
            "t_start": T0 + 20.0,
            "t_end": T0 + 20.05,
            "holders_before": holders,
        },
        {"t": T0 + END, "kind": "end", "error": None},
    ]


def write_run(folder: Path, expectations: list[dict] | None = None, inact_at=None, with_timeout: bool = False) -> Path:
    """A complete run folder as the engine leaves it."""
    from labctl.model.lab import reference_lab
    from labctl.model.labrecord import lab_to_dict
    from labctl.scenario import runfiles

    folder.mkdir(parents=True, exist_ok=True)
    lab = reference_lab()
    addresses = {n.name: n.address for n in lab.balancers}
    clocks = {}
    for node, address in addresses.items():
        raw = f"capture-{node}.1.txt"
        (folder / raw).write_text(capture_text(node, address, inact_at, with_timeout))
        clocks[raw] = {"node": node, "offset": 0.0, "rtt": 0.001}
    (folder / "probe-main.jsonl").write_text("\n".join(probe_lines()) + "\n")
    clocks["probe-main.jsonl"] = {"node": "c1", "offset": 0.0, "rtt": 0.001}
    runfiles.write_json(folder / "clock.json", clocks)
    for event in events():
        runfiles.append_event(folder / "events.jsonl", event)
    runfiles.write_json(
        folder / "run.json",
        {
            "scenario": "failover",
            "description": "test run",
            "file": "failover.yaml",
            "params": {"method": "keepalived-kill", "vip": "VI_1"},
            "started": T0 - 1,
            "lab": lab_to_dict(lab),
            "expectations": expectations or [],
        },
    )
    return folder


TAPS = {"b1": "v1", "b2": "v2", "b3": "v3"}


def traffic_failure_events(vips: list[str], down: str = "power-off", up: str = "power-on") -> list[dict]:
    """The events of a capacity-traffic run: links shaped to 10 Mbit/s, 15 Mbit/s asked over
    VIPS (addresses) from t=0.3, b1 taken down (DOWN) from 10 to 30 s, then back (UP)."""
    return [
        {"kind": "counters_start", "t": 0.0, "links": TAPS},
        {"kind": "action_details", "action": "shape", "node": "b1", "t": 0.0, "interface": "v1", "rate_bps": 10e6},
        {"kind": "traffic_start", "t": 0.4, "name": "main", "started": 0.3, "datagram": 1200, "rate_bps": 15e6,
         "vips": vips},
        {"kind": "action", "action": down, "phase": "down", "node": "b1", "t_start": 10.0, "t_end": 10.5},
        {"kind": "action", "action": up, "phase": "up", "node": "b1", "t_start": 30.0, "t_end": 60.0},
    ]  # fmt: skip
