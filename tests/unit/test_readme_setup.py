"""README's set-up: exactly two commands, runnable as root without sudo installed and as a user
with sudo (the scripts run themselves again through sudo only when not root)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_readme_has_two_setup_commands_that_do_not_start_with_sudo():
    commands = _setup_commands()
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    for command in commands:
        assert (ROOT / command.split()[1]).is_file()


@pytest.mark.parametrize("script", ["scripts/demo.sh", "scripts/test.sh", "scripts/setup.sh"])
def test_scripts_reexec_through_sudo_only_when_not_root(script, tmp_path):
    lines = (ROOT / script).read_text().splitlines()
    guard_at = lines.index('if [ "$(id -u)" -ne 0 ]; then')
    guard = lines[guard_at : guard_at + 3]
    assert guard[1].strip() == 'exec sudo -E bash "$0" "$@"' and guard[2] == "fi"
    # Everything that needs root comes after the guard.
    assert (
        lines.index("set -euo pipefail")
        < guard_at
        < min(i for i, line in enumerate(lines) if line.startswith(("cd ", "bash ", "apt-get", "packages=")))
    )
    if os.geteuid() == 0:
        # As root the guard is a no-op even with no sudo on PATH (only `id` is there).
        (tmp_path / "id").symlink_to("/usr/bin/id")
        snippet = "\n".join(["set -euo pipefail", *guard, 'echo "past-the-guard as $(id -u)"'])
        out = subprocess.run(["/bin/bash", "-c", snippet], capture_output=True, text=True, env={"PATH": str(tmp_path)})
        assert out.stdout.strip() == "past-the-guard as 0" and not out.stderr, out.stderr
