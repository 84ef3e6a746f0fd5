"""Every ipvsadm setting of a submission that does not land in the lab is in the import report, by
FILE:LINE: per service its scheduler, persistence and flags, per real its port, forwarding,
weight and thresholds, the reals and services the lab adds, the services it cannot have."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.submission.importer import import_submission
from tests.support.keepalived_conf import reference_files

HOMEWORK = Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt"
SCRIPT = """#!/bin/sh
ipvsadm -C
ipvsadm -A -t 10.10.1.10:80 -s rr
ipvsadm -a -t 10.10.1.10:80 -r 10.10.1.11:80 -g -w 1
ipvsadm -a -t 10.10.1.10:80 -r 10.10.1.12:80 -g -w 1
ipvsadm -A -t 10.10.1.20:80 -s wlc -p 600 -b sh-port
ipvsadm -a -t 10.10.1.20:80 -r 10.10.1.11:8080 -m -w 3 -x 100
ipvsadm -a -t 10.10.1.20:80 -r 10.10.1.13:80 -g -w 1
ipvsadm -a -t 10.10.1.20:80 -r 192.168.7.5:80 -g -w 1
ipvsadm -A -u 10.10.1.30:53 -s rr
ipvsadm -A -f 7 -s rr
ipvsadm -A -t 10.10.1.99:80 -s rr
"""
LISTING = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.10.1.10:80 rr
  -> 10.10.1.11:80                Route   1      0          0
  -> 10.10.1.12:80                Route   1      0          0
TCP  10.10.1.20:80 rr
  -> 10.10.1.11:80                Route   1      0          0
  -> 10.10.1.12:80                Route   2      0          0
TCP  10.10.1.30:80 sh persistent 300
  -> 10.10.1.11:80                Tunnel  1      0          0
  -> 10.10.1.12:80                Route   1      0          0
"""


@pytest.fixture
def balancers(tmp_path):
    for node, text in reference_files(HOMEWORK.read_text()).items():
        (tmp_path / f"{node}.conf").write_text(text)
    return [tmp_path / f"{node}.conf" for node in ("b1", "b2", "b3")]


def unreproduced(sources, folder):
    """The notes on the rules file, in the report's order (by line)."""
    result = import_submission(sources)
    notes = sorted((n for n in result.dropped if n.where and "rules" in n.where.file), key=lambda n: n.where.line)
    return [str(n).removeprefix(f"{folder}/") for n in notes]


def test_a_script_of_ipvsadm_lines(tmp_path, balancers):
    (tmp_path / "rules.sh").write_text(SCRIPT)
    assert unreproduced([*balancers, tmp_path / "rules.sh"], tmp_path) == [
        "rules.sh:3: TCP 10.10.1.10:80: the lab adds real r3 10.10.1.13, which this service lacks",
        "rules.sh:6: TCP 10.10.1.20:80: scheduler wlc: the lab schedules every service rr",
        "rules.sh:6: TCP 10.10.1.20:80: persistent 600: not reproduced (the lab has no persistence)",
        "rules.sh:6: TCP 10.10.1.20:80: -b sh-port: not reproduced",
        "rules.sh:6: TCP 10.10.1.20:80: the lab adds real r2 10.10.1.12, which this service lacks",
        "rules.sh:7: TCP 10.10.1.20:80: real 10.10.1.11:8080: the lab sends to port 80",
        "rules.sh:7: TCP 10.10.1.20:80: real 10.10.1.11:8080: Masq: the lab forwards by direct routing (Route)",
        "rules.sh:7: TCP 10.10.1.20:80: real 10.10.1.11:8080: weight 3: the lab gives every real weight 1",
        "rules.sh:7: TCP 10.10.1.20:80: real 10.10.1.11:8080: -x 100: not reproduced",
        "rules.sh:9: TCP 10.10.1.20:80: real 192.168.7.5:80: not in the lab: it lies outside the lab network 10.10.1.0/24",
        "rules.sh:10: UDP 10.10.1.30:53: not in the lab: its services are TCP (10.10.1.30:80)",
        "rules.sh:11: FWM 7: not in the lab: it serves VIPs by address, not by firewall mark",
        "rules.sh:12: TCP 10.10.1.99:80: not in the lab: 10.10.1.99 is not one of its VIPs (10.10.1.10, 10.10.1.20, 10.10.1.30)",
    ]
    result = import_submission([*balancers, tmp_path / "rules.sh"])
    added = [str(n) for n in result.dropped if "the lab adds the service" in str(n)]
    assert added == [
        f"{tmp_path}/b1.conf:44: 10.10.1.30: the lab adds the service TCP 10.10.1.30:80 (rr, every real), "
        "which the submission's IPVS rules do not have"
    ]


def test_an_ipvsadm_listing(tmp_path, balancers):
    (tmp_path / "rules.txt").write_text(LISTING)
    assert unreproduced([*balancers, tmp_path / "rules.txt"], tmp_path) == [
        "rules.txt:9: TCP 10.10.1.20:80: real 10.10.1.12:80: weight 2: the lab gives every real weight 1",
        "rules.txt:10: TCP 10.10.1.30:80: scheduler sh: the lab schedules every service rr",
        "rules.txt:10: TCP 10.10.1.30:80: persistent 300: not reproduced (the lab has no persistence)",
        "rules.txt:11: TCP 10.10.1.30:80: real 10.10.1.11:80: Tunnel: the lab forwards by direct routing (Route)",
    ]


def test_the_homework_loses_nothing():
    result = import_submission([HOMEWORK])
    assert result.services and not result.dropped
