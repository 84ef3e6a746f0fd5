"""IPVS rules in the three forms people paste, each value with FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.submission.ipvsrules import looks_like_rules, read_rules
from labctl.submission.where import SubmissionError

LISTING = (Path(__file__).parent / "fixtures" / "ipvsadm_ln_reference.txt").read_text()
SAVE = "-A -t 10.10.1.10:80 -s rr\n-a -t 10.10.1.10:80 -r 10.10.1.11:80 -g -w 1\n-a -t 10.10.1.10:80 -r 10.10.1.12:80 -g -w 1\n"
SCRIPT = """#!/bin/sh
set -e
ipvsadm -C
sudo /sbin/ipvsadm --set 900 10 300
ipvsadm -A -t 10.10.1.10:80 -s rr   # the VIP
ipvsadm -a -t 10.10.1.10:80 -r 10.10.1.11 -g
/usr/sbin/ipvsadm --add-server --tcp-service 10.10.1.10:80 --real-server 10.10.1.12:80 --gatewaying --weight 2
"""


def shape(rules):
    return [
        (s.proto, s.address, s.port, s.scheduler, [(r.address, r.port, r.forward, r.weight) for r in s.reals])
        for s in rules.services
    ]


def test_the_three_forms_give_the_same_services():
    reals = [("10.10.1.11", 80, "Route", 1), ("10.10.1.12", 80, "Route", 1)]
    listed = read_rules(LISTING, "ipvs.txt")
    assert shape(listed)[0] == ("TCP", "10.10.1.10", 80, "rr", reals)
    assert len(listed.services) == 3
    assert shape(read_rules(SAVE, "rules")) == [("TCP", "10.10.1.10", 80, "rr", reals)]
    scripted = read_rules(SCRIPT, "ipvs.sh")
    assert shape(scripted) == [("TCP", "10.10.1.10", 80, "rr", [reals[0], ("10.10.1.12", 80, "Route", 2)])]
    assert scripted.timeouts is not None and (scripted.timeouts.tcpfin, str(scripted.timeouts.where)) == (
        10,
        "ipvs.sh:4",
    )
    assert str(scripted.services[0].reals[1].where) == "ipvs.sh:7"
    assert all(looks_like_rules(t) for t in (LISTING, SAVE, SCRIPT))
    assert not looks_like_rules("vrrp_instance VI_1 {\n}\n")


def test_listing_lines_keep_their_place_in_a_longer_file():
    rules = read_rules(LISTING, "homework.txt", first_line=100)
    assert str(rules.services[1].where).startswith("homework.txt:1")
    assert rules.services[1].where.line > 100


def test_persistence_and_nat():
    rules = read_rules("-A -t 10.0.0.1:443 -s wlc -p 600\n-a -t 10.0.0.1:443 -r 10.0.0.5:443 -m -w 3\n", "r")
    assert rules.services[0].persistent == 600
    assert rules.services[0].reals[0].forward == "Masq"


@pytest.mark.parametrize(
    "text, construct",
    [
        ("-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g\n", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g"),
        ("ipvsadm -A -t $VIP:80 -s rr\n", "$VIP:80"),
        ("  -> 10.10.1.11:80  Route 1 0 0\n", "-> 10.10.1.11:80  Route 1 0 0"),
        ("-E -t 10.0.0.1:80 -s rr\n", "-E"),
    ],
)
def test_refusals_name_the_line(text, construct):
    with pytest.raises(SubmissionError) as caught:
        read_rules(text, "r")
    assert str(caught.value.where) == "r:1"
    assert caught.value.construct == construct
