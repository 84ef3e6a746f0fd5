"""The dashboard's pure parts: the lab file as a picture, readings merged into a state, events
from two successive states, and a scenario run followed from its results folder."""

from __future__ import annotations

import json
from dataclasses import replace

from click.testing import CliRunner

from labctl.cli.main import main
from labctl.dashboard import model
from labctl.dashboard.app import is_loopback
from labctl.dashboard.runs import RunFollower, outages, run_view
from labctl.model.lab import Node, reference_lab
from labctl.observe import runrecords
from labctl.observe.snapshot import parse_snapshots
from labctl.report.build import build
from labctl.scenario import runfiles
from tests.support import scenario_recordings as rec

LAB = reference_lab("demo")


def _snapshot(node: str, t: float = 0.0, inact: int = 0):
    """A snapshot parsed from the script's own output format, as recorded for b1..b3 at T."""
    address = LAB.node(node).address
    text = rec.capture_text(node, address, inact_at=(lambda _t: inact) if inact else None)
    samples = parse_snapshots(text, node)
    return min(samples, key=lambda s: abs(s.t - (rec.T0 + t)))


def _reading(t: float = 0.0, **overrides) -> model.LabReading:
    nodes = {b.name: model.NodeReading(_snapshot(b.name, t)) for b in LAB.balancers}
    nodes.update(overrides)
    return model.LabReading(100.0 + t, True, None, nodes)


def test_picture_has_every_node_address_and_vip_with_its_planned_master():
    pic = model.picture(LAB)
    assert [(n["name"], n["role"], n["address"]) for n in pic["nodes"]] == [
        ("b1", "balancer", "10.10.1.2"),
        ("b2", "balancer", "10.10.1.3"),
        ("b3", "balancer", "10.10.1.4"),
        ("r1", "real", "10.10.1.11"),
        ("r2", "real", "10.10.1.12"),
        ("c1", "client", "10.10.1.100"),
    ]
    assert {v["name"]: (v["address"], v["planned_master"]) for v in pic["vips"]} == {
        "VI_1": ("10.10.1.10", "b1"),
        "VI_2": ("10.10.1.20", "b2"),
        "VI_3": ("10.10.1.30", "b3"),
    }
    # Ties are ordered as VRRP settles them: the higher address first.
    assert pic["vips"][1]["order"] == ["b2", "b3", "b1"]
    assert pic["network"] == "10.10.1.0/24" and pic["port"] == 80
    json.dumps(pic)  # the page gets it as JSON


def test_picture_follows_the_lab_file_not_the_reference():
    lab = replace(LAB, nodes=(*LAB.nodes, Node("r3", "real", "10.10.1.13")))
    assert "r3" in [n["name"] for n in model.picture(lab)["nodes"]]


