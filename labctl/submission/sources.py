"""What a submission is made of: each keepalived.conf (with its node), IPVS rules and
Vagrantfile, found in folders, files named after nodes, or a homework-style text where each
config follows a shell prompt naming its host or sits in a fenced block."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labctl.submission import ipvsrules
from labctl.submission.files import read_text
from labctl.submission.where import SubmissionError

# `root@b1:~# cat /etc/keepalived/keepalived.conf`, `[vagrant@b2 ~]$ sudo ipvsadm -Ln`
PROMPT = re.compile(r"\s*\[?[\w.-]+@(?P<host>[\w.-]+)[: ][^#$\n]*[#$]\s*(?P<command>.*)")
FENCE = re.compile(r"\s*(```|~~~)")
TOP_KEYWORDS = (
    "global_defs",
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "virtual_server",
    "virtual_server_group",
    "static_ipaddress",
    "static_routes",
    "static_rules",
)
_TOP = re.compile(r"\s*(" + "|".join(TOP_KEYWORDS) + r")\b")
# b1.conf, keepalived.b1.conf (a node's name is a hostname)
_NAMED_CONF = re.compile(r"(?:keepalived\.)?([a-z][a-z0-9-]*)\.conf")


@dataclass(frozen=True)
class Piece:
    """One keepalived.conf, IPVS rules or Vagrantfile of the submission. TEXT keeps its lines
    where they are in FILE (blank lines stand in for the rest), so every line number is FILE's."""

    kind: str  # keepalived | ipvs | vagrantfile
    node: str | None
    text: str
    file: str


def _padded(lines: list[str], start: int, end: int) -> str:
    """Lines START..END-1 of a file (0-based) with blank lines before them."""
    return "\n" * start + "".join(line + "\n" for line in lines[start:end])


def split_text(text: str, file: str) -> list[Piece]:
    """The pieces of a homework-style text or Markdown file."""
    lines = text.splitlines()
    pieces: list[Piece] = []
    claimed = [False] * len(lines)
    index = 0
    while index < len(lines):
        prompt = PROMPT.fullmatch(lines[index])
        kind = _prompt_kind(prompt.group("command")) if prompt else None
        if prompt is None or kind is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not PROMPT.fullmatch(lines[end]) and not FENCE.match(lines[end]):
            end += 1
        for claimed_line in range(index, end):
            claimed[claimed_line] = True
        pieces.append(Piece(kind, prompt.group("host").lower(), _padded(lines, index + 1, end), file))
        index = end
    pieces.extend(_unprompted(lines, claimed, file))
    return pieces


def _prompt_kind(command: str) -> str | None:
    if "keepalived" in command and re.search(r"\b(cat|less|more|bat)\b", command):
        return "keepalived"
    if re.search(r"ipvsadm(-save)?\b", command) and re.search(r"-S|-L|save", command):
        return "ipvs"
    return None


def _unprompted(lines: list[str], claimed: list[bool], file: str) -> list[Piece]:
    """keepalived blocks and IPVS rule lines outside any prompt's output."""
    pieces: list[Piece] = []
    index = 0
    while index < len(lines):
        if claimed[index] or not _TOP.match(lines[index]):
            index += 1
            continue
        end = _config_end(lines, index)
        pieces.append(Piece("keepalived", None, _padded(lines, index, end), file))
        for line in range(index, end):
            claimed[line] = True
        index = end
    rule_lines = [line if not claimed[i] and ipvsrules.is_rule_line(line) else "" for i, line in enumerate(lines)]
    if any(rule_lines):
        pieces.append(Piece("ipvs", None, "".join(line + "\n" for line in rule_lines), file))
    return pieces


def _config_end(lines: list[str], start: int) -> int:
    """The line after a run of top-level blocks that starts at START (braces balanced)."""
    depth = 0
    end = start
    for index in range(start, len(lines)):
        line = lines[index].split("#", 1)[0].split("!", 1)[0]
        if FENCE.match(lines[index]) or (depth == 0 and line.strip() and not _TOP.match(line)):
            break
        depth += line.count("{") - line.count("}")
        end = index + 1
    return end


def read_source(path: Path) -> list[Piece]:
    """The pieces of one SOURCE argument: a folder, a keepalived.conf, rules, a Vagrantfile or a text."""
    if path.is_dir():
        return _folder(path)
    shown = str(path)
    if not path.exists():
        raise SubmissionError(None, shown, "no such file or folder")
    # `lb1/keepalived.conf` named on the command line: its folder names the node, as in a folder.
    folder = path.parent.name.lower() if len(path.parts) > 1 and path.parent.name != "keepalived" else None
    return _file(path, shown, path.name, node=folder if path.name == "keepalived.conf" else None)


def _file(path: Path, shown: str, name: str, node: str | None = None) -> list[Piece]:
    text = read_text(path, shown)
    if name == "Vagrantfile":
        return [Piece("vagrantfile", None, text, shown)]
    named = _NAMED_CONF.fullmatch(name)
    if name.startswith("keepalived.conf") or named:
        own = node or (named.group(1) if named and named.group(1) != "keepalived" else None)
        return [Piece("keepalived", own, text, shown)]
    if _TOP.match(text.lstrip().split("\n", 1)[0]) and not PROMPT.search(text):
        return [Piece("keepalived", node, text, shown)]
    pieces = split_text(text, shown)
    if not pieces and ipvsrules.looks_like_rules(text):
        pieces = [Piece("ipvs", node, text, shown)]
    return pieces


def _folder(root: Path) -> list[Piece]:
    """b1.conf, keepalived.b1.conf, b1/keepalived.conf, keepalived.conf, Vagrantfile, rules and
    texts at the top; files further down are read only when a config includes them."""
    pieces: list[Piece] = []
    for path in sorted(root.iterdir()):
        shown = str(path)
        if path.is_symlink():
            continue  # a link may point anywhere: only the submission's own files are read
        if path.is_dir():
            conf = path / "keepalived.conf"
            if conf.is_file() and not conf.is_symlink():
                pieces.extend(_file(conf, str(conf), conf.name, node=path.name.lower()))
        elif path.is_file():
            pieces.extend(_file(path, shown, path.name))
    return pieces
