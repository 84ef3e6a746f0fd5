"""The keepalived.conf reader: FILE:LINE for every value, comments, quotes, blocks, include
(confined to the submission), conditional lines and $VARIABLEs."""

from __future__ import annotations

import pytest

from labctl.submission.conf import emit, parse
from labctl.submission.files import include_loader
from labctl.submission.where import SubmissionError

TEXT = """! Configuration File for keepalived
vrrp_instance VI_1 {   # the first
    state MASTER
    priority 102 #used in election
    authentication
    {
        auth_pass "a b!c"
    }
    virtual_ipaddress { 10.10.1.10/24 dev eth1 }
}
"""


def test_blocks_values_and_lines():
    (instance,) = parse(TEXT, "b1.conf")
    assert (instance.key, instance.args, str(instance.where)) == ("vrrp_instance", ("VI_1",), "b1.conf:2")
    priority = instance.find("priority")
    assert priority is not None and priority.args == ("102",) and priority.where.line == 4
    auth = instance.find("authentication")
    assert auth is not None and auth.where.line == 5  # the brace on the next line opens its block
    password = auth.find("auth_pass")
    assert password is not None and password.args == ("a b!c",) and password.where.line == 7
    vips = instance.find("virtual_ipaddress")
    assert vips is not None and [(i.key, i.args) for i in vips.block or ()] == [("10.10.1.10/24", ("dev", "eth1"))]


def test_emit_reads_back_the_same_items_and_renames_interfaces():
    items = parse(TEXT, "b1.conf")
    again = parse(emit(items), "x")
    assert [(i.key, i.args) for i in again] == [(i.key, i.args) for i in items]
    assert "dev eth7" in emit(items, {"eth1": "eth7"})
    assert '"a b!c"' in emit(items)


def test_continuation_conditionals_and_variables():
    text = "$PRIO=150\n@high priority ${PRIO}\n@^high priority 50\nvirtual_router_id \\\n  51\n"
    assert [(i.key, i.args) for i in parse(text, "f")] == [("priority", ("50",)), ("virtual_router_id", ("51",))]
    assert [(i.key, i.args) for i in parse(text, "f", instance="high")][0] == ("priority", ("150",))


@pytest.mark.parametrize(
    "text, where, construct",
    [
        ("vrrp_instance VI_1 {\n  state MASTER\n", "f:1", "vrrp_instance"),
        ("a\n}\n", "f:2", "}"),
        ("priority $NOPE\n", "f:1", "$NOPE"),
        ('auth_pass "open\n', "f:1", 'auth_pass "open'),
        ("include other.conf\n", "f:1", "include other.conf"),
        ("~SEQ(N, 1, 3) x\n", "f:1", "~SEQ"),
    ],
)
def test_refusals_name_file_line_and_construct(text, where, construct):
    with pytest.raises(SubmissionError) as caught:
        parse(text, "f")
    assert str(caught.value.where) == where
    assert caught.value.construct == construct


def test_include_globs_inside_the_submission_only(tmp_path):
    sub = tmp_path / "sub"
    (sub / "conf.d").mkdir(parents=True)
    (sub / "conf.d" / "a.conf").write_text("priority 1\n")
    (sub / "conf.d" / "b.conf").write_text("priority 2\n")
    (tmp_path / "secret.conf").write_text("priority 3\n")
    (sub / "conf.d" / "link.conf").symlink_to(tmp_path / "secret.conf")
    load = include_loader(sub, {})
    items = parse("include conf.d/[ab].conf\n", "sub/main.conf", include=load)
    assert [(i.args, str(i.where)) for i in items] == [(("1",), "sub/conf.d/a.conf:1"), (("2",), "sub/conf.d/b.conf:1")]
    # keepalived's own folder is looked up in the submission
    assert len(parse("include /etc/keepalived/conf.d/a.conf\n", "m", include=load)) == 1
    for pattern, reason in [
        ("conf.d/link.conf", "outside the submission"),
        ("../secret.conf", "outside the submission"),
        ("/etc/passwd", "outside the submission"),
        ("conf.d/none*.conf", "no file"),
    ]:
        with pytest.raises(SubmissionError, match=reason):
            parse(f"\ninclude {pattern}\n", "sub/main.conf", include=load)
