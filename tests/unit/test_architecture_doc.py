"""ARCHITECTURE.md is a map: every file or folder it names in backquotes exists, in the repository
or in the labctl package (a map that names moved modules sends a newcomer nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMED = re.compile(r"`((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.(?:py|j2|sh|yaml|md)|(?:[a-z_]+/)+)`")


def _named_paths(text: str) -> list[str]:
    return sorted(set(NAMED.findall(text)))


def test_every_path_architecture_names_exists():
    named = _named_paths((ROOT / "ARCHITECTURE.md").read_text())
    assert len(named) > 30  # the map names the modules, not nothing
    missing = [p for p in named if not (ROOT / p).exists() and not (ROOT / "labctl" / p).exists()]
    assert missing == [], f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_a_stale_path_is_caught():
    text = "see `lab/running_old.py` and `lab/providers.py`"
    named = _named_paths(text)
    assert named == ["lab/providers.py", "lab/running_old.py"]
    assert not (ROOT / "labctl" / "lab" / "running_old.py").exists()
