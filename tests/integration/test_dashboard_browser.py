"""`labctl dashboard` in a real browser (Debian's chromium through Playwright), on 127.0.0.1:
the lab drawn from its lab file with no lab up, the token check, a finished run's report, and
the live page following a failover in the namespace lab."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl.cli.main import main
from labctl.dashboard.sources import AccessSource, LabCheck, LiveLabSource
from labctl.model import labfile
from labctl.report.build import build
from labctl.resources import scenarios_dir
from labctl.scenario.engine import Engine
from labctl.scenario.loader import read_scenario
from tests.integration.conftest import skip_unless_netns_capable
from tests.support import scenario_recordings as rec
from tests.support.dashboard_browser import artifacts_dir, free_port, require_browser, watch_dashboard
from tests.support.nslab import ns_lab  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


def _lab_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "lab"
    result = CliRunner().invoke(main, ["init", str(folder), "--name", "dash"])
    assert result.exit_code == 0, result.output
    return folder


def test_page_draws_the_lab_file_when_no_lab_is_up(tmp_path: Path):
    folder = _lab_folder(tmp_path)
    lab = labfile.read_lab(folder / "lab.yaml")
    artifacts = artifacts_dir(tmp_path / "artifacts", "dashboard-down")
    with watch_dashboard(folder, free_port(), artifacts=artifacts) as dash:
        dash.page.wait_for_function("document.getElementById('labstate').textContent === 'lab is down'", timeout=20_000)
        text = dash.page.inner_text("body")
        for node in lab.nodes:
            assert dash.page.locator(f'[data-node="{node.name}"]').count() == 1, node.name
            assert node.address in text, node.address
        for vip in lab.vips:
            assert f"{vip.name} {vip.address}" in text
        assert lab.network.cidr in text
        assert "lab is down" in text
        assert re.search(r"lab is down: lab dash is not up", dash.page.inner_text("#events"))
        dash.screenshot("lab-down")
        # Nothing the page asked for was missing (a favicon request once logged a 404), and the
        # console holds no error.
        dash.page.wait_for_load_state("load")
        assert dash.problems == [], dash.problems


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_client_without_the_token_gets_403(tmp_path: Path):
    folder = _lab_folder(tmp_path)
    lab = labfile.read_lab(folder / "lab.yaml")
    port = free_port()
    token = "tok-" + "x" * 20
    source = LiveLabSource(lab, folder / "lab.yaml")
    with watch_dashboard(folder, port, source=source, token=token, artifacts=tmp_path) as dash:
        # The page with the token works, and its event stream with it.
        dash.page.wait_for_function("document.getElementById('labstate').textContent === 'lab is down'", timeout=20_000)
        # A second client, with a profile of its own (no cookie), and without the token: 403.
        with dash.stranger() as other:
            page = other.new_page()
            answer = page.goto(f"http://127.0.0.1:{port}/")
            assert answer is not None and answer.status == 403
            assert "token" in page.inner_text("body")
            answer = page.goto(f"http://127.0.0.1:{port}/?token=wrong")
            assert answer is not None and answer.status == 403
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/events", "/api/hello", "/static/dashboard.js"):
            assert _status(base + path) == 403, path
        assert _status(f"{base}/api/hello?token={token}") == 200


def test_report_of_a_finished_run_opens_from_the_page(tmp_path: Path):
    folder = _lab_folder(tmp_path)
    run = rec.write_run(folder / "results" / "failover-20260101-120000", [])
    summary = build(run)
    outage = summary["vips"]["VI_1"]["outage_s"]
    assert outage and (run / "report.html").is_file()
    with watch_dashboard(folder, free_port(), artifacts=tmp_path) as dash:
        link = dash.page.locator("#report-link")
        link.wait_for(timeout=20_000)
        assert f"outage {outage:.2f} s" in dash.page.inner_text("#run")
        with dash.context.expect_page() as opened:
            link.click()
        report = opened.value
        report.wait_for_load_state()
        assert report.url.endswith("/runs/failover-20260101-120000/report.html")
        table = report.locator("tr", has_text="VI_1 10.10.1.10").first.inner_text()
        assert f"{outage:g}" in table or f"{outage:.2f}" in table or f"{outage:.3f}" in table, table
        path = artifacts_dir(tmp_path, "report") / "report.png"
        report.screenshot(path=str(path), full_page=True)
        print(f"report screenshot: {path}")


def test_page_follows_a_failover_in_the_namespace_lab(ns_lab, tmp_path: Path):
    require_browser()
    folder = tmp_path / "lab"
    folder.mkdir()
    artifacts = artifacts_dir(tmp_path / "artifacts", "dashboard-failover")
    with watch_dashboard(folder, free_port(), source=AccessSource(ns_lab), artifacts=artifacts) as dash:
        for vip, master in (("VI_1", "b1"), ("VI_2", "b2"), ("VI_3", "b3")):
            dash.wait_holder(vip, master, timeout=40)
        dash.page.wait_for_function("document.getElementById('labstate').textContent === 'lab is up'")
        assert "MASTER" in dash.page.inner_text('[data-node="b1"]')
        dash.screenshot("1-every-vip-at-its-master")

        stopped = time.monotonic()
        ns_lab.service("b1", "keepalived", "stop")
        shown = dash.wait_holder("VI_1", "b2", timeout=30)
        print(f"VI_1 on b2 in the page {time.monotonic() - stopped:.1f} s after keepalived stopped on b1")
        assert shown < 30
        dash.wait_text("VI_1 moved b1 → b2", timeout=10)
        dash.screenshot("2-vi1-moved-to-b2")

        restarted = time.monotonic()
        ns_lab.service("b1", "keepalived", "start")
        dash.wait_holder("VI_1", "b1", timeout=40)
        print(f"VI_1 back on b1 in the page {time.monotonic() - restarted:.1f} s after keepalived started")
        dash.wait_text("VI_1 moved b2 → b1", timeout=10)
        assert dash.holders() == {"VI_1": "b1", "VI_2": "b2", "VI_3": "b3"}
        dash.screenshot("3-vi1-back-on-b1")


class PageNarrator:
    """--narrate's hook as a class would see it: each narration must be on the page (through
    events.jsonl) before the run goes on; everything said is kept for the asserts."""

    def __init__(self, dash) -> None:
        self.dash = dash
        self.said: list[tuple[str, str]] = []

    def before(self, text: str) -> None:
        self.said.append(("before", text))
        self.dash.wait_text(text[:60], timeout=15)
        if len(self.said) == 1:
            self.dash.screenshot("4-narrated-run")

    def after(self, text: str) -> None:
        self.said.append(("after", text))


def test_page_follows_a_narrated_scenario_run(ns_lab, tmp_path: Path):
    require_browser()
    folder = tmp_path / "lab"
    folder.mkdir()
    scenario = read_scenario(
        scenarios_dir() / "failover.yaml",
        {"method": "keepalived-stop", "capture_ipvs": "false", "settle": "2", "down_for": "3", "after": "1"},
        ns_lab.lab,
    )
    out = folder / "results" / "failover-narrated"
    artifacts = artifacts_dir(tmp_path / "artifacts", "dashboard-narrated")
    with watch_dashboard(folder, free_port(), source=AccessSource(ns_lab), artifacts=artifacts) as dash:
        dash.wait_holder("VI_1", "b1", timeout=40)
        narrator = PageNarrator(dash)
        Engine(ns_lab, scenario, out, narrator=narrator).run()
        build(out)
        dash.page.locator("#report-link").wait_for(timeout=20_000)
        run_text = dash.page.inner_text("#run")
        assert "failover" in run_text and "finished" in run_text
        assert re.search(r"VI_1 · outage [0-9.]+ s", run_text), run_text
        # The probe strip moved: the run's requests are counted under each VIP.
        assert re.search(r"\d+ answered", dash.page.inner_text('[data-vip="VI_2"]'))
        dash.screenshot("5-narrated-run-finished")

    before = [text for phase, text in narrator.said if phase == "before"]
    assert before[0] == (
        "b1 is the master of VI_1 with priority 102; when it stops keepalived gracefully (a priority-0 advert "
        "first), b2 (101) should take the VIP after its skew time (256 - 101)/256 = 0.61 s."
    )
    assert before[1].startswith("b1 comes back: with the highest priority in VI_1 (102) it should take them back")
    after = [text for phase, text in narrator.said if phase == "after"]
    assert any(t.startswith("measured: VI_1 held by b2 after") and "theory said 0.61 s" in t for t in after)
    assert any(t.startswith("measured: VI_1 held by b1 after") for t in after)  # preempted back
    kinds = [json.loads(line)["kind"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert kinds.count("narration") == len(narrator.said)


def test_cli_beyond_loopback_prints_a_token_and_refuses_requests_without_it(tmp_path: Path):
    """`labctl dashboard --host ADDRESS` in a network namespace of the test's own (the address
    exists only there; every request is made from inside it)."""
    skip_unless_netns_capable()
    folder = _lab_folder(tmp_path)
    ns = f"labctl-dash-{secrets.token_hex(3)}"
    address, port = "10.99.7.1", 18765
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        for args in (
            ["link", "set", "lo", "up"],
            # Both ends of the pair stay in the namespace: the address is reachable only there.
            ["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
            ["addr", "add", f"{address}/24", "dev", "d0"],
            ["link", "set", "d0", "up"],
            ["link", "set", "d1", "up"],
        ):
            subprocess.run(["ip", "-n", ns, *args], check=True)
        log = tmp_path / "dashboard.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "labctl.cli", "dashboard"]
                + ["--host", address, "--port", str(port), "-f", "lab.yaml"],
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while "token=" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        url = re.search(r"http://\S+\?token=\S+", log.read_text())
        assert url, log.read_text()
        assert url.group(0).startswith(f"http://{address}:{port}/?token=")

        def status(target: str) -> int:
            fetch = (
                "import sys, urllib.request, urllib.error\n"
                "try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)\n"
                "except urllib.error.HTTPError as e:\n    print(e.code)\n"
            )
            for _ in range(50):
                out = subprocess.run(
                    ["ip", "netns", "exec", ns, sys.executable, "-c", fetch, target], capture_output=True, text=True
                )
                if out.returncode == 0:
                    return int(out.stdout)
                time.sleep(0.2)  # not listening yet
            raise AssertionError(out.stderr)

        assert status(url.group(0)) == 200
        assert status(f"http://{address}:{port}/") == 403
        assert status(f"http://{address}:{port}/events") == 403
        assert status(f"http://{address}:{port}/?token=nope") == 403
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", ns], check=False)


class Destroyable(AccessSource):
    """The namespace lab, with `labctl destroy` played by a flag: destroying a lab needs VMs,
    which these tests may not start, so LiveLabSource's "Vagrantfile gone" answer is stood in
    for by the same LabCheck it returns."""

    destroyed = False

    def check(self) -> LabCheck:
        return LabCheck(False, "lab nslab is not up") if self.destroyed else super().check()


def test_page_stays_up_and_says_lab_is_down_when_the_lab_goes(ns_lab, tmp_path: Path):
    require_browser()
    folder = tmp_path / "lab"
    folder.mkdir()
    source = Destroyable(ns_lab)
    port = free_port()
    with watch_dashboard(folder, port, source=source, artifacts=tmp_path) as dash:
        dash.wait_holder("VI_1", "b1", timeout=40)
        source.destroyed = True
        dash.page.wait_for_function("document.getElementById('labstate').textContent === 'lab is down'", timeout=10_000)
        dash.wait_text("lab is down: lab nslab is not up", timeout=5)
        assert dash.holders() == {"VI_1": "", "VI_2": "", "VI_3": ""}
        # Still drawn from the lab file, still serving.
        assert dash.page.locator("[data-node]").count() == len(ns_lab.lab.nodes)
        assert _status(f"http://127.0.0.1:{port}/api/hello") == 200
        dash.screenshot("lab-destroyed")
        source.destroyed = False
        dash.wait_holder("VI_1", "b1", timeout=20)
        dash.wait_text("lab is up", timeout=5)
