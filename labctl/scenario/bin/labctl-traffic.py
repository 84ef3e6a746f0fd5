#!/usr/bin/env python3
"""Paced UDP traffic to VIPs, the offered load of the traffic experiments (labctl).

Sends RATE bits/s in total, split evenly over the VIPs, as DATAGRAM-byte UDP datagrams to
PORT, from one unconnected socket per VIP (ICMP errors from a VIP without a listener do not
stop it). Prints `TIME VIP BYTES` per VIP every second (bytes offered so far, counted as a link
counter sees them), between `@start RATE` and `@end`. Modules of python3-minimal only: it runs
on the host side of the lab network or inside the client.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

TICK = 0.005  # pacing granularity: small bursts keep the rate even at the scale of a second


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vip", action="append", required=True)
    parser.add_argument("--rate", type=float, required=True, help="total bits/s")
    parser.add_argument("--port", type=int, default=9)
    parser.add_argument("--datagram", type=int, default=1200)
    parser.add_argument("--duration", type=float, default=0.0, help="seconds, 0 until stopped")
    args = parser.parse_args()
    payload = b"\0" * args.datagram
    wire = args.datagram + 28 + 14  # UDP, IP and Ethernet headers: what a link counter sees
    per_vip = args.rate / len(args.vip) / 8  # bytes/s on the wire, per VIP
    sockets = {vip: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for vip in args.vip}
    sent = dict.fromkeys(args.vip, 0)
    start = time.monotonic()
    wall = time.time() - start
    report = start + 1.0
    print(f"@start {args.rate:g}", flush=True)
    while not args.duration or time.monotonic() - start < args.duration:
        now = time.monotonic()
        for vip, sock in sockets.items():
            while sent[vip] + wire <= per_vip * (now - start):
                try:
                    sock.sendto(payload, (vip, args.port))
                except OSError:
                    pass  # a full queue or no route for a moment: the datagram counts as offered
                sent[vip] += wire
        if now >= report:
            for vip in args.vip:
                print(f"{wall + now:.6f} {vip} {sent[vip]}")
            sys.stdout.flush()
            report += 1.0
        time.sleep(TICK)
    print("@end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
