"""`labctl import` of the homework gives the reference lab (with the submission's password, as
written) and the findings a teacher would mark; bad input is one FILE:LINE line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from labctl.cli.main import main
from labctl.model.initlab import initial_lab
from labctl.model.labfile import read_lab
from labctl.submission.importer import import_submission

HOMEWORK = Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_homework_imports_as_the_reference_lab(tmp_path):
    result = run("import", str(HOMEWORK), "-o", str(tmp_path / "lab"))
    assert result.exit_code == 0, result.output
    lab = read_lab(tmp_path / "lab" / "lab.yaml")
    reference = initial_lab()
    assert lab.vrrp.auth_pass == "P0S@word2"  # as written; keepalived itself uses the first 8
    assert replace(lab, vrrp=reference.vrrp) == reference
    report = (tmp_path / "lab" / "import-report.md").read_text()
    lines = HOMEWORK.read_text().splitlines()
    # Each finding names its line; the line says what the finding says.
    password = (
        f"{HOMEWORK}:24: auth_pass 'P0S@word2' is 9 characters: keepalived uses the first 8, 'P0S@word' "
        "(it logs 'Truncating auth_pass to 8 characters'; `keepalived --config-test` exits 5); "
        "the lab keeps 'P0S@word2' as written"
    )
    assert password in report and "auth_pass P0S@word2" in lines[23]
    assert f"{HOMEWORK}:35: VI_2: backups b1 and b3 share priority 101" in report and "priority 101" in lines[34]
    assert f"{HOMEWORK}:50: VI_3: backups b1 and b2 share priority 100" in report and "priority 100" in lines[49]
    assert "b1 fails: b2 1 Gbit/s (100 %), b3 500 Mbit/s (50 %)" in report
    assert "password as written: `P0S@word2` (keepalived uses its first 8 characters, `P0S@word`)" in report
    assert "## Not reproduced, or reproduced differently\n\n- nothing\n" in report  # every rule landed


def test_json_report_and_findings_of_a_flawed_folder(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    instance = "vrrp_instance VI_{n} {{\n state {state}\n interface eth0\n virtual_router_id {vrid}\n priority {prio}\n advert_int {adv}\n virtual_ipaddress {{\n  10.0.5.{n}0/24\n }}\n}}\n"
    (sub / "lb1.conf").write_text(
        instance.format(n=1, state="BACKUP", vrid=51, prio=90, adv=1)
        + "virtual_server 10.0.5.90 80 {\n lvs_sched rr\n lvs_method DR\n protocol TCP\n"
        + " real_server 10.0.5.11 80 {\n  weight 1\n }\n}\n"
    )
    (sub / "lb2.conf").write_text(instance.format(n=1, state="MASTER", vrid=51, prio=80, adv=2))
    # VI_2 on lb3 only, with VI_1's VRID: each node's keepalived runs, their adverts collide.
    (sub / "lb3.conf").write_text(instance.format(n=2, state="MASTER", vrid=51, prio=100, adv=1))
    result = run("import", str(sub), "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    findings = "\n".join(data["findings"])
    assert f"{sub}/lb2.conf:2: VI_1: state MASTER on lb2 (priority 80) but lb1 has 90" in findings
    assert "virtual_router_id 51 is used by VI_1, VI_2 on one segment: their adverts collide" in findings
    assert f"{sub}/lb1.conf:6: VI_1: advert_int differs between nodes (lb1 1, lb2 2)" in findings
    assert f"{sub}/lb3.conf:1: VI_2 (10.0.5.20) is configured on lb3 only" in findings
    assert f"{sub}/lb1.conf:11: IPVS service for 10.0.5.90, which no VRRP instance holds" in findings
    assert f"{sub}/lb1.conf:8: VIP 10.0.5.10 has no IPVS service" in findings
    # What the model cannot say is carried per node, the interface mapped.
    lab = read_lab(tmp_path / "out" / "lab.yaml")
    assert "interface eth1" in lab.keepalived_extra["lb1"] and "eth0" not in lab.keepalived_extra["lb1"]
    # VI_2, on lb3 alone, is a VIP of lb3 only, not a block kept as written.
    assert lab.vip("VI_2").priorities == {"lb3": 100}
    assert not any("VI_2" in line for line in data["kept_verbatim"])


def test_one_vrid_twice_on_a_node_stops_keepalived_there(tmp_path):
    instance = "vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  10.0.5.{n}0/24\n }}\n}}\n"
    (tmp_path / "b1.conf").write_text(instance.format(n=1) + instance.format(n=2))
    result = import_submission([tmp_path / "b1.conf"])
    assert any(
        "virtual_router_id 51 is used by VI_1, VI_2 on one segment: keepalived on b1 refuses the config" in str(n)
        for n in result.findings
    )


def test_a_broken_config_is_one_file_line_message(tmp_path):
    bad = tmp_path / "b1.conf"
    bad.write_text("vrrp_instance VI_1 {\n  priority 100\n")
    result = CliRunner().invoke(main, ["import", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"{bad}:1: vrrp_instance: its block is never closed" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_host_options_put_the_submission_where_init_would(tmp_path):
    """`import` takes init's host options: the homework with --provider libvirt --box local is
    what `init --provider libvirt --box local` writes, but for the password."""
    result = run("import", str(HOMEWORK), "-o", str(tmp_path / "lab"), "--provider", "libvirt", "--box", "local")
    assert result.exit_code == 0, result.output
    lab = read_lab(tmp_path / "lab" / "lab.yaml")
    here = initial_lab(provider="libvirt", box="local")
    assert lab.provider.name == "libvirt" and lab.isolation == "netns" and lab.provider.libvirt.direct_kernel_boot
    assert replace(lab, vrrp=here.vrrp) == here


def test_like_runs_the_submission_on_a_class_lab(tmp_path):
    """--like LAB.yaml: the submission replaces the lab file of a running lab, keeping its name,
    provider, box and isolation (what grading does between students)."""
    folder = tmp_path / "class"
    assert run("init", str(folder), "--name", "class7", "--provider", "libvirt", "--box", "local").exit_code == 0
    before = read_lab(folder / "lab.yaml")
    refused = run("import", str(HOMEWORK), "-o", str(folder), "--like", str(folder / "lab.yaml"))
    assert refused.exit_code != 0 and "lab.yaml" in refused.output  # an existing file needs --force
    result = run("import", str(HOMEWORK), "-o", str(folder), "--like", str(folder / "lab.yaml"), "--force")
    assert result.exit_code == 0, result.output
    after = read_lab(folder / "lab.yaml")
    assert (after.name, after.provider, after.isolation) == ("class7", before.provider, before.isolation)
    assert after.vrrp.auth_pass == "P0S@word2" and replace(after, vrrp=before.vrrp) == before
