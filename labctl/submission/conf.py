"""A keepalived.conf reader that keeps FILE:LINE for every value.

It follows keepalived's own parser (lib/parser.c) where a submission can tell the difference:
`!` and `#` start a comment anywhere outside double quotes, `{` and `}` are tokens of their own
(a block may open on the next line), a trailing backslash continues a line, `include GLOB`
reads other files, `@NAME line` is read only by the keepalived started with `-i NAME` (and
`@^NAME line` by every other), `$NAME=value` defines a variable that `$NAME` or `${NAME}`
later stands for. PyPI's keepalived-config (0.2.1) was not used: it keeps no line numbers and
reads neither include, conditional lines nor variables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from labctl.submission.where import SubmissionError, Where

# keepalived nests includes at most this deep too (MAX_INCLUDE_DEPTH).
MAX_INCLUDE_DEPTH = 8
_CONDITIONAL = re.compile(r"@(\^?)(\S+)\s*(.*)")
_DEFINITION = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# An unquoted word that keepalived reads back unchanged.
_PLAIN = re.compile(r"[^\s\"{}!#]+")

# Given an include pattern and where it was written: (shown name, text) of each file it names.
IncludeLoader = Callable[[str, Where], list[tuple[str, str]]]


@dataclass(frozen=True)
class Item:
    """One keyword line, with its arguments and, for a block, the items inside."""

    key: str
    args: tuple[str, ...]
    where: Where
    block: tuple[Item, ...] | None = None
    quoted: tuple[bool, ...] = ()

    def find(self, key: str) -> Item | None:
        return next((i for i in self.block or () if i.key == key), None)

    def find_all(self, key: str) -> list[Item]:
        return [i for i in self.block or () if i.key == key]

    @property
    def value(self) -> str | None:
        return self.args[0] if self.args else None


@dataclass
class _Building:
    key: str
    args: list[str]
    quoted: list[bool]
    where: Where
    block: list[_Building] | None = None

    def freeze(self) -> Item:
        block = tuple(b.freeze() for b in self.block) if self.block is not None else None
        return Item(self.key, tuple(self.args), self.where, block, tuple(self.quoted))


@dataclass
class _Context:
    instance: str | None
    include: IncludeLoader | None
    variables: dict[str, str] = field(default_factory=dict)


def parse(text: str, file: str, instance: str | None = None, include: IncludeLoader | None = None) -> tuple[Item, ...]:
    """The items of keepalived.conf TEXT (named FILE in messages), as `keepalived -i INSTANCE`
    reads it; INCLUDE resolves `include` lines (None: an include is an error)."""
    return _tree(_lines(text, file, _Context(instance, include), 0))


def _lines(text: str, file: str, ctx: _Context, depth: int) -> Iterator[tuple[Where, str]]:
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _decomment(raw, Where(file, number)).rstrip()
        if line.endswith("\\"):
            start = start or number
            pending += line[:-1] + " "
            continue
        where = Where(file, start or number)
        line, pending, start = pending + line, "", 0
        yield from _logical(line.strip(), where, ctx, depth)
    if pending:
        yield from _logical(pending.strip(), Where(file, start), ctx, depth)


def _logical(line: str, where: Where, ctx: _Context, depth: int) -> Iterator[tuple[Where, str]]:
    if not line:
        return
    conditional = _CONDITIONAL.fullmatch(line)
    if conditional:
        negated, name, rest = conditional.groups()
        if (name == ctx.instance) == (negated == ""):
            yield from _logical(rest, where, ctx, depth)
        return
    if line.startswith("~SEQ"):
        raise SubmissionError(where, "~SEQ", "keepalived's sequence expansion is not supported by labctl import")
    definition = _DEFINITION.fullmatch(line)
    if definition:
        ctx.variables[definition.group(1)] = _substitute(definition.group(2), where, ctx)
        return
    line = _substitute(line, where, ctx)
    words = line.split(None, 1)
    if words[0] == "include":
        yield from _included(words[1] if len(words) > 1 else "", where, ctx, depth)
        return
    yield where, line


def _included(pattern: str, where: Where, ctx: _Context, depth: int) -> Iterator[tuple[Where, str]]:
    pattern = pattern.strip().strip('"')
    if not pattern:
        raise SubmissionError(where, "include", "names no file")
    if ctx.include is None:
        raise SubmissionError(where, f"include {pattern}", "an include needs the file it names beside the submission")
    if depth >= MAX_INCLUDE_DEPTH:
        raise SubmissionError(where, f"include {pattern}", f"includes nest deeper than {MAX_INCLUDE_DEPTH}")
    for name, text in ctx.include(pattern, where):
        yield from _lines(text, name, ctx, depth + 1)


def _substitute(line: str, where: Where, ctx: _Context) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in ctx.variables:
            raise SubmissionError(where, f"${name}", "is used but never defined")
        return ctx.variables[name]

    return _REFERENCE.sub(value, line) if "$" in line else line


def _decomment(line: str, where: Where) -> str:
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char in "!#" and not quoted:
            return line[:index]
    if quoted:
        raise SubmissionError(where, line.strip()[:40], "a quoted string is not closed on its line")
    return line


def _tokens(line: str) -> Iterator[tuple[str, bool]]:
    """Words of LINE as (text, was quoted); braces are words of their own."""
    for match in re.finditer(r'"([^"]*)"|([{}])|([^\s"{}]+)', line):
        quoted, brace, plain = match.groups()
        if quoted is not None:
            yield quoted, True
        else:
            yield brace or plain, False


def _tree(lines: Iterator[tuple[Where, str]]) -> tuple[Item, ...]:
    top: list[_Building] = []
    stack: list[tuple[list[_Building], _Building | None]] = [(top, None)]
    for where, line in lines:
        current: _Building | None = None
        for word, quoted in _tokens(line):
            items = stack[-1][0]
            if word == "{" and not quoted:
                opener = current or (items[-1] if items else None)
                if opener is None or opener.block is not None:
                    raise SubmissionError(where, "{", "a block opens without a keyword before it")
                opener.block = []
                stack.append((opener.block, opener))
                current = None
            elif word == "}" and not quoted:
                if len(stack) == 1:
                    raise SubmissionError(where, "}", "closes a block that was never opened")
                stack.pop()
                current = None
            elif current is None:
                current = _Building(word, [], [], where)
                items.append(current)
            else:
                current.args.append(word)
                current.quoted.append(quoted)
    if len(stack) > 1:
        opener = stack[-1][1]
        assert opener is not None
        raise SubmissionError(opener.where, opener.key, "its block is never closed ('}' missing)")
    return tuple(b.freeze() for b in top)


def emit(items: tuple[Item, ...] | list[Item], rename: dict[str, str] | None = None, indent: int = 0) -> str:
    """ITEMS as keepalived.conf text (comments dropped), each word renamed through RENAME: a
    word equal to a key, or starting with a key and ':' (an address label), is replaced."""
    rename = rename or {}
    out: list[str] = []
    for item in items:
        words = [_word(item.key, False, rename)]
        words += [_word(a, q, rename) for a, q in zip(item.args, item.quoted or (False,) * len(item.args))]
        pad = "    " * indent
        if item.block is None:
            out.append(pad + " ".join(words) + "\n")
        else:
            out.append(pad + " ".join(words) + " {\n")
            out.append(emit(item.block, rename, indent + 1))
            out.append(pad + "}\n")
    return "".join(out)


def renamed(word: str, rename: dict[str, str]) -> str:
    """WORD through RENAME: a word equal to a key, or a key and ':' (an address label)."""
    if word in rename:
        return rename[word]
    head, colon, tail = word.partition(":")
    return f"{rename[head]}:{tail}" if colon and head in rename else word


def _word(word: str, quoted: bool, rename: dict[str, str]) -> str:
    word = renamed(word, rename)
    return f'"{word}"' if quoted or not _PLAIN.fullmatch(word) else word
