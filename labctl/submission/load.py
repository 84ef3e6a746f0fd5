"""A submission's SOURCE paths -> parsed keepalived.conf per node, IPVS rules, Vagrantfile nodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labctl.model.labfile import NODE_NAME
from labctl.submission import conf, ipvsrules
from labctl.submission.files import include_loader
from labctl.submission.sources import Piece, read_source
from labctl.submission.vagrantfile import VagrantNode, vagrant_nodes
from labctl.submission.where import SubmissionError, Where


@dataclass
class Submission:
    configs: dict[str, tuple[conf.Item, ...]] = field(default_factory=dict)
    config_files: dict[str, str] = field(default_factory=dict)
    rules: list[ipvsrules.Rules] = field(default_factory=list)
    vagrant: list[VagrantNode] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # (file, written, lab name)


def load_submission(sources: list[Path], instance: str | None = None) -> Submission:
    """Read every SOURCE (nothing in it is run) into a Submission."""
    submission = Submission()
    pieces: list[tuple[Piece, Path]] = []
    for source in sources:
        root = source if source.is_dir() else source.parent
        pieces.extend((piece, root) for piece in read_source(source))
    if not pieces:
        raise SubmissionError(None, " ".join(map(str, sources)), "holds no keepalived.conf, IPVS rules or Vagrantfile")
    _name_nodes([p for p, _ in pieces if p.kind == "keepalived"], submission)
    unnamed = iter(submission.renamed)
    for piece, root in pieces:
        if piece.file not in submission.files:
            submission.files.append(piece.file)
        if piece.kind == "keepalived":
            node = piece.node if piece.node and NODE_NAME.fullmatch(piece.node) else next(unnamed)[2]
            loader = include_loader(root, {piece.file: Path(piece.file).parent if Path(piece.file).exists() else root})
            submission.configs[node] = conf.parse(piece.text, piece.file, instance, loader)
            submission.config_files[node] = piece.file
        elif piece.kind == "ipvs":
            submission.rules.append(ipvsrules.read_rules(piece.text, piece.file))
        else:
            submission.vagrant.extend(vagrant_nodes(piece.text, piece.file))
    return submission


def _name_nodes(pieces: list[Piece], submission: Submission) -> None:
    """Pieces without a usable node name get b1, b2, ... (those not taken), in order."""
    taken: dict[str, str] = {}
    for piece in pieces:
        if piece.node and NODE_NAME.fullmatch(piece.node):
            if piece.node in taken:
                raise SubmissionError(
                    Where(piece.file, 1),
                    piece.node,
                    f"a second keepalived.conf for this node (first in {taken[piece.node]})",
                )
            taken[piece.node] = piece.file
    number = 0
    for piece in pieces:
        if piece.node and NODE_NAME.fullmatch(piece.node):
            continue
        number += 1
        while f"b{number}" in taken:
            number += 1
        taken[f"b{number}"] = piece.file
        submission.renamed.append((piece.file, piece.node or "", f"b{number}"))
