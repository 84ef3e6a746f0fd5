"""A log file per lab: `.labctl/<lab>/logs/labctl.log` gets what labctl did to that lab (the
bring-up's steps, each scenario event), appended by every command, opened without following
links like every file labctl writes as root. `-v` also shows the records on stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from labctl.lab.host import safefiles

LOGGER = "labctl"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_lab(logs_dir: Path, base: Path | None = None) -> Path | None:
    """Append labctl's records to LOGS_DIR/labctl.log (once per process and folder); the path,
    or None when it cannot be opened (a log never stops a command)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    path = logs_dir / "labctl.log"
    if any(getattr(h, "labctl_log", None) == str(path) for h in logger.handlers):
        return path
    try:
        stream = safefiles.open_append(path, base)
    except (OSError, safefiles.UnsafePathError):
        return None
    handler = logging.StreamHandler(stream)
    handler.labctl_log = str(path)  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return path


def log_to_stderr() -> None:
    """-v: the same records on stderr as they happen."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
