#!/usr/bin/env python3
"""labctl probe: HTTP requests to VIPs at a fixed rate, one JSON line per request on stdout.

Pushed to the client by labctl and run there, so timings are not distorted by SSH. Written for
Debian's python3-minimal, which has socket, threading and argparse but neither json nor
http.client: requests are spoken over a raw socket and JSON is written by hand.

Each line: {"t": start time (s since epoch, client clock), "vip": ..., "seq": n, "ok": bool,
"status": 200 | null, "error": "timeout" | "refused" | ... | null, "ms": latency,
"real": value of X-Real-Server | null}. A new TCP connection per request, like curl.
"""

import argparse
import socket
import sys
import threading
import time

_out_lock = threading.Lock()


def _quote(text):
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append("\\u%04x" % (ord(ch) & 0xFFFF))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(round(value, 3))
    if isinstance(value, int):
        return str(value)
    return _quote(str(value))


def emit(record):
    line = "{" + ", ".join(_quote(k) + ": " + _value(v) for k, v in record.items()) + "}"
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def classify(exc):
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    name = getattr(exc, "strerror", None) or type(exc).__name__
    return str(name).lower().replace(" ", "-")


def request(vip, port, path, timeout):
    """(status, real, error) of one HEAD request on a fresh connection."""
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((vip, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            (
                "HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: labctl-probe\r\nConnection: close\r\n\r\n" % (path, vip)
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None, None, "bad-response"
    real = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-real-server":
            real = value.strip()
    return int(parts[1]), real, None


def one(vip, seq, args):
    started = time.time()
    t0 = time.monotonic()
    try:
        status, real, error = request(vip, args.port, args.path, args.timeout)
    except Exception as exc:  # every failure is data, never a crash
        status, real, error = None, None, classify(exc)
    ok = error is None and status is not None and 200 <= status < 400
    emit(
        {
            "t": started,
            "vip": vip,
            "seq": seq,
            "ok": ok,
            "status": status,
            "error": error,
            "ms": (time.monotonic() - t0) * 1000.0,
            "real": real,
        }
    )


def run_rate(args):
    """Every 1/rate s start one request per VIP in its own thread, so a request stuck in its
    timeout does not slow the rate down (that is what makes outages measurable)."""
    interval = 1.0 / args.rate
    start = time.monotonic()
    tick = 0
    end = start + args.duration if args.duration else None
    while args.count == 0 or tick < args.count:
        now = time.monotonic()
        if end is not None and now >= end:
            break
        for vip in args.vip:
            threading.Thread(target=one, args=(vip, tick, args), daemon=True).start()
        tick += 1
        time.sleep(max(start + tick * interval - time.monotonic(), 0))
    time.sleep(args.timeout + 0.1)  # let the last requests report


def run_sequential(args):
    """Like `for i in {1..N}; do curl -I -s VIP; done`: one request after the other."""
    for seq in range(args.count):
        for vip in args.vip:
            one(vip, seq, args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vip", action="append", required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--path", default="/")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s per VIP")
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--count", type=int, default=0, help="requests per VIP; 0: no limit")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0: no limit")
    parser.add_argument("--sequential", action="store_true")
    args = parser.parse_args()
    emit({"probe": "start", "t": time.time(), "rate": args.rate, "vips": ",".join(args.vip)})
    try:
        if args.sequential:
            run_sequential(args)
        else:
            run_rate(args)
    except KeyboardInterrupt:
        pass
    emit({"probe": "end", "t": time.time()})


if __name__ == "__main__":
    main()
