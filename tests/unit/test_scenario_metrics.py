"""`expect: metric:` paths are checked when a scenario is loaded, against the catalogue of what
the analysis writes; and the catalogue cannot drift from the analysis."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labctl.model.lab import reference_lab
from labctl.report.build import build
from labctl.scenario.loader import ScenarioError, parse_scenario
from labctl.scenario.metrics import check_metric, leaf_paths
from tests.support.scenario_recordings import write_run

LAB = reference_lab()
FIXTURE_PCAP = Path(__file__).parent / "fixtures" / "pcap" / "failover-keepalived-stop.pcap"

TYPO = """\
description: a typo in a metric path
parameters:
  vip: {type: str, default: VI_1}
steps:
  - wait: 1
  - expect: the client outage stayed bounded
    metric: vips.${vip}.outage
    max: 6
"""


def test_a_typo_in_a_metric_path_is_refused_at_load_time_with_file_and_line():
    with pytest.raises(ScenarioError) as info:
        parse_scenario(TYPO, "mine.yaml", None, LAB)
    (problem,) = [str(p) for p in info.value.problems]
    assert problem == (
        "mine.yaml:7: steps.1.metric: unknown metric 'vips.VI_1.outage': vips.VI_1 has no "
        "'outage'; did you mean 'vips.VI_1.outage_s'?"
    )


@pytest.mark.parametrize(
    "path, reason",
    [
        ("vips.VI_9.outage_s", "no VRRP instance 'VI_9' in vips (VI_1, VI_2, VI_3)"),
        ("failover.duplicate", "did you mean 'failover.duplicate_detected'?"),
        ("requests.total.more", "requests.total is a figure, it has no 'more'"),
        ("disruptions.first.vips", "disruptions is a list: use an index such as disruptions.0"),
        ("vip.VI_1.outage_s", "did you mean 'vips'?"),
        (
            "outages",
            "the summary has scenario, params, capture_resolution_s, requests, vips, disruptions, "
            "timelines, fidelity, client_path, packets, failover, inactconn, real_down, capacity, traffic, flapping, "
            "split_brain, expectations, error, verdict, passed",
        ),
    ],
)
def test_unknown_metrics_are_named_with_the_reason(path, reason):
    message = check_metric(path, {"VI_1", "VI_2", "VI_3"})
    assert message is not None and message.endswith(reason)


@pytest.mark.parametrize(
    "path",
    [
        "vips.VI_1.detection_s",
        "disruptions.0.vips.VI_1.packets.arp_s",
        "inactconn.cleared",
        "verdict.verdict",
        "params.method",
    ],
)
def test_every_kind_of_figure_is_accepted(path):
    assert check_metric(path, {"VI_1"}) is None


def test_the_catalogue_lists_every_figure_the_analysis_writes(tmp_path):
    folder = write_run(tmp_path / "run")
    shutil.copy(FIXTURE_PCAP, folder / "capture.pcap")  # packet figures too
    summary = build(folder)
    names = {v.name for v in LAB.vips}
    paths = leaf_paths(summary, names)
    assert "vips.VI_1.outage_s" in paths and "verdict.verdict" in paths
    unknown = [p for p in paths if check_metric(p, names) is not None]
    assert unknown == []


def test_the_shipped_scenarios_name_only_known_metrics():
    from labctl.resources import scenarios_dir

    for path in sorted(scenarios_dir().glob("*.yaml")):
        scenario = parse_scenario(path.read_text(), path.name, None, LAB)  # raises on an unknown metric
        assert scenario.steps