def test_state_merges_node_readings_into_holders_vrrp_and_ipvs_counters():
    reading = _reading(inact=7)
    reading.nodes["b1"] = model.NodeReading(_snapshot("b1", 0.0, inact=7))
    state = model.state(LAB, reading)
    assert state["up"] is True
    assert {name: v["holders"] for name, v in state["vips"].items()} == {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
    assert all(v["at_master"] for v in state["vips"].values())
    b1 = state["nodes"]["b1"]
    assert b1["held"] == ["VI_1"]
    assert b1["vrrp"] == {"VI_1": "MASTER", "VI_2": "BACKUP", "VI_3": "BACKUP"}
    assert b1["ipvs"]["VI_1"] == {"r1": {"active": 0, "inactive": 7}, "r2": {"active": 0, "inactive": 7}}
    # Nodes nobody read are down with a reason; reals never count as holders.
    assert state["nodes"]["r1"] == {"up": False, "why": "no answer"}
    json.dumps(state)


def test_state_of_a_powered_off_node_and_of_a_lab_that_is_down():
    reading = _reading(b1=model.NodeReading(None, "powered off", False))
    state = model.state(LAB, reading)
    assert state["nodes"]["b1"] == {"up": False, "why": "powered off"}
    assert state["vips"]["VI_1"]["holders"] == []
    down = model.state(LAB, model.LabReading(5.0, False, "lab demo is not up"))
    assert down == {"t": 5.0, "up": False, "why": "lab demo is not up", "nodes": {}, "vips": {}}


def test_events_vip_moved_then_duplicate_holder():
    before = model.state(LAB, _reading(5.0))
    during = model.state(LAB, _reading(15.0))  # b2 took VI_1, b1 (SIGKILLed) kept it too
    assert during["vips"]["VI_1"]["holders"] == ["b1", "b2"]
    events = model.events(before, during)
    assert [(e["kind"], e["text"]) for e in events] == [("duplicate", "VI_1 held by b1 and b2 at once")]
    assert events[0]["level"] == "bad"

    b1_gone = model.state(LAB, _reading(15.0, b1=model.NodeReading(None, "powered off", False)))
    kinds = [(e["kind"], e["text"]) for e in model.events(before, b1_gone)]
    assert kinds == [("node_down", "b1 is down (powered off)"), ("vip_moved", "VI_1 moved b1 → b2")]
    back = model.events(b1_gone, before)
    assert [(e["kind"], e["text"]) for e in back] == [("node_up", "b1 is back"), ("vip_moved", "VI_1 moved b2 → b1")]
    assert model.events(before, model.state(LAB, _reading(6.0))) == []


def test_events_lab_down_and_up():
    up = model.state(LAB, _reading())
    down = model.state(LAB, model.LabReading(200.0, False, "lab demo is not up"))
    assert [e["kind"] for e in model.events(None, down)] == ["lab_down"]
    assert model.events(None, up) == []
    assert [e["text"] for e in model.events(up, down)] == ["lab is down: lab demo is not up"]
    again = model.events(down, up)
    assert [e["kind"] for e in again] == ["lab_up", "vip_held", "vip_held", "vip_held"]


def test_outages_from_probe_records():
    records = [(0.0, True), (1.0, False), (1.5, False), (4.6, True), (5.0, False)]
    assert outages(records, now=6.0) == {"longest_s": 3.6, "current_s": 1.0}
    assert outages(records[:4]) == {"longest_s": 3.6, "current_s": None}


def test_run_view_counts_down_a_wait_and_shows_the_narration():
    events = [
        {"t": 10.0, "kind": "start", "scenario": "failover"},
        {"t": 11.0, "kind": "step", "step": "wait 8"},
        {"t": 11.5, "kind": "narration", "text": "b1 goes down"},
    ]
    view = run_view("failover-1", events, now=14.0)
    assert view["scenario"] == "failover" and view["step"] == "wait 8"
    assert view["countdown_s"] == 5.0 and view["narration"] == "b1 goes down" and not view["finished"]
    events += [{"t": 20.0, "kind": "step", "step": "wait_until holder=VI_1, not=victim (timeout=20)"}]
    assert run_view("failover-1", events, now=21.0)["countdown_s"] is None
    events += [
        {
            "t": 23.7,
            "kind": "wait_until",
            "condition": {"holder": "VI_1", "not": "victim"},
            "held": True,
            "after_s": 3.7,
        }
    ]
    assert run_view("failover-1", events, now=24.0)["condition"] == "holder=VI_1, not=victim held after 3.7 s"
    events += [{"t": 30.0, "kind": "end", "error": None}]
    assert run_view("failover-1", events, now=31.0)["finished"] is True


def test_follower_reads_the_newest_run_incrementally_and_links_its_report(tmp_path):
    results = tmp_path / "results"
    run = rec.write_run(results / "failover-1", [])
    follower = RunFollower(results, LAB)
    view, probes = follower.poll(rec.T0 + 40)
    assert view is not None and view["name"] == "failover-1" and "report" not in view
    assert {p[0] for p in probes} == {"VI_1", "VI_2", "VI_3"} and len(probes) > 100
    assert view["outages"]["VI_1"]["longest_s"] > 3
    assert follower.poll(rec.T0 + 41)[1] == []  # nothing new
    runfiles.append_event(run / runrecords.EVENTS, {"t": rec.T0 + 41, "kind": "narration", "text": "hello"})
    with open(run / "probe-main.jsonl", "a") as out:
        out.write(json.dumps({"t": rec.T0 + 41, "vip": "10.10.1.10", "seq": 9999, "ok": True, "ms": 1.0}) + "\n")
    view, probes = follower.poll(rec.T0 + 42)
    assert view is not None and view["narration"] == "hello"
    assert probes == [["VI_1", rec.T0 + 41, True]]
    summary = build(run)
    view, _ = follower.poll(rec.T0 + 43)
    assert view is not None and view["report"] == "runs/failover-1/report.html"
    assert view["measured"]["VI_1"]["outage_s"] == summary["vips"]["VI_1"]["outage_s"]


def test_only_loopback_goes_without_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.10.1.1") and not is_loopback("lab.example")


def test_help_says_where_probe_results_come_from():
    out = CliRunner().invoke(main, ["dashboard", "--help"]).output
    assert "--port" in out and "--host" in out and "--open" in out
    assert "sends no probes of its own" in out and "token" in out


def test_narrate_refuses_without_a_terminal(tmp_path):
    # CliRunner's stdin is not a TTY: --narrate could never get its Enter.
    result = CliRunner().invoke(main, ["scenario", "run", "failover", "--narrate", "-f", str(tmp_path / "lab.yaml")])
    assert result.exit_code == 2
    assert "--narrate waits for Enter" in result.output


def test_while_a_run_is_under_way_its_polling_files_stand_in_for_ssh(tmp_path):
    import os
    import time as clock

    from labctl.dashboard.runs import RunReadings

    run = tmp_path / "results" / "failover-1"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    sample = "@@sample {t}\n@@addr\n3: eth1    inet {a}/32 scope global eth1\\       valid_lft forever\n@@end\n"
    (run / "capture-b1.1.txt").write_text(sample.format(t=100, a="10.10.1.10") + sample.format(t=101, a="10.10.1.20"))
    readings = RunReadings(tmp_path / "results")
    now = clock.time()
    assert readings.busy()
    latest = readings.read("b1", now)
    assert latest is not None and latest.held(["10.10.1.10", "10.10.1.20"]) == {"10.10.1.20"}
    assert readings.read("b2", now) is None  # the run does not poll it
    # A polling file nobody writes any more is no live reading.
    os.utime(run / "capture-b1.1.txt", (now - 60, now - 60))
    assert readings.read("b1", now) is None
    # Once the run has its summary, the dashboard reads the lab itself again.
    (run / "summary.json").write_text("{}")
    assert not readings.busy() and readings.read("b1", now) is None
