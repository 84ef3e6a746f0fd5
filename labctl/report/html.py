"""report.html: one self-contained page per run (CSS inline, the timeline as a data URI).

Pure: `report_html` returns the page; `build.build` writes it beside report.md. The template
is rendered by an environment of its own with autoescaping on, because every value in it comes
from files (run.json, the scenario, the summary): none may turn into markup.
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from labctl.observe.summary import RunSummary
from labctl.report import analysis
from labctl.report.wording import STEP_KINDS, disruption_lines, event_text, fmt, mbit, run_start

REPORT_HTML = "report.html"
TEMPLATE = "report.html.j2"
VERDICT_WORDS = {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}

_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_CODE = re.compile(r"`([^`]+)`")


def code(value: object) -> Markup:
    """VALUE escaped, with its `backticked` spans (as report.md writes them) as <code>."""
    return Markup(_CODE.sub(r"<code>\1</code>", str(escape(str(value)))))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = code
    return env


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def paragraphs(text: str) -> list[str]:
    """TEXT's paragraphs (blank-line separated), each on one line."""
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def handovers(summary: RunSummary) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(disruption, VIP, packet phases) of every hand-over the capture showed, as report.md lists them."""
    found = []
    for disruption in summary.get("disruptions") or []:
        for name, result in disruption["vips"].items():
            seen = result.get("packets") or {}
            if seen.get("detection_s") is not None:
                found.append((disruption, name, seen))
    return found


def report_html(
    run: analysis.RunData, summary: RunSummary, timeline_png: bytes | None, load_png: bytes | None = None
) -> str:
    """The run's report as one HTML page; TIMELINE_PNG (timeline.png's bytes) and LOAD_PNG
    (load.png's, for a traffic run) are embedded."""
    t0 = run_start(run)
    verdict = summary.get("verdict") or {"verdict": "fail", "reasons": []}
    packets = summary.get("packets") or {}
    capture = packets.get("capture") or {}
    point = capture.get("point") or {}
    splits = [(name, d) for name, found in (packets.get("duplicate_advertisers") or {}).items() for d in found]
    dups = [(name, d) for name, v in summary["vips"].items() for d in v.get("duplicate_holders") or []]
    steps = [(f"{e['t'] - t0:+.3f}", event_text(e)) for e in run.events if e.get("kind") in STEP_KINDS]
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            run=run,
            info=run.info,
            summary=summary,
            verdict=verdict,
            verdict_word=VERDICT_WORDS.get(verdict["verdict"], str(verdict["verdict"]).upper()),
            steps=steps,
            handovers=handovers(summary),
            fidelity_ok=bool((summary.get("fidelity") or {}).get("ok")),
            capture_point=point.get("what") or "the lab segment",
            splits=splits,
            dups=dups,
            explanation=paragraphs(run.info.get("explanation") or ""),
            raw_vips=json.dumps(summary["vips"], indent=2, sort_keys=True, default=str),
            timeline_uri=png_data_uri(timeline_png) if timeline_png else "",
            load_uri=png_data_uri(load_png) if load_png else "",
            rel=lambda t: f"{t - t0:+.3f}" if t else "-",
            fmt=fmt,
            mbit=mbit,
            disruption_lines=disruption_lines,
        )
    )
