"""labctl graph: a picture of the lab from the lab file alone (SVG with real text, or PNG)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from click.testing import CliRunner

from labctl.cli.graph import graph
from labctl.model import initlab
from labctl.model.lab import reference_lab
from labctl.report.topology import priority_cells, save, topology_figure

SVG_TEXT = "{http://www.w3.org/2000/svg}text"


def _svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()  # valid XML, or this raises
    return ["".join(element.itertext()) for element in root.iter(SVG_TEXT)]


def _lab_file(tmp_path):
    lab = reference_lab()
    return initlab.write_lab_file(tmp_path, lab, False)


def test_the_svg_is_xml_and_names_every_node_address_and_vip(tmp_path):
    lab = reference_lab()
    path = tmp_path / "topology.svg"
    save(topology_figure(lab), path)
    texts = _svg_texts(path)
    joined = "\n".join(texts)
    for node in lab.nodes:
        assert node.name in texts, node.name
        assert node.address in texts, node.address
    for vip in lab.vips:
        assert vip.address in texts
        assert f"{vip.name} · VRID {vip.vrid}" in texts
    assert lab.network.cidr in joined
    assert texts.count("MASTER") == len(lab.vips)


def test_the_matrix_numbers_backups_and_marks_ties():
    lab = reference_lab()
    assert priority_cells(lab, lab.vip("VI_1")) == {
        "b1": ("102", "MASTER", False),
        "b2": ("101", "backup #1", False),
        "b3": ("100", "backup #2", False),
    }
    vi3 = priority_cells(lab, lab.vip("VI_3"))
    assert vi3["b3"] == ("102", "MASTER", False)
    assert vi3["b1"] == vi3["b2"] == ("100", "backup #1 (tie)", True)


def test_the_command_writes_topology_svg_next_to_the_lab_file(tmp_path):
    lab_path = _lab_file(tmp_path)
    result = CliRunner().invoke(graph, ["-f", str(lab_path)])
    assert result.exit_code == 0, result.output
    assert "b1" in _svg_texts(tmp_path / "topology.svg")


def test_png_output_is_a_png(tmp_path):
    lab_path = _lab_file(tmp_path)
    out = tmp_path / "slides" / "lab.png"
    result = CliRunner().invoke(graph, ["-f", str(lab_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_other_suffixes_are_refused(tmp_path):
    lab_path = _lab_file(tmp_path)
    result = CliRunner().invoke(graph, ["-f", str(lab_path), "-o", str(tmp_path / "lab.pdf")])
    assert result.exit_code == 2
    assert "lab.pdf: labctl draws .svg or .png, not .pdf" in result.output
    assert not (tmp_path / "lab.pdf").exists()


def test_a_bad_lab_file_is_refused_with_its_problems(tmp_path):
    result = CliRunner().invoke(graph, ["-f", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2


def test_the_same_lab_gives_the_same_svg(tmp_path):
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    save(topology_figure(reference_lab()), first)
    save(topology_figure(reference_lab()), second)
    assert first.read_bytes() == second.read_bytes()
