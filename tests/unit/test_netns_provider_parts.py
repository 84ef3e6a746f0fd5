"""The netns provider's pure parts: names on the host, the prerequisite and IPVS judgements,
the node configurations made of labctl's rendered files, and the HTTP check without IPVS; and
the lab file's, CLI's and renderer's knowledge of it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from labctl.cli.main import main
from labctl.lab.providers import PROVIDERS, provider_named
from labctl.lab.providers.netns import naming, plan
from labctl.lab.providers.netns.access import RUN_DIR
from labctl.lab.providers.netns.prerequisites import judge_ipvs, missing_prerequisite
from labctl.lab.vms.render import BoxRef, RenderContext, node_files, render_lab
from labctl.model import lab as model
from labctl.model.initlab import initial_lab, lab_file_text
from labctl.model.labfile import LabFileError, parse_lab
from labctl.scenario.access import RUN_DIR as SCENARIO_RUN_DIR

FOUND = {"ip": "/usr/sbin/ip", "keepalived": "/usr/sbin/keepalived", "nginx": "/usr/sbin/nginx"}


def test_names_keep_labs_and_nodes_apart():
    assert naming.node_namespace("lab", "b1") == "labctl-lab_b1"
    assert naming.lan_namespace("lab") == "labctl-lab__lan"
    # lab a's node b-c and lab a-b's node c: no name in common
    assert naming.node_namespace("a", "b-c") != naming.node_namespace("a-b", "c")
    # a VM lab's sandbox is labctl-<lab>: never one of a netns lab's
    listed = ["labctl-a_b1", "labctl-a__lan", "labctl-a-b_c", "labctl-a", "labctl-ab_b1", "other", "labctl-a_x_y"]
    assert naming.lab_namespaces("a", listed) == ["labctl-a__lan", "labctl-a_b1"]
    assert naming.lab_namespaces("a-b", listed) == ["labctl-a-b_c"]


def test_port_names_fit_the_kernel_and_stay_unique():
    long = "n" * 32
    names = [naming.port_name(i, long) for i in range(1, 12)]
    assert all(len(n) <= naming.IFNAME_MAX for n in names) and len(set(names)) == len(names)
    assert naming.port_name(3, "b1") == "p3-b1"


def test_prerequisites_name_root_first_then_each_program():
    assert missing_prerequisite(0, FOUND) is None
    problem, fix = missing_prerequisite(1000, FOUND)
    assert "needs root" in problem and "sudo" in fix
    problem, fix = missing_prerequisite(0, {**FOUND, "keepalived": None})
    assert "keepalived" in problem and fix == "apt-get install keepalived"


def test_the_ipvs_verdict():
    assert judge_ipvs(True, None, True).available
    loaded = judge_ipvs(False, (0, ""), True)
    assert loaded.available and "modprobe" in loaded.why
    failed = judge_ipvs(False, (1, "modprobe: FATAL: Module ip_vs not found in directory /lib/modules/6.1\n"), False)
    assert not failed.available and "Module ip_vs not found" in failed.why
    nothing = judge_ipvs(False, None, False)
    assert not nothing.available and "no modprobe" in nothing.why
    words = nothing.words()
    assert words.startswith("IPVS is missing on this host") and "balancer namespace that holds it" in words
    assert "forward to the reals" in judge_ipvs(True, None, True).words()


def test_netns_is_a_provider_of_the_lab_file_the_registry_and_the_cli():
    assert "netns" in model.PROVIDERS and set(PROVIDERS) == set(model.PROVIDERS)
    assert provider_named("netns").name == "netns"
    lab = initial_lab("x", provider="netns")
    assert parse_lab(lab_file_text(lab)) == lab and not lab.provider.uses_vagrant
    with pytest.raises(LabFileError, match="isolation: none"):
        parse_lab(lab_file_text(replace(lab, isolation="netns")))
    help_text = CliRunner().invoke(main, ["init", "--help"]).output
    assert "netns" in help_text


def test_a_netns_lab_renders_node_files_and_no_vagrantfile():
    lab = initial_lab("x", provider="netns")
    paths = [f.path for f in render_lab(lab, RenderContext(box=BoxRef("x"), auth_pass="abcd1234"))]
    assert "Vagrantfile" not in paths and "nodes/b1/keepalived.conf" in paths
    assert "Vagrantfile" in [
        f.path for f in render_lab(initial_lab("x"), RenderContext(box=BoxRef("x"), auth_pass="abcd1234"))
    ]


def test_node_configurations_come_from_the_rendered_files():
    lab = initial_lab("x", provider="netns")
    ctx = RenderContext(box=BoxRef("x"), auth_pass="abcd1234")
    b1 = {f.path: f.content for f in node_files(lab, lab.node("b1"), ctx)}
    conf = plan.keepalived_conf(b1["keepalived.conf"], f"{RUN_DIR}/bin/labctl-vrrp-notify")
    assert "notify /run/labctl/bin/labctl-vrrp-notify" in conf and plan.VM_NOTIFY not in conf
    assert "vrrp_instance VI_1" in conf
    assert "--vrrp" in plan.keepalived_argv("keepalived", "k.conf", "/d", ipvs=False)
    assert "--vrrp" not in plan.keepalived_argv("keepalived", "k.conf", "/d", ipvs=True)
    r1 = {f.path: f.content for f in node_files(lab, lab.node("r1"), ctx)}
    main_conf = plan.nginx_main(r1["nginx-site.conf"], "/state/r1")
    assert "root /state/r1/www;" in main_conf and "daemon off;" in main_conf
    assert "add_header X-Real-Server r1 always;" in main_conf
    assert "X-Real-Server b2" in plan.balancer_site("b2", 80)


def test_the_run_folder_is_the_scenarios_one():
    assert RUN_DIR == SCENARIO_RUN_DIR


def test_http_without_ipvs_is_judged_by_the_holder():
    lab = model.reference_lab()
    rows = [("10.10.1.10", "200", "b1")] * 3 + [("10.10.1.20", "200", "b2")] * 3 + [("10.10.1.30", "000", "-")]
    holders = {"10.10.1.10": ["b1"], "10.10.1.20": ["b3"], "10.10.1.30": ["b3"]}
    checks = {c.name: c for c in plan.evaluate_http_without_ipvs(lab, rows, holders)}
    assert checks["http VI_1"].ok and "no IPVS on this host" in checks["http VI_1"].detail
    assert not checks["http VI_2"].ok  # answered by b2, held by b3
    assert not checks["http VI_3"].ok  # no answer


def test_a_netns_lab_refuses_a_user_who_is_not_root(monkeypatch, tmp_path):
    from labctl.errors import LabctlError
    from labctl.lab.host.state import LabState
    from labctl.lab.providers.netns.host import NetnsHost
    from labctl.lab.providers.netns.prerequisites import check_prerequisites

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(LabctlError, match="a netns lab needs root") as raised:
        check_prerequisites("none")
    assert "sudo" in (raised.value.fix or "")
    host = NetnsHost(LabState(tmp_path / ".labctl" / "x"), "x")
    for call in (host.node_states, host.destroy, lambda: host.halt(None)):
        with pytest.raises(LabctlError, match="needs root"):
            call()
