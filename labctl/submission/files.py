"""Reading a submission's files: `include` globs resolved inside the submission's folder only."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from labctl.submission.conf import IncludeLoader
from labctl.submission.where import SubmissionError, Where

# keepalived's own folder: an include written for the real machine is looked up in the submission.
KEEPALIVED_DIR = "/etc/keepalived/"
MAX_FILE_BYTES = 4 * 1024 * 1024


def read_text(path: Path, shown: str) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SubmissionError(Where(shown, 1), shown, f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SubmissionError(None, shown, f"cannot be read: {exc.strerror or exc}") from exc


def include_loader(root: Path, shown_dirs: dict[str, Path]) -> IncludeLoader:
    """Resolve `include PATTERN` of a file shown as NAME relative to shown_dirs[NAME] (else ROOT);
    every match must lie inside ROOT once links are followed."""
    root = Path(os.path.realpath(root))

    def load(pattern: str, where: Where) -> list[tuple[str, str]]:
        if pattern.startswith(KEEPALIVED_DIR):
            pattern = pattern[len(KEEPALIVED_DIR) :]
        if pattern.startswith("/"):
            raise SubmissionError(
                where, f"include {pattern}", "names a file outside the submission; only files beside it are read"
            )
        base = shown_dirs.get(where.file, root)
        found = []
        for match in sorted(glob.glob(str(base / pattern))):
            real = Path(os.path.realpath(match))
            if not real.is_relative_to(root):
                raise SubmissionError(where, f"include {pattern}", f"{match} lies outside the submission folder {root}")
            if real.is_file():
                shown = os.path.relpath(real, root.parent)
                shown_dirs[shown] = real.parent
                found.append((shown, read_text(real, shown)))
        if not found:
            raise SubmissionError(where, f"include {pattern}", f"no file in the submission folder {root} matches it")
        return found

    return load
