"""Round trip: a lab the planner writes, rendered, then imported from its rendered
keepalived.conf files, IPVS rules and Vagrantfile, is the same lab (a deterministic sweep:
2-5 balancers, 1-12 VIPs, both IPVS managers)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labctl.lab.vms.render import BoxRef, RenderContext, render_lab, write_rendered
from labctl.model import lab as model
from labctl.model.initlab import lab_file_text
from labctl.model.labfile import allocate_vip_addresses, parse_lab
from labctl.model.planner import build_matrix, default_balancer_names
from labctl.submission.importer import import_submission

CTX = RenderContext(box=BoxRef("debian/bookworm64"), auth_pass="k9Lm2Pq7")


def planned_lab(balancers: int, vips: int, manager: str) -> model.Lab:
    base = model.reference_lab()
    names = default_balancer_names(balancers)
    nodes = [model.Node(name, "balancer", f"10.10.1.{2 + i}") for i, name in enumerate(names)]
    nodes += [n for n in base.nodes if n.role != "balancer"]
    addresses = allocate_vip_addresses(base.network, {n.address for n in nodes}, vips)
    matrix = build_matrix(names, vips, 1)
    planned = [model.Vip(f"VI_{i + 1}", addresses[i], 55 + i, dict(e.priorities)) for i, e in enumerate(matrix)]
    return replace(base, nodes=tuple(nodes), vips=tuple(planned), ipvs=model.IpvsSettings(manager=manager))


CASES = [(b, v, m) for b in range(2, 6) for v in (1, 2, b, 7, 12) for m in model.IPVS_MANAGERS]


@pytest.mark.parametrize("balancers, vips, manager", CASES)
def test_render_then_import_gives_the_same_lab(tmp_path, balancers, vips, manager):
    lab = planned_lab(balancers, vips, manager)
    assert parse_lab(lab_file_text(lab)) == lab  # a lab the lab file can hold
    write_rendered(render_lab(lab, CTX), tmp_path)
    sources = [tmp_path / "nodes", tmp_path / "Vagrantfile"]
    if manager == "ipvsadm":
        sources += [tmp_path / "nodes" / b.name / "ipvsadm.rules" for b in lab.balancers]
    imported = import_submission(sources)
    assert imported.lab == replace(lab, vrrp=replace(lab.vrrp, auth_pass=CTX.auth_pass))
    assert imported.carried == [] and imported.lab.keepalived_extra == {}
    assert imported.dropped == []  # every ipvsadm rule, every keepalived setting landed in the lab


@pytest.mark.parametrize("manager", model.IPVS_MANAGERS)
def test_a_vip_on_some_balancers_only_is_imported_as_a_vip(tmp_path, manager):
    # VI_3 on b3 alone, VI_1 on b1 and b3: normal VIPs, nothing carried verbatim.
    base = planned_lab(3, 3, manager)
    subsets = {"VI_1": ("b1", "b3"), "VI_3": ("b3",)}
    vips = tuple(
        replace(v, priorities={b: p for b, p in v.priorities.items() if b in subsets[v.name]})
        if v.name in subsets
        else v
        for v in base.vips
    )
    lab = replace(base, vips=vips)
    assert len(lab.vip("VI_3").priorities) == 1 and len(lab.vip("VI_1").priorities) == 2
    assert parse_lab(lab_file_text(lab)) == lab
    write_rendered(render_lab(lab, CTX), tmp_path)
    sources = [tmp_path / "nodes", tmp_path / "Vagrantfile"]
    if manager == "ipvsadm":
        sources += [tmp_path / "nodes" / b.name / "ipvsadm.rules" for b in lab.balancers]
    imported = import_submission(sources)
    assert imported.lab == replace(lab, vrrp=replace(lab.vrrp, auth_pass=CTX.auth_pass))
    assert imported.carried == [] and imported.lab.keepalived_extra == {}
    assert any(
        "VI_3 (10.10.1.30) is configured on b3 only: no backup takes it over" in str(f) for f in imported.findings
    )
