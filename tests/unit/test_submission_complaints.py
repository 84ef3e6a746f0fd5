"""keepalived's complaints about a rendered keepalived.conf land on the submission's own line, and
are judged: explained (the password cut, a script on this host) or refused. keepalived's words
below are what keepalived 2.2.7 printed for these configs (tests/integration runs it for real)."""

from __future__ import annotations

from labctl.lab.nodes.importcheck import check_import
from labctl.lab.vms.render import keepalived_conf
from labctl.submission.complaints import complaints, judge, locate
from labctl.submission.importer import import_submission

CONF = """\
global_defs {
    router_id LVS_DEVEL
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    track_interface {
        eth0
        eth2 weight -2
        eth3
    }
    virtual_router_id 51
    priority 100
    authentication {
        auth_type AH
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.200.16
    }
}
virtual_server fwmark 1 {
    lvs_sched rr
    protocol TCP
    real_server 192.168.200.3 1358 {
        weight 1
    }
}
"""


def imported(tmp_path, text=CONF):
    (tmp_path / "b1.conf").write_text(text)
    result = import_submission([tmp_path / "b1.conf"])
    rendered = keepalived_conf(result.lab, result.lab.balancers[0], "labctl00")
    return result, rendered


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_tracked_interfaces_mapped_onto_the_instance_own_are_left_out_and_said(tmp_path):
    result, rendered = imported(tmp_path)
    assert "track_interface" not in result.lab.keepalived_extra["b1"]
    dropped = "\n".join(str(n) for n in result.dropped)
    assert "b1.conf:8: b1: track_interface eth0: the lab's one interface is eth1, VI_1's own" in dropped
    assert "b1.conf:9: b1: track_interface eth2: " in dropped and "(its weight -2 is lost)" in dropped
    assert "b1.conf:10: b1: track_interface eth3: " in dropped


def test_a_tracked_interface_named_twice_once_mapped_is_kept_once(tmp_path):
    text = CONF.replace("        eth0\n", "").replace("interface eth0", "interface br0")
    result, rendered = imported(tmp_path, text.replace("state MASTER\n    interface br0", "state MASTER"))
    # No interface line of its own: eth2 and eth3 both become eth1, tracked once.
    assert result.lab.keepalived_extra["b1"].count("eth1") == 1
    assert any(
        "track_interface eth3: the lab's one interface eth1 is tracked already" in str(n) for n in result.dropped
    )


def test_every_rendered_line_points_at_the_line_it_came_from(tmp_path):
    result, rendered = imported(tmp_path)
    lines = locate(rendered, result.configs["b1"], result.renames)
    written = CONF.splitlines()
    for fragment in ("auth_type AH", "192.168.200.16", "protocol TCP", "weight 1", "vrrp_instance VI_1"):
        item = lines[line_of(rendered, fragment)]
        assert fragment in written[item.where.line - 1], fragment
    # labctl's own lines: the block they sit in (global_defs), or the submission's same keyword.
    assert lines[line_of(rendered, "enable_script_security")].key == "global_defs"
    assert lines[line_of(rendered, "interface eth1")].where.line == 6


def test_complaints_with_a_line_and_with_only_a_name(tmp_path):
    result, rendered = imported(tmp_path)
    output = (
        f"({tmp_path}/keepalived.conf: Line {line_of(rendered, '192.168.200.16')}) VRRP parsed invalid IP x\n"
        "(VI_1) Initial state master is incompatible with AH authentication - clearing\n"
        "Warning: Virtual server FWM 1: protocol specified for fwmark - protocol will be ignored\n"
        "something keepalived says about nothing named here\n"
    )
    found = [
        (c.text[:20], c.item.where.line if c.item else None)
        for c in complaints(output, rendered, result.configs["b1"], result.renames)
    ]
    assert found == [
        ("VRRP parsed invalid ", 19),
        ("(VI_1) Initial state", 5),  # state MASTER
        ("Warning: Virtual ser", 24),  # protocol TCP
        ("something keepalived", None),
    ]


def test_judged_refused_unless_explained(tmp_path):
    result, rendered = imported(tmp_path)
    auth = line_of(rendered, "auth_pass 1111")
    output = (
        f"(x: Line {auth}) Truncating auth_pass to 8 characters\n"
        "Disabling track script chk since not found/accessible\n"
        "(VI_1) Initial state master is incompatible with AH authentication - clearing\n"
    )
    refused, explained = judge(result, "b1", rendered, output, 5)
    assert [str(n) for n in refused] == [
        f"{tmp_path}/b1.conf:5: state MASTER: keepalived --config-test on b1: "
        "(VI_1) Initial state master is incompatible with AH authentication - clearing"
    ]
    assert [e.text for e in explained] == [
        "Truncating auth_pass to 8 characters",
        "Disabling track script chk since not found/accessible",
    ]
    assert explained[0].where is not None and explained[0].where.line == 16
    # Nothing said, yet a failing exit: refused all the same, at the file's first line.
    refused, _ = judge(result, "b1", rendered, "", 4)
    assert [str(n) for n in refused] == [f"{tmp_path}/b1.conf:1: keepalived --config-test on b1: exit 4"]


def test_without_keepalived_the_check_is_skipped_and_said(tmp_path):
    result, _ = imported(tmp_path)
    check_import(result, keepalived=str(tmp_path / "no-keepalived-here"))
    assert [str(n) for n in result.config_test] == [
        "keepalived --config-test: skipped, keepalived is not installed on this host (apt-get install keepalived)"
    ]
