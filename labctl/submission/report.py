"""The import report: Markdown (templates/import-report.md.j2) and JSON, from an Imported."""

from __future__ import annotations

from typing import Any

from labctl.model.lab import AUTH_PASS_MAX
from labctl.submission.mapping import Imported, Note
from labctl.templating import render


def _lines(notes: list[Note]) -> list[str]:
    # In file order, then the notes without a place.
    placed = sorted((n for n in notes if n.where), key=lambda n: (n.where.file, n.where.line) if n.where else ("", 0))
    return [str(n) for n in placed] + [str(n) for n in notes if not n.where]


def report_data(result: Imported) -> dict[str, Any]:
    lab = result.lab
    return {
        "lab": lab.name,
        "files": list(result.files),
        "balancers": [b.name for b in lab.balancers],
        "vips": [
            {"name": v.name, "address": v.address, "vrid": v.vrid, "master": lab.elected_master(v)} for v in lab.vips
        ],
        "ipvs_manager": lab.ipvs.manager,
        "password_kept": lab.vrrp.auth_pass,
        "password_used": lab.vrrp.auth_pass[:AUTH_PASS_MAX] if lab.vrrp.auth_pass else None,
        "findings": _lines(result.findings),
        "kept_verbatim": _lines(result.carried),
        "scripts": _lines(result.scripts),
        "not_reproduced": _lines(result.dropped),
        "config_test": [str(n) for n in result.config_test],
    }


def report_markdown(result: Imported) -> str:
    return render("import-report.md.j2", report=report_data(result))
