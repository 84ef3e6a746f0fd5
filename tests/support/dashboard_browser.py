"""The dashboard in a real browser, for integration and e2e tests: `watch_dashboard` starts the
dashboard (as `labctl dashboard` in a subprocess, or in this process over a given state source)
and Debian's chromium driven by Playwright, and hands the test a DashboardWatch:

    with watch_dashboard(lab_folder, port, artifacts=tmp_path) as dash:
        dash.wait_holder("VI_1", "b1")          # seconds it took; fails after the timeout
        dash.screenshot("before")               # PNG under the artifacts folder (path printed)
        ...power b1 off...
        dash.wait_holder("VI_1", "b2", timeout=60)

Chromium is never downloaded (`playwright install` is not needed): /usr/bin/chromium from apt.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1920, "height": 1080}  # what a classroom projector shows


def artifacts_dir(default: Path, name: str) -> Path:
    """$LABCTL_ARTIFACTS/NAME when set (kept after the run), else DEFAULT."""
    root = os.environ.get("LABCTL_ARTIFACTS")
    folder = Path(root) / name if root else default
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")


@dataclass
class DashboardWatch:
    url: str  # with ?token=... when the dashboard has one
    page: Any  # playwright.sync_api.Page
    context: Any  # playwright.sync_api.BrowserContext
    artifacts: Path
    driver: Any  # playwright.sync_api.Playwright
    # What the browser's console would show a user: errors, and every answer of 400 or more
    # (a missing favicon or asset logs a 404 there).
    problems: list[str] = field(default_factory=list)

    def stranger(self) -> Any:
        """Another browser with a profile of its own (no cookie from this one): a context manager."""
        return fresh_context(self.driver)

    def wait_holder(self, vip: str, node: str, timeout: float = 30.0) -> float:
        """Wait until the page shows VIP held by NODE alone; the seconds it took."""
        started = time.monotonic()
        self.page.wait_for_selector(f'[data-vip="{vip}"][data-holder="{node}"]', timeout=timeout * 1000)
        return time.monotonic() - started

    def holders(self) -> dict[str, str]:
        """VIP name -> the holder(s) the page shows now (space-separated, '' for nobody)."""
        return self.page.eval_on_selector_all(
            "[data-vip]", "els => Object.fromEntries(els.map(e => [e.dataset.vip, e.dataset.holder]))"
        )

    def wait_text(self, text: str, timeout: float = 30.0) -> None:
        self.page.get_by_text(text).first.wait_for(timeout=timeout * 1000)

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / f"dashboard-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"dashboard screenshot: {path}")
        return path

    def fresh_page(self, url: str) -> Any:
        """Another tab of the same browser (same cookies)."""
        page = self.context.new_page()
        page.goto(url)
        return page


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (403 without a token is an answer)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class _InProcess:
    """The dashboard app over SOURCE in a thread with its own event loop."""

    def __init__(self, source: Any, folder: Path, port: int, token: str | None, interval: float) -> None:
        from labctl.dashboard.app import make_app
        from labctl.dashboard.hub import Hub
        from labctl.dashboard.poller import Poller
        from labctl.dashboard.runs import RunFollower, RunReadings

        poller = Poller(source, interval, run_readings=RunReadings(folder / "results"))
        hub = Hub(poller, RunFollower(folder / "results", source.lab))
        self.app = make_app(hub, folder / "results", token)
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.runner: Any = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="dashboard-server", daemon=True)

    def start(self) -> None:
        from aiohttp import web

        self.thread.start()

        async def up() -> Any:
            runner = web.AppRunner(self.app, shutdown_timeout=2.0)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            return runner

        self.runner = asyncio.run_coroutine_threadsafe(up(), self.loop).result(20)

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@contextmanager
def _subprocess_dashboard(folder: Path, port: int, log: Path, lab_file: str, interval: float) -> Iterator[str]:
    """`labctl dashboard` started in FOLDER; stopped by its PID (its own process group)."""
    argv = [sys.executable, "-m", "labctl.cli", "dashboard", "--port", str(port), "-f", lab_file]
    argv += ["--interval", str(interval)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", 30)
        yield f"http://127.0.0.1:{port}/"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@contextmanager
def fresh_context(driver: Any) -> Iterator[Any]:
    """Chromium with a fresh profile: a persistent context over a temporary user-data dir."""
    profile = Path(tempfile.mkdtemp(prefix="labctl-chromium-"))
    try:
        context = driver.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT
        )
        try:
            yield context
        finally:
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def open_browser() -> Iterator[tuple[Any, Any]]:
    """The Playwright driver and a first browser context (one driver per thread: a second
    browser comes from `fresh_context(driver)`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver, fresh_context(driver) as context:
        yield driver, context


@contextmanager
def watch_dashboard(
    folder: Path,
    port: int,
    *,
    source: Any = None,
    artifacts: Path | None = None,
    token: str | None = None,
    interval: float = 2.0,
    lab_file: str = "lab.yaml",
) -> Iterator[DashboardWatch]:
    """The dashboard of the lab in FOLDER on 127.0.0.1:PORT, open in chromium.

    Without SOURCE: `labctl dashboard --port PORT` runs in FOLDER (the real lab, read over SSH).
    With SOURCE (a labctl.dashboard.sources.StateSource, e.g. AccessSource(ns_lab)): the app runs
    in this process over it, with TOKEN required when given. Runs are followed in FOLDER/results."""
    require_browser()
    artifacts = artifacts or artifacts_dir(folder / "artifacts", "dashboard")
    with _serve(folder, port, source, token, interval, artifacts, lab_file) as base:
        url = base + (f"?token={token}" if token else "")
        with open_browser() as (driver, context):
            page = context.pages[0] if context.pages else context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(url)
            page.wait_for_selector("[data-vip]", timeout=20_000)
            yield DashboardWatch(url, page, context, artifacts, driver, problems)


@contextmanager
def _serve(
    folder: Path, port: int, source: Any, token: str | None, interval: float, artifacts: Path, lab_file: str
) -> Iterator[str]:
    if source is None:
        with _subprocess_dashboard(folder, port, artifacts / "dashboard.log", lab_file, interval) as url:
            yield url
        return
    server = _InProcess(source, folder, port, token, interval)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
