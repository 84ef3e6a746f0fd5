"""One Jinja2 environment for every template: strict (a missing value is an error, not a blank).

Rendered files are code (the Vagrantfile is Ruby, provision scripts are shell, keepalived.conf
and the nginx site have their own syntax), so a value goes into one through the filter of that
language: `ruby_str` (a Ruby double-quoted string literal, `#{...}` inert), `sh_quote` (one shell
word), `keepalived_token`, `nginx_token` and `networkd_token` (one plain token: those languages have no escape that
covers every character, so anything else is refused). The lab file's own checks come first; the
filters hold even when a value slipped past them.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

import jinja2

from labctl.errors import BadInput
from labctl.resources import data_root

_PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"

# Characters a keepalived or nginx token may hold: no space, quote, '#', '!', ';', '$', '\\', braces.
_KEEPALIVED_TOKEN = re.compile(r"[A-Za-z0-9_.,:/@%+=-]+")
_NGINX_TOKEN = re.compile(r"[A-Za-z0-9_.,:/@%+=-]+")


class UnsafeValue(BadInput):
    """A value that cannot be written into a rendered file safely (exit 2)."""


def _text(value: object) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises here
    return str(value)


def ruby_str(value: object) -> str:
    """VALUE as a Ruby double-quoted string literal, quotes included: `"`, `\\` and `#` (which
    would start `#{...}`, `#@var`, `#$var`) are escaped, anything but printable ASCII is `\\u{..}`."""
    out = []
    for char in _text(value):
        if char in '"\\#':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    return '"' + "".join(out) + '"'


def sh_quote(value: object) -> str:
    """VALUE as one POSIX shell word (single quotes when it needs any)."""
    return shlex.quote(_text(value))


def _token(value: object, pattern: re.Pattern[str], language: str) -> str:
    text = _text(value)
    if not pattern.fullmatch(text):
        shown = repr(text) if len(text) <= 40 else repr(text[:36]) + "..."
        raise UnsafeValue(f"{shown} cannot be written into {language}: not one plain token")
    return text


def keepalived_token(value: object) -> str:
    return _token(value, _KEEPALIVED_TOKEN, "keepalived.conf")


def nginx_token(value: object) -> str:
    return _token(value, _NGINX_TOKEN, "an nginx configuration")


def networkd_token(value: object) -> str:
    return _token(value, _KEEPALIVED_TOKEN, "a systemd-networkd file")


def comment(value: object) -> str:
    """VALUE for a comment of any of the languages: one line, printable ASCII."""
    return "".join(c if " " <= c <= "~" else "?" for c in _text(value))


FILTERS = {
    "ruby_str": ruby_str,
    "sh_quote": sh_quote,
    "keepalived_token": keepalived_token,
    "nginx_token": nginx_token,
    "networkd_token": networkd_token,
    "comment": comment,
}


@cache
def environment() -> jinja2.Environment:
    # labctl's own templates, then the repository's top (Vagrantfile.j2, provision/<role>/...).
    loader = jinja2.FileSystemLoader([str(_PACKAGE_TEMPLATES), str(data_root())])
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
