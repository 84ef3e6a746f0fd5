"""One Jinja2 environment for every template: strict (a missing value is an error, not a blank)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from labctl.resources import data_root

_PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment() -> jinja2.Environment:
    # labctl's own templates, then the repository's top (Vagrantfile.j2, provision/<role>/...).
    loader = jinja2.FileSystemLoader([str(_PACKAGE_TEMPLATES), str(data_root())])
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
