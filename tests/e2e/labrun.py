"""Helpers of the real-VM tests: run the real `labctl` command as a user would, find the
processes a lab started, run a scenario and read its results."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from labctl.lab.host import netns
from labctl.lab.host.sandbox import namespace_for

LABCTL = [sys.executable, "-m", "labctl.cli"]


def labctl(folder: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LABCTL, *args], cwd=folder, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def pids_of(*names: str) -> set[int]:
    """Live processes with one of NAMES (zombies waiting for init to reap them don't count)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,stat=,comm="], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        pid, stat, comm = line.split(None, 2)
        if comm.strip() in names and not stat.startswith("Z"):
            found.add(int(pid))
    return found


# Process names as the kernel keeps them: at most 15 characters.
QEMU = "qemu-system-x86"
DAEMONS = (QEMU, "libvirtd", "virtlogd", "dnsmasq")


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_scenario(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    proc = labctl(folder, "scenario", "run", *args, "--json", timeout=900)
    summary = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    results = sorted((folder / "results").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
    print(f"{' '.join(args)}: {results}", file=sys.stderr)
    return proc, summary, results


def scenario_started(folder: Path, *args: str) -> subprocess.Popen[str]:
    """`labctl scenario run ARGS --json` started, not waited for (see scenario_finished)."""
    return subprocess.Popen(
        [*LABCTL, "scenario", "run", *args, "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def scenario_finished(
    folder: Path, popen: subprocess.Popen[str], timeout: float = 900
) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    out, err = popen.communicate(timeout=timeout)
    proc = subprocess.CompletedProcess(popen.args, popen.returncode, out, err)
    summary = json.loads(out) if out.strip().startswith("{") else {}
    results = sorted((folder / "results").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
    return proc, summary, results


def assert_complete_results(results: Path) -> None:
    for name in ("summary.json", "events.jsonl", "report.md", "timeline.png", "run.json"):
        assert (results / name).is_file(), name
    assert (results / "timeline.png").read_bytes()[:8] == PNG_MAGIC
    assert list(results.glob("capture-b*.txt"))


def nothing_left_on_the_taps(name: str) -> None:
    """No labctl table and no shaping on any interface of the lab's namespace."""
    ns = namespace_for(name)
    tables = subprocess.run(netns.exec_argv(ns, ["nft", "list", "tables"]), capture_output=True, text=True).stdout
    assert "labctl_" not in tables
    qdiscs = subprocess.run(netns.exec_argv(ns, ["tc", "qdisc", "show"]), capture_output=True, text=True).stdout
    assert " tbf " not in qdiscs and " netem " not in qdiscs


def check_failover_evidence(
    folder: Path, proc: subprocess.CompletedProcess[str], summary: dict, results: Path, method: str
) -> None:
    """A failover run of the reference topology judged from its evidence: PASS with the hand-over
    from packets against VRRP theory, or INCONCLUSIVE for a measured reason; the lab as planned."""
    planned = {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
    status = json.loads(labctl(folder, "status", "--json").stdout)
    if summary["verdict"]["verdict"] == "inconclusive":
        # The tool's own call on a host too busy to judge timing (CI machines are shared: seen
        # once with b1's adverts jittering 146 ms at p95). It must say so from its measured
        # jitter, exit 3, and leave the lab as planned; the timing checks below need a host
        # that can support a verdict.
        # Or, with VRRP on time, the host's probes of an untouched VIP timed out on their own
        # (seen once beside chromium: VI_1's outage 8.1 s, untouched VI_2 lost two requests):
        # the client outage is then not judged, and the hand-over still is.
        assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
        reasons = summary["verdict"]["reasons"]
        if any(r.startswith("host fidelity too poor") for r in reasons):
            assert summary["fidelity"]["jitter_p95_ms"] > 100, summary["fidelity"]
        else:
            assert any(r.startswith("client probes too disturbed") for r in reasons), summary["verdict"]
            controls = summary["client_path"]["controls"]
            assert any(c["timeouts"] > 0 for c in controls.values()), controls
            assert summary["vips"]["VI_1"]["matches_theory"], summary["vips"]["VI_1"]
        assert {v: e["holders"] for v, e in status["vips"].items()} == planned
        print(f"failover {method}: inconclusive: {summary['verdict']['reasons']}", file=sys.stderr)
        return
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert summary["verdict"]["verdict"] == "pass", summary["verdict"]
    vi1 = summary["vips"]["VI_1"]
    # b2 (101) should take it; b3 (100) waits a skew only 4 ms longer, so timing noise on
    # emulated VMs may let it win: the report says so (decided_by_noise).
    assert vi1["new_holder"] in ("b2", "b3") and vi1["matches_theory"]
    assert vi1["outage_s"] is not None and summary["vips"]["VI_2"]["outage_s"] is not None
    # The hand-over comes from packets recorded on the host side, one clock for every frame.
    lines = tcpdump_reads(results / "capture.pcap")
    assert any("VRRPv2, Advertisement" in line for line in lines)
    seen = summary["disruptions"][0]["vips"]["VI_1"]
    assert seen["source"] == "packets"
    phases = seen["packets"]
    if method == "keepalived-stop":
        assert phases["t0_advert"] == "priority 0"  # keepalived's goodbye
        assert any("prio 0" in line for line in lines)
    else:
        assert phases["t0_advert"] == "last advert"  # a dead master says nothing
    jitter = summary["fidelity"]["jitter_p95_ms"] / 1000
    assert abs(phases["detection_s"] - phases["theory_s"]) <= 0.15 * phases["theory_s"] + jitter, phases
    assert phases["detection_s"] <= phases["arp_s"] <= phases["client_s"]
    print(
        f"failover {method}: detection {phases['detection_s']} s (theory {phases['theory_s']} s), "
        f"ARP {phases['arp_s']} s, client {phases['client_s']} s, outage {vi1['outage_s']} s, "
        f"jitter p95 {summary['fidelity']['jitter_p95_ms']} ms, "
        f"preemption {vi1.get('preemption_s')} s",
        file=sys.stderr,
    )
    # Whatever the scenario did, the lab is back as planned.
    assert {v: e["holders"] for v, e in status["vips"].items()} == planned


def tcpdump_reads(pcap: Path) -> list[str]:
    read = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    return read.stdout.splitlines()


def failover_watched_in_the_dashboard(folder: Path, tmp_path: Path, *args: str):
    """A failover (`scenario run failover ARGS`) while `labctl dashboard` runs and chromium
    watches it: the page shows every VIP on its planned master, VI_1 on its new holder a few
    seconds after b1 fails, and VI_1 back on b1 after preemption. A screenshot of each state
    is kept. (CI watches the keepalived-stop run after a reset, in test_snapshots.py; the
    power-off one, which costs a boot, is the `long` test below.)"""
    from tests.support.dashboard_browser import artifacts_dir, free_port, watch_dashboard

    artifacts = artifacts_dir(tmp_path / "artifacts", "e2e-failover-dashboard")
    with watch_dashboard(folder, free_port(), artifacts=artifacts, interval=3.0) as dash:
        for vip, master in (("VI_1", "b1"), ("VI_2", "b2"), ("VI_3", "b3")):
            dash.wait_holder(vip, master, timeout=60)
        dash.screenshot("1-every-vip-at-its-master")
        started = scenario_started(folder, "failover", *args)
        # b2 should win; timing noise on emulated VMs may let b3 win (the report says so).
        clock = time.monotonic()
        dash.page.wait_for_selector(
            '[data-vip="VI_1"][data-holder="b2"], [data-vip="VI_1"][data-holder="b3"]', timeout=120_000
        )
        print(f"dashboard: VI_1 moved in the page {time.monotonic() - clock:.1f} s after the run started",
              file=sys.stderr)  # fmt: skip
        dash.screenshot("2-vi1-moved")
        dash.wait_holder("VI_1", "b1", timeout=400)  # preemption, once b1 has booted again
        dash.screenshot("3-vi1-back-on-b1")
        proc, summary, results = scenario_finished(folder, started)
        dash.page.locator("#report-link").wait_for(timeout=60_000)
        dash.screenshot("4-run-finished")
    return proc, summary, results
