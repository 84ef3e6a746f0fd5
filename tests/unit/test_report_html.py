"""report.html: one self-contained, escaped page beside report.md in every run folder."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

from labctl.report.build import build
from labctl.report.html import code, paragraphs
from tests.support import scenario_recordings as rec

EXPECT = [
    {"name": "moved", "metric": "vips.VI_1.moved_after_s", "max": 5},
    {"name": "short outage", "metric": "vips.VI_1.outage_s", "max": 1},
]
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Tags(HTMLParser):
    """Every element closed in order, and every <script> and external reference noted."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.misnested: list[str] = []
        self.scripts = 0
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.sources += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.misnested.append(tag)


def _hostile_run(tmp_path):
    folder = rec.write_run(tmp_path / "run", EXPECT)
    info = json.loads((folder / "run.json").read_text())
    info["description"] = HOSTILE
    info["explanation"] = "A backup waits `3 x advert_int`.\n\nThen <b>takes</b> the VIP."
    info["params"]["note"] = "</td><script>bad()</script>"
    (folder / "run.json").write_text(json.dumps(info))
    return folder


def test_every_run_folder_gets_a_self_contained_report_html(tmp_path):
    folder = rec.write_run(tmp_path / "run", EXPECT[:1])
    summary = build(folder)
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page and 'href="http' not in page
    assert "<link" not in page and "<style>" in page  # CSS inline
    image = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert image is not None
    assert base64.b64decode(image.group(1)) == (folder / "timeline.png").read_bytes()
    assert summary["verdict"]["verdict"] == "pass" and ">PASSED<" in page
    outage = f"{summary['vips']['VI_1']['outage_s']:.3f}"  # as report.md's table writes it
    assert f'<td>VI_1 10.10.1.10</td><td class="num">{outage}</td>' in page
    assert "<code>vips.VI_1.moved_after_s</code>" in page  # the expectations table
    assert "<summary>summary.json: vips</summary>" in page  # the raw figures
    tags = _Tags()
    tags.feed(page)
    assert tags.open == [] and tags.misnested == []
    assert all(source.startswith("data:") for source in tags.sources)


def test_a_failed_run_says_so_with_its_reasons(tmp_path):
    folder = rec.write_run(tmp_path / "run", EXPECT)
    summary = build(folder)
    page = (folder / "report.html").read_text()
    word = {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}[summary["verdict"]["verdict"]]
    assert word != "PASSED" and f'<div class="word">{word}</div>' in page
    assert '<tr class="fail"><td class="fail-word">FAIL</td><td>short outage</td>' in page
    for reason in summary["verdict"]["reasons"]:
        assert str(code(reason)) in page


def test_values_from_files_are_escaped(tmp_path):
    folder = _hostile_run(tmp_path)
    build(folder)
    page = (folder / "report.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page and "<b>takes</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/td&gt;&lt;script&gt;bad()&lt;/script&gt;" in page
    assert "<p>A backup waits <code>3 x advert_int</code>.</p>" in page
    assert "<p>Then &lt;b&gt;takes&lt;/b&gt; the VIP.</p>" in page
    tags = _Tags()
    tags.feed(page)
    assert tags.scripts == 0 and tags.open == [] and tags.misnested == []


def test_labctl_report_rebuilds_report_html(tmp_path):
    from click.testing import CliRunner

    from labctl.cli.report import report as report_command

    folder = rec.write_run(tmp_path / "run", EXPECT[:1])
    build(folder)
    (folder / "report.html").unlink()
    result = CliRunner().invoke(report_command, [str(folder)])
    assert result.exit_code == 0, result.output
    assert "PASSED" in (folder / "report.html").read_text()


def test_code_spans_and_paragraphs():
    assert str(code("run `labctl report <dir>`")) == "run <code>labctl report &lt;dir&gt;</code>"
    assert paragraphs("one\ntwo\n\n  three  \n") == ["one two", "three"]
    assert paragraphs("") == []


def test_the_lab_is_listed_once_under_parameters(tmp_path):
    """The scenario's parameters carry the lab's name too (`lab`), and the page has its own line
    for the lab: one <dt>lab</dt>, not two."""
    folder = rec.write_run(tmp_path / "run", EXPECT[:1])
    info = json.loads((folder / "run.json").read_text())
    info["params"]["lab"] = "reference"
    (folder / "run.json").write_text(json.dumps(info))
    build(folder)
    page = (folder / "report.html").read_text()
    section = page.split('id="parameters"', 1)[1].split("</dl>", 1)[0]
    assert section.count("<dt>lab</dt>") == 1, section
