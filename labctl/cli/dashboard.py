"""`labctl dashboard`: option parsing and the printed URL; the page lives in labctl.dashboard."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.options import lab_option, read_lab_or_exit

console = make_console()


@click.command("dashboard")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="TCP port to serve on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback requires the printed token.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option(
    "--interval", default=2.0, show_default=True, type=click.FloatRange(1.0, 60.0), help="Seconds between polls."
)
@lab_option
def dashboard(port: int, host: str, open_browser: bool, interval: float, lab_path: Path) -> None:
    """A live page of the lab for a projector: the lab file drawn (client, balancers, reals,
    addresses, VIPs) and animated from the running lab: who holds each VIP, each balancer's
    VRRP state per instance, IPVS ActiveConn/InActConn per real, and events (node down, VIP
    moved, duplicate holder) as they happen. While `labctl scenario run` goes, it follows the
    run: the step, a wait's countdown, narration, the outage, and a link to report.html.

    \b
    Costs: one SSH round trip per balancer every --interval seconds (reals and client every
    third poll). The probe strip shows the requests of scenario runs (read from their
    results/<run>/ files); the dashboard sends no probes of its own.
    Bound to 127.0.0.1 by default; with another --host a token is generated and every
    request without it is refused (403). All assets are served by labctl: no internet.
    Works when the lab is down, and says so."""
    from aiohttp import web

    from labctl.dashboard.app import is_loopback, make_app, new_token
    from labctl.dashboard.hub import Hub
    from labctl.dashboard.poller import Poller
    from labctl.dashboard.runs import RunFollower, RunReadings
    from labctl.dashboard.sources import LiveLabSource

    lab = read_lab_or_exit(lab_path)
    token = None if is_loopback(host) else new_token()
    results = lab_path.resolve().parent / "results"
    # While a scenario runs, the poller reads the run's own polling files instead of the VMs.
    poller = Poller(LiveLabSource(lab, lab_path), interval, run_readings=RunReadings(results))
    hub = Hub(poller, RunFollower(results, lab))
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"dashboard of lab {lab.name}: {url}  (Ctrl-C to stop)", markup=False)
    if open_browser:
        webbrowser.open(url)
    # Open event streams never end by themselves: Ctrl-C waits at most 2 s for them.
    web.run_app(
        make_app(hub, results, token), host=host, port=port, print=None, handle_signals=True, shutdown_timeout=2.0
    )
