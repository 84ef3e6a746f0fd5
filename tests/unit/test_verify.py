"""The checks `labctl up` runs, on recorded node output."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.lab.nodes import verify
from labctl.lab.nodes.provision import changes_from_output
from labctl.model.lab import reference_lab
from labctl.model.targets import nodes_of
from labctl.observe.snapshot import parse_snapshot

HOMEWORK = (Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt").read_text()
REFERENCE_IPVS = HOMEWORK[HOMEWORK.index("IP Virtual Server") : HOMEWORK.rindex("```")]
LAB = reference_lab()


def node_output(addresses: list[str], ipvs: str | None = REFERENCE_IPVS, vrrp: str = "") -> str:
    addr_lines = "\n".join(
        f"3: eth1    inet {a} brd 10.10.1.255 scope global eth1\\       valid_lft forever preferred_lft forever"
        for a in addresses
    )
    parts = [
        "@@sample 1795640000.000000000",  # as provision/common/labctl-snapshot.sh prints it
        "@@hostname",
        "b1",
        "@@addr",
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
        addr_lines,
    ]
    if ipvs is not None:
        parts += ["@@ipvs", ipvs]
    parts += ["@@vrrp", vrrp, "@@services", "keepalived active", "@@end"]
    return "\n".join(parts)


def healthy_views():
    return {
        "b1": parse_snapshot("b1", node_output(["10.10.1.2/24", "10.10.1.10/24"], vrrp="VI_1 MASTER\nVI_2 BACKUP")),
        "b2": parse_snapshot("b2", node_output(["10.10.1.3/24", "10.10.1.20/24"])),
        "b3": parse_snapshot("b3", node_output(["10.10.1.4/24", "10.10.1.30/24"])),
    }


def test_node_state_sections_are_parsed():
    view = healthy_views()["b1"]
    assert view.hostname == "b1"
    assert view.held(["10.10.1.10", "10.10.1.20"]) == {"10.10.1.10"}
    assert view.vrrp == {"VI_1": "MASTER", "VI_2": "BACKUP"}
    assert view.services == {"keepalived": "active"}
    assert view.ipvs is not None and len(view.ipvs.services) == 3
    assert not view.problems


def test_healthy_reference_lab_passes():
    checks = verify.evaluate_vips(LAB, healthy_views()) + verify.evaluate_ipvs(LAB, healthy_views())
    assert all(c.ok for c in checks), [c.detail for c in checks if not c.ok]


def test_duplicate_and_missing_holders_are_named():
    views = healthy_views()
    views["b3"] = parse_snapshot("b3", node_output(["10.10.1.4/24", "10.10.1.10/24"]))
    checks = {c.name: c for c in verify.evaluate_vips(LAB, views)}
    assert not checks["vip VI_1"].ok
    assert checks["vip VI_1"].detail == "10.10.1.10 is held by b1, b3 (expected b1 alone)"
    assert checks["vip VI_3"].detail == "10.10.1.30 is held by no balancer (expected b3)"


def test_ipvs_table_differences_are_named():
    wrong = REFERENCE_IPVS.replace("10.10.1.12:80                Route", "10.10.1.12:80                Masq ", 1)
    views = healthy_views()
    views["b2"] = parse_snapshot("b2", node_output(["10.10.1.3/24", "10.10.1.20/24"], ipvs=wrong))
    checks = {c.node: c for c in verify.evaluate_ipvs(LAB, views)}
    assert checks["b1"].ok and not checks["b2"].ok
    assert "10.10.1.12" in checks["b2"].detail
    views["b3"] = parse_snapshot("b3", node_output(["10.10.1.4/24"], ipvs=None))
    checks = {c.node: c for c in verify.evaluate_ipvs(LAB, views)}
    assert not checks["b3"].ok and "no IPVS table" in checks["b3"].detail


def test_http_check_needs_200_and_both_reals():
    rows = verify.parse_http_lines(
        "\n".join(
            [f"10.10.1.10 200 r{1 + i % 2}" for i in range(6)]
            + ["10.10.1.20 200 r1" for _ in range(6)]
            + ["10.10.1.30 200 r1", "10.10.1.30 000 -", "10.10.1.30 200 r2"]
        )
    )
    checks = {c.name: c for c in verify.evaluate_http(LAB, "c1", rows)}
    assert checks["http VI_1"].ok
    assert not checks["http VI_2"].ok and "reals seen: r1" in checks["http VI_2"].detail
    assert not checks["http VI_3"].ok and "status 000, 200" in checks["http VI_3"].detail


def test_wait_for_checks_retries_until_ok_or_timeout():
    answers = iter([[verify.Check("x", "b1", False, "")], [verify.Check("x", "b1", True, "")]])
    slept = []
    checks = verify.wait_for_checks(lambda: next(answers), timeout=60, sleep=slept.append)
    assert checks[0].ok and slept == [1.0]
    failing = verify.wait_for_checks(lambda: [verify.Check("x", "b1", False, "")], timeout=0, sleep=slept.append)
    assert not failing[0].ok


def test_changed_lines_from_provision_output():
    out = "changed: hostname b1\nsomething else\nchanged: keepalived restarted\ndone: b1\n"
    assert changes_from_output(out) == ["hostname b1", "keepalived restarted"]
    assert changes_from_output("done: b1\n") == []


@pytest.mark.parametrize(
    "target, nodes",
    [
        ("all", ["b1", "b2", "b3", "r1", "r2", "c1"]),
        ("balancers", ["b1", "b2", "b3"]),
        ("real", ["r1", "r2"]),
        ("c1", ["c1"]),
    ],
)
def test_exec_targets(target, nodes):
    assert nodes_of(LAB, target) == nodes


def test_unknown_exec_target_is_a_clear_error():
    with pytest.raises(LabctlError) as caught:
        nodes_of(LAB, "b9")
    assert "no node or role 'b9'" in caught.value.message


def test_failed_requests_have_no_real():
    rows = verify.parse_http_lines("10.10.1.10 200 r1\n10.10.1.10 000 \n")
    assert rows == [("10.10.1.10", "200", "r1"), ("10.10.1.10", "000", "-")]


def _addresses(*entries: tuple[str, str]) -> list:
    from labctl.observe.parse import IpAddress

    return [IpAddress(ifname, address, 32 if ifname == "lo" else 24) for ifname, address in entries]


def test_nodes_check_lab_address_vips_on_lo_and_services():
    from labctl.observe.snapshot import NodeSnapshot

    vips = [v.address for v in LAB.vips]
    views = {}
    for node in LAB.nodes:
        entries = [("eth1", node.address)] + ([("lo", v) for v in vips] if node.role == "real" else [])
        services = {"real": {"nginx": "active"}, "balancer": {"keepalived": "active"}}.get(node.role, {})
        views[node.name] = NodeSnapshot(node.name, addresses=_addresses(*entries), services=services)
    assert all(c.ok for c in verify.evaluate_nodes(LAB, views))
    real = LAB.reals[0].name
    views[real] = NodeSnapshot(real, addresses=_addresses(("eth1", LAB.reals[0].address), ("lo", vips[0])))
    balancer = LAB.balancers[1].name
    views[balancer] = NodeSnapshot(balancer, addresses=[], services={"keepalived": "inactive"})
    del views[LAB.clients[0].name]
    checks = {c.node: c for c in verify.evaluate_nodes(LAB, views)}
    assert checks[real].detail == f"missing: VIP {vips[1]} on lo, VIP {vips[2]} on lo, nginx running"
    assert checks[balancer].detail == f"missing: {LAB.balancers[1].address} on eth1, keepalived running"
    assert not checks[LAB.clients[0].name].ok and checks[LAB.clients[0].name].detail == "no snapshot"
    assert checks[LAB.balancers[0].name].ok


def test_host_http_check_reads_status_and_real_from_the_response_head():
    from labctl.lab.nodes.hosthttp import parse_response_head

    head = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Real-Server: r2\r\n\r\n<html>"
    assert parse_response_head("10.10.1.10", head) == ("10.10.1.10", "200", "r2")
    assert parse_response_head("10.10.1.10", b"HTTP/1.1 502 Bad Gateway\r\n\r\n") == ("10.10.1.10", "502", "-")
    assert parse_response_head("10.10.1.10", b"") == ("10.10.1.10", "000", "-")
    assert parse_response_head("10.10.1.10", b"garbage\r\n\r\n") == ("10.10.1.10", "000", "-")


def test_a_failed_quick_check_points_at_the_nodes_to_provision_again():
    from labctl.lab.bringup import _to_provision_again

    everyone = [n.name for n in LAB.nodes]
    real, balancer = LAB.reals[0].name, LAB.balancers[1].name
    node_check = verify.Check("node", real, False, "missing: nginx running")
    assert _to_provision_again(LAB, [node_check], everyone) == [real]
    ipvs_check = verify.Check("ipvs table", balancer, False, "no IPVS table")
    assert _to_provision_again(LAB, [node_check, ipvs_check], everyone) == [balancer, real]
    vip_check = verify.Check("vip VI_1", LAB.balancers[0].name, False, "held by nobody")
    assert _to_provision_again(LAB, [vip_check], everyone) == [b.name for b in LAB.balancers]
    http_check = verify.Check("http VI_1", "host", False, "reals seen: r1")
    assert _to_provision_again(LAB, [http_check], everyone) == everyone
    assert _to_provision_again(LAB, [node_check], [n for n in everyone if n != real]) == []  # not skipped: done


def test_a_script_stopped_without_a_word_is_reported_with_its_last_output():
    from labctl.lab.bringup import _one_line
    from labctl.lab.nodes.ssh import CommandFailed, CommandResult

    silent = CommandResult("r1", ["sh"], 1, "uploaded: provision.sh\nchanged: hostname r1\n", "", 1.0)
    line = _one_line(CommandFailed(silent, what="provisioning r1"))
    assert line == "r1: provisioning r1 (exit code 1) (no error message; its last output: changed: hostname r1)"
    loud = CommandResult("r1", ["sh"], 1, "changed: x\n", "nginx: [emerg] bad\n", 1.0)
    assert _one_line(CommandFailed(loud, what="provisioning r1")).endswith(": nginx: [emerg] bad")


def test_nodes_are_provisioned_while_others_boot_only_with_a_core_to_spare():
    from labctl.lab.bringup import provision_while_booting

    assert not provision_while_booting(cores=2, vms=6)  # CI's kind: after every VM is up
    assert not provision_while_booting(cores=6, vms=6)
    assert provision_while_booting(cores=8, vms=6)
    assert provision_while_booting(cores=2, vms=1)  # `up r1`: nothing else boots
