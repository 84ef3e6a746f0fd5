"""HTTP through each VIP from the host side of the lab network, inside the lab's namespace.

`labctl up`'s HTTP check from here costs the emulated client nothing (no SSH round trip, no
curl process per request) and crosses the same path: the lab bridge, the VIP's balancer, a real
answering directly. Rows have the shape of provision/client/http-check.sh's lines.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from labctl.lab.host import netns

HttpRow = tuple[str, str, str]  # (vip, status or "000", real or "-")


def _one_request(namespace: str, vip: str, port: int, timeout: float) -> HttpRow:
    try:
        with netns.connect_in(namespace, vip, port, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET / HTTP/1.0\r\nHost: {vip}\r\nUser-Agent: labctl-check\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except (OSError, netns.NetnsError):
        return (vip, "000", "-")
    return parse_response_head(vip, data)


def parse_response_head(vip: str, data: bytes) -> HttpRow:
    """(vip, status, real) from the head of an HTTP response (X-Real-Server names the real)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split() if lines else []
    status = parts[1] if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit() else "000"
    real = "-"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-real-server" and value.strip():
            real = value.strip()
    return (vip, status, real)


def http_rows(namespace: str, vips: list[str], port: int, count: int, timeout: float = 3.0) -> list[HttpRow]:
    """COUNT requests to each VIP, each on a connection of its own (so a round-robin director
    shows every real); the VIPs in parallel, the requests to one VIP one after the other."""

    def one_vip(vip: str) -> list[HttpRow]:
        return [_one_request(namespace, vip, port, timeout) for _ in range(count)]

    with ThreadPoolExecutor(max_workers=max(len(vips), 1), thread_name_prefix="http-check") as pool:
        return [row for rows in pool.map(one_vip, vips) for row in rows]
