"""`labctl capture`: record the lab segment while you experiment by hand."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import click
from rich.table import Table

from labctl.cli.console import make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.errors import LabctlError

console = make_console(soft_wrap=False)
err_console = make_console(stderr=True)


@click.command("capture")
@click.option(
    "--for",
    "seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop after SECONDS (default: at Ctrl-C).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The pcap file (default: results/capture-<timestamp>.pcap next to the lab file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was captured as JSON.")
@lab_option
def capture(seconds: float | None, output: Path | None, as_json: bool, lab_path: Path) -> None:
    """Record the lab network to a pcap file while you experiment by hand.

    The recording is made on the host side of the lab network, inside the lab's namespace
    (sandboxed libvirt labs): every frame has the host's clock and the VMs pay nothing. It
    keeps VRRP adverts, ARP and TCP to and from the service port. Open the file in Wireshark
    or with `tcpdump -r`; labctl prints who advertised which VRRP instance, the gratuitous ARPs
    per VIP and how many requests were answered.

    \b
    Examples:
      labctl capture --for 30                  # then kill a balancer in another terminal
      labctl capture -o failover.pcap          # until Ctrl-C
    """
    from labctl.lab.access import open_lab
    from labctl.lab.links.packet_capture import PacketCapture
    from labctl.observe.packets import decode_pcap
    from labctl.report.packet_overview import overview

    lab = read_lab_or_exit(lab_path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = output or lab_path.resolve().parent / "results" / f"capture-{stamp}.pcap"
    with open_lab(lab_path) as access:
        point = access.capture_point()
        if point is None:
            raise LabctlError(
                "this lab has no host-side capture point (only sandboxed libvirt labs have one)",
                fix="capture inside a VM: labctl ssh c1 -- sudo tcpdump -i eth1",
            )
        recorder = PacketCapture(point, path, lab.ipvs.port)
        if not recorder.start():
            raise LabctlError(f"the capture did not start: {recorder.error}")
        err_console.print(
            f"recording {point.what} to {path}" + (f" for {seconds:g} s" if seconds else " until Ctrl-C"),
            markup=False,
        )
        started = time.monotonic()
        try:
            while seconds is None or time.monotonic() - started < seconds:
                time.sleep(0.5)
                if not as_json:
                    size = path.stat().st_size if path.exists() else 0
                    err_console.print(f"  {time.monotonic() - started:5.0f} s  {size / 1e3:8.1f} kB", end="\r")
        except KeyboardInterrupt:
            pass
        result = recorder.stop()
    if not as_json:
        err_console.print()
    if not result["ok"]:
        raise LabctlError(f"the capture failed: {result['error']}")
    seen = overview(decode_pcap(path, lab.ipvs.port), lab)
    seen["file"] = str(path)
    seen["capture"] = result
    if as_json:
        click.echo(json.dumps(seen, indent=2, default=str))
        return
    _print(seen)


def _print(seen: dict) -> None:
    table = Table(title=plain(f"{seen['file']}: {seen['capture'].get('frames')} frames"))
    for column in (
        "VIP",
        "VRID",
        "advertisers (adverts, priorities)",
        "gratuitous ARPs",
        "requests answered",
        "two advertisers",
    ):
        table.add_column(column)
    for name, vip in seen["vips"].items():
        advertisers = (
            ", ".join(
                f"{n} ({e['adverts']}, {'/'.join(map(str, e['priorities']))})" for n, e in vip["advertisers"].items()
            )
            or "-"
        )
        garps = ", ".join(f"{n}: {c}" for n, c in vip["gratuitous_arps"].items()) or "-"
        req = vip["requests"]
        two = (
            ", ".join(f"{'+'.join(d['sources'])} {d['duration_s']:g} s ({d['kind']})" for d in vip["two_advertisers"])
            or "-"
        )
        answered = f"{req['answered']}/{req['requests']}"
        table.add_row(*map(plain, (f"{name} {vip['address']}", vip["vrid"], advertisers, garps, answered, two)))
    console.print(table)
    for node, j in seen["jitter"].items():
        console.print(
            f"  {node}: advert jitter p50 {j['p50_ms']:g} ms, p95 {j['p95_ms']:g} ms, "
            f"max {j['max_ms']:g} ms over {j['intervals']} intervals",
            markup=False,
        )
