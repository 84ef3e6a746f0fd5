"""keepalived's own complaints about a balancer's rendered keepalived.conf (`keepalived
--config-test`), pointed back at the line of the submission they are about, and judged: those
the import already reports are explained, every other one refuses the import.

keepalived names a line of the file it read, `(FILE: Line N) words`, or only a name, `(VI_1)
words`, `Virtual server FWM 1: words`. The rendered file is read back with the submission's own
reader and laid over what the node's config holds, block by block: a rendered line is the
submission's line with the same keyword (and words, where several share one), else the block
around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labctl.submission import conf
from labctl.submission.conf import Item
from labctl.submission.mapping import Imported, Note
from labctl.submission.where import SubmissionError, Where

_LINED = re.compile(r"\((?P<file>[^()]*): Line (?P<line>\d+)\)\s*(?P<text>.*)")
_FWMARK = re.compile(r"\bFWM (\d+)\b")
# keepalived's word for a keyword, where it differs.
_SAYS = {"vrid": "virtual_router_id"}
# Complaints the import's report already explains: the lab keeps them as the submission wrote.
EXPLAINED = {
    re.compile(
        r"Truncating auth_pass to \d+ characters"
    ): "the auth_pass finding: the lab keeps the password as written",
}
# Complaints about files on this host: a script keepalived would run lives in the VM, not here,
# and labctl never brings it (it is not part of the submission). Reported, not refused.
HOST_FILES = re.compile(r"Disabling track script \S+ (since not found/accessible|due to insecure)")
HOST_FILES_WHY = (
    "judged on this host's files; the script runs inside the VM, where labctl puts no file of the submission"
)


@dataclass(frozen=True)
class Complaint:
    text: str  # keepalived's words
    item: Item | None  # the submission's line they are about


def locate(rendered: str, written: tuple[Item, ...], rename: dict[str, str]) -> dict[int, Item]:
    """Each line of RENDERED (a keepalived.conf) -> the item of WRITTEN it comes from."""
    found: dict[int, Item] = {}
    _pair(conf.parse(rendered, "rendered"), written, rename, None, found)
    return found


def _pair(
    rendered: tuple[Item, ...],
    written: tuple[Item, ...],
    rename: dict[str, str],
    parent: Item | None,
    found: dict[int, Item],
) -> None:
    free = list(written)
    for item in rendered:
        match = _take(item, free, rename)
        target = match or parent
        if target is not None:
            found[item.where.line] = target
        if item.block:
            _pair(item.block, match.block or () if match else (), rename, target, found)


def _take(item: Item, free: list[Item], rename: dict[str, str]) -> Item | None:
    """The first of FREE with ITEM's words once renamed, else with its keyword; taken from FREE."""

    def words(i: Item) -> tuple[str, ...]:
        return tuple(conf.renamed(w, rename) for w in (i.key, *i.args))

    wanted = words(item)
    match = next((w for w in free if words(w) == wanted), None)
    match = match or next((w for w in free if words(w)[0] == wanted[0]), None)
    if match is not None:
        free.remove(match)
    return match


def _named(text: str, rendered: tuple[Item, ...]) -> Item | None:
    """For a complaint without a line: the rendered block it names (an instance, sync group,
    script or virtual server) and, inside it, the first keyword it mentions."""
    fwmark = _FWMARK.search(text)
    for top in rendered:
        if fwmark and top.args[:2] == ("fwmark", fwmark.group(1)):
            break
        name = top.value or ""
        if not name.isdigit() and len(name) > 1 and re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text):
            break
    else:
        return None
    keys = {child.key.lower(): child for child in reversed(top.block or ())}
    for word in re.findall(r"[\w-]+", text.lower()):
        child = keys.get(_SAYS.get(word, word))
        if child is not None:
            return child
    return top


def complaints(output: str, rendered: str, written: tuple[Item, ...], rename: dict[str, str]) -> list[Complaint]:
    """keepalived's OUTPUT about RENDERED, each complaint with the item of WRITTEN it is about."""
    lines = locate(rendered, written, rename)
    tree = conf.parse(rendered, "rendered")
    found = []
    for raw in output.splitlines():
        raw = raw.strip()
        if not raw:
            continue
        lined = _LINED.fullmatch(raw)
        if lined:
            found.append(Complaint(lined.group("text").strip(), lines.get(int(lined.group("line")))))
            continue
        named = _named(raw, tree)
        found.append(Complaint(raw, lines.get(named.where.line) if named else None))
    return found


@dataclass(frozen=True)
class Explained:
    """A complaint the import explains: keepalived's words, why, and where (node, FILE:LINE)."""

    text: str
    why: str
    node: str
    where: Where | None


def judge(
    result: Imported, node: str, rendered: str, output: str, returncode: int
) -> tuple[list[Note], list[Explained]]:
    """(refusals, explained complaints) for keepalived's OUTPUT and exit code about NODE's RENDERED file."""
    written = result.configs.get(node, ())
    fallback = written[0] if written else None
    refused: list[Note] = []
    explained: list[Explained] = []
    for complaint in complaints(output, rendered, written, result.renames):
        item = complaint.item or fallback
        where = item.where if item else None
        why = next((why for pattern, why in EXPLAINED.items() if pattern.search(complaint.text)), None)
        if why is None and HOST_FILES.search(complaint.text):
            why = HOST_FILES_WHY
        if why is None and returncode != 0:
            refused.append(Note(where, f"{_construct(item)}: keepalived --config-test on {node}: {complaint.text}"))
        else:
            explained.append(Explained(complaint.text, why or "keepalived still exits 0", node, where))
    if returncode != 0 and not refused and not explained:
        refused.append(
            Note(fallback.where if fallback else None, f"keepalived --config-test on {node}: exit {returncode}")
        )
    return list(dict.fromkeys(refused)), explained


def explained_notes(explained: list[Explained]) -> list[Note]:
    """One note per thing keepalived said, with every node and FILE:LINE it said it about."""
    groups: dict[tuple[str, str], list[Explained]] = {}
    for one in explained:
        groups.setdefault((one.text, one.why), []).append(one)
    notes = []
    for (text, why), group in groups.items():
        nodes = ", ".join(dict.fromkeys(g.node for g in group))
        files: dict[str, list[str]] = {}
        for where in sorted({g.where for g in group if g.where}):
            files.setdefault(where.file, []).append(str(where.line))
        places = "; ".join(f"{file}:{', '.join(lines)}" for file, lines in files.items())
        notes.append(Note(None, f"'{text}' on {nodes}{f', at {places}' if places else ''}: {why}"))
    return notes


def _construct(item: Item | None) -> str:
    if item is None:
        return "keepalived.conf"
    text = " ".join((item.key, *item.args))
    return text if len(text) <= 60 else text[:57] + "..."


def refusal(notes: list[Note]) -> SubmissionError:
    """One error listing every refusal, `FILE:LINE: construct: keepalived's words` each."""
    first = notes[0]
    construct, _, reason = first.text.partition(": ")
    error = SubmissionError(first.where, construct, reason)
    lines = [str(n) for n in notes]
    error.problems, error.message = lines, "\n".join(lines)
    return error
