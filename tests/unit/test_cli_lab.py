"""The lab verbs as a user runs them: init, validate, plan, render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl.cli.main import main
from labctl.model.labfile import read_lab


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_init_writes_a_valid_reference_lab(run, tmp_path):
    result = run("init")
    assert result.exit_code == 0, result.output
    lab = read_lab(tmp_path / "lab.yaml")
    assert lab.provider.name == "virtualbox" and lab.isolation == "none"
    assert run("init").exit_code == 1  # never overwrites silently
    assert run("init", "--force").exit_code == 0


def test_init_for_machines_without_virtualbox_or_kvm(run, tmp_path):
    assert run("init", "sub", "--provider", "libvirt", "--driver", "qemu", "--box", "local").exit_code == 0
    lab = read_lab(tmp_path / "sub" / "lab.yaml")
    assert (lab.provider.name, lab.provider.libvirt.driver, lab.provider.box) == ("libvirt", "qemu", "local")
    assert lab.provider.libvirt.direct_kernel_boot and lab.isolation == "netns"


def test_validate_reports_file_line_key_and_exits_2(run, tmp_path):
    run("init")
    path = tmp_path / "lab.yaml"
    path.write_text(path.read_text().replace("r2: 10.10.1.12", "r2: 10.10.1.11"))
    result = run("validate")
    assert result.exit_code == 2
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "r2: 10.10.1.11" in t)
    assert f"lab.yaml:{line}: reals.r2: duplicate address 10.10.1.11" in result.output
    assert "Traceback" not in result.output


def test_validate_without_a_file_exits_2(run):
    result = run("validate", "-f", "nothere.yaml")
    assert result.exit_code == 2
    assert "nothere.yaml: no such lab file; create one with `labctl init`" in result.output


def test_validate_explains_the_reference_ties(run):
    run("init")
    result = run("validate")
    assert result.exit_code == 0
    assert "VI_2: b1 and b3 share priority 101" in result.output
    assert "auth_pass" not in result.output  # the generated password is 8 characters


def test_validate_explains_a_password_longer_than_keepalived_reads(run, tmp_path):
    run("init")
    path = tmp_path / "lab.yaml"
    path.write_text(path.read_text().replace("  auth_type: PASS", "  auth_type: PASS\n  auth_pass: P0S@word2", 1))
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "note: vrrp.auth_pass is 9 characters: keepalived sends and checks only the first 8" in result.output
    assert "P0S@word" not in result.output  # a secret is never printed


def test_validate_explains_a_vip_on_some_balancers_only(run, tmp_path):
    run("init")
    path = tmp_path / "lab.yaml"
    text = path.read_text()
    for old, new in (
        ("{b1: 100, b2: 100, b3: 102}", "{b3: 102}"),
        ("{b1: 102, b2: 101, b3: 100}", "{b1: 102, b3: 100}"),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "note: VI_3 is configured on b3 only: no balancer takes it over when b3 fails" in result.output
    assert "note: VI_1 is configured on b1 and b3 only: b2 never holds it" in result.output
    assert result.output.count("is configured on") == 2  # VI_2 is on every balancer: no note


def test_plan_homework_numbers_as_json(run):
    result = run("plan", "--balancers", "3", "--traffic", "1.5Gbit", "--link", "1Gbit", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["vips"] == 6
    three = next(c for c in data["candidates"] if c["vips"] == 3)
    assert three["worst_load_bps"] == pytest.approx(1e9) and not three["ok"]


def test_plan_table_says_why(run):
    result = run("plan", "--traffic", "1.5Gbit", "--link", "1Gbit")
    assert result.exit_code == 0
    assert "Answer: 6 VIPs." in result.output
    assert "100 %" in result.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["--balancers", "0", "--traffic", "1Gbit", "--link", "1Gbit"], "at least one balancer"),
        (["--balancers", "3", "--traffic", "5Gbit", "--link", "1Gbit"], "cannot be carried"),
        (["--balancers", "3", "--tolerate", "3", "--traffic", "1Gbit", "--link", "1Gbit"], "tolerate"),
        (["--balancers", "3", "--traffic", "fast", "--link", "1Gbit"], "fast"),
    ],
)
def test_plan_nonsense_is_a_clear_error(run, args, words):
    result = run("plan", *args)
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_plan_write_puts_the_matrix_into_the_lab_file(run, tmp_path):
    run("init")
    before = (tmp_path / "lab.yaml").read_text()
    result = run("plan", "--traffic", "1.5Gbit", "--link", "1Gbit", "--write")
    assert result.exit_code == 0, result.output
    after = (tmp_path / "lab.yaml").read_text()
    lab = read_lab(tmp_path / "lab.yaml")
    assert len(lab.vips) == 6
    assert all(len(set(v.priorities.values())) == 3 for v in lab.vips)
    # Everything but the VIP list is kept, comments included.
    assert after.split("vips:")[0] == before.split("vips:")[0]
    assert after.split("\nvrrp:")[1] == before.split("\nvrrp:")[1]


def test_render_is_deterministic_and_complete(run, tmp_path):
    run("init")
    assert run("render").exit_code == 0
    out = tmp_path / ".labctl" / "render"
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert run("render").exit_code == 0
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert first == second
    names = {str(p) for p in first}
    assert {
        "Vagrantfile",
        "nodes/b1/keepalived.conf",
        "nodes/b1/ipvsadm.rules",
        "nodes/r1/99-labctl-dr.conf",
        "nodes/r1/index.html",
        "nodes/c1/provision.sh",
    } <= names
    assert b"arp_ignore = 1" in first[Path("nodes/r2/99-labctl-dr.conf")]
    assert b"r2" in first[Path("nodes/r2/index.html")]


def test_render_with_keepalived_managing_ipvs(run, tmp_path):
    run("init")
    path = tmp_path / "lab.yaml"
    path.write_text(path.read_text().replace("manager: ipvsadm", "manager: keepalived"))
    assert run("render", "--out", "out").exit_code == 0
    conf = (tmp_path / "out" / "nodes" / "b1" / "keepalived.conf").read_text()
    assert "lvs_method DR" in conf and "HTTP_GET" in conf
    assert not (tmp_path / "out" / "nodes" / "b1" / "ipvsadm.rules").exists()


@pytest.mark.parametrize("command", [[], ["init"], ["validate"], ["plan"], ["render"]])
def test_help_teaches_with_an_example(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "labctl" in result.output


def test_exec_takes_one_argument_as_a_shell_command_line_and_several_as_words():
    from labctl.cli.exec import remote_command
    from labctl.lab.nodes.ssh import command_line

    loop = "for i in $(seq 12); do curl -s http://10.10.1.10/; done"
    assert command_line(remote_command((loop,))) == loop  # the node's shell runs the loop
    words = remote_command(("echo", "a b", "$(id)"))
    assert command_line(words) == "echo 'a b' '$(id)'"  # each argument stays one word
    assert command_line(remote_command((loop,)), sudo=True) == f"sudo -n sh -c '{loop}'"


def test_down_takes_a_node_or_a_role_and_names_a_wrong_one(run):
    assert run("init").exit_code == 0
    wrong = run("down", "b9")
    assert wrong.exit_code == 2
    assert "no node or role 'b9'" in wrong.output and "balancers" in wrong.output
    # A right one on a lab never brought up: nothing to halt, nothing started.
    right = run("down", "reals")
    assert right.exit_code == 0 and "nothing to halt" in right.output
    assert "labctl down r1" in run("down", "--help").output
