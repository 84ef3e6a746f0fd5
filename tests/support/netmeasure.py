"""Small measuring programs for namespace tests, run with this Python inside a namespace: a
UDP echo (loss and round-trip time, like ping without needing iputils) and a TCP sender and
sink (the rate through a shaped link)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass

from labctl.lab.host import netns

ECHO_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

ECHO_CLIENT = """
import json, socket, sys, time
address, port, count, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.15)
rtts = []
for i in range(count):
    sent = time.monotonic()
    s.sendto(str(i).encode(), (address, port))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if data == str(i).encode():
                rtts.append(1000 * (time.monotonic() - sent))
                break
    except socket.timeout:
        pass
    time.sleep(gap)
print(json.dumps({"sent": count, "answered": len(rtts), "rtts": rtts}))
"""

SINK = """
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
conn, _ = s.accept()
total, first, last = 0, None, None
while True:
    data = conn.recv(65536)
    if not data:
        break
    now = time.monotonic()
    first = now if first is None else first
    total, last = total + len(data), now
print(json.dumps({"bytes": total, "seconds": (last - first) if first else 0}), flush=True)
"""

SENDER = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
end = time.monotonic() + float(sys.argv[3])
chunk = b"x" * 65536
while time.monotonic() < end:
    s.sendall(chunk)
s.close()
"""


@dataclass(frozen=True)
class Echo:
    sent: int
    answered: int
    rtt_ms: float  # the median round trip of the answered ones

    @property
    def loss_pct(self) -> float:
        return 100.0 * (self.sent - self.answered) / self.sent


def _python(ns: str, code: str, *args: str) -> list[str]:
    return netns.exec_argv(ns, [sys.executable, "-c", code, *args])


def echo_server(ns: str, address: str, port: int = 7007) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(_python(ns, ECHO_SERVER, address, str(port)), stdin=subprocess.DEVNULL)
    time.sleep(0.3)
    return server


def echo(ns: str, address: str, count: int = 200, gap: float = 0.002, port: int = 7007) -> Echo:
    out = subprocess.run(
        _python(ns, ECHO_CLIENT, address, str(port), str(count), str(gap)), capture_output=True, text=True, timeout=120
    )
    result = json.loads(out.stdout)
    rtts = sorted(result["rtts"])
    return Echo(result["sent"], result["answered"], rtts[len(rtts) // 2] if rtts else float("nan"))


def tcp_rate(sender_ns: str, sink_ns: str, address: str, seconds: float = 3.0, port: int = 7008) -> float:
    """Bits per second a TCP stream from SENDER_NS achieved into a sink at ADDRESS in SINK_NS."""
    sink = subprocess.Popen(_python(sink_ns, SINK, address, str(port)), stdout=subprocess.PIPE)
    try:
        time.sleep(0.3)
        subprocess.run(_python(sender_ns, SENDER, address, str(port), str(seconds)), check=True, timeout=seconds + 30)
        out, _ = sink.communicate(timeout=30)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()
    result = json.loads(out)
    return 8 * result["bytes"] / result["seconds"] if result["seconds"] else 0.0


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=5)
