"""The rich consoles labctl prints with, and how text labctl did not write reaches them.

Only strings labctl wrote carry markup. Anything else (paths, lab and scenario text, node
output, error messages) is printed with `markup=False`, wrapped in `plain` (a Text, never
parsed) or passed through `escape` where it sits inside labctl's own markup.
No console turns `:name:` into an emoji: in `typo.yaml:100:` the 100 is a line number.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

__all__ = ["escape", "make_console", "plain"]


def make_console(*, stderr: bool = False, soft_wrap: bool = True) -> Console:
    """A console without emoji codes and without automatic highlighting (which colours
    numbers and paths in foreign text by guesswork)."""
    return Console(stderr=stderr, soft_wrap=soft_wrap, emoji=False, highlight=False)


def plain(text: object, style: str = "") -> Text:
    """TEXT as it is, for a table cell or title: markup in it is printed, not obeyed. None is
    an empty cell, as in a rich table."""
    return Text("" if text is None else str(text), style=style)
