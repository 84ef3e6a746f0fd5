"""examples/ci/: the GitHub Actions and GitLab CI workflows that grade a class in parallel are
valid for their CI systems (each checked against its published schema by check-jsonschema, which
ships them: no network) and call labctl with options it has."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"
SCHEMAS = {"github-classroom.yml": "vendor.github-workflows", "gitlab-ci.yml": "vendor.gitlab-ci"}


def _check(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(tool).exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    return subprocess.run([tool, "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_each_example_is_valid_for_its_ci_system(name):
    result = _check(EXAMPLES / name, SCHEMAS[name])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "name, old, new",
    [
        (
            "github-classroom.yml",
            "runs-on: ubuntu-24.04\n    timeout-minutes",
            "runs_on: ubuntu-24.04\n    timeout-minutes",
        ),
        ("gitlab-ci.yml", "  when: always\n  script", "  when: sometimes\n  script"),
    ],
)
def test_the_schema_check_catches_a_broken_workflow(tmp_path, name, old, new):
    text = (EXAMPLES / name).read_text()
    assert old in text
    broken = tmp_path / name
    broken.write_text(text.replace(old, new, 1))
    assert _check(broken, SCHEMAS[name]).returncode != 0


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_examples_shard_and_merge_with_options_labctl_has(name):
    text = (EXAMPLES / name).read_text()
    assert "--shard" in text and "--merge" in text
    usage = CliRunner().invoke(main, ["grade", "--help"]).output
    # The grade command lines (with their folded continuations) and the lines building --merge's list.
    used = set(re.findall(r"labctl grade[^\n]*(?:\n\s+--[^\n]*)*", text)) | set(
        re.findall(r"[^\n]*--merge[^\n]*", text)
    )
    flags = {flag for line in used for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[fo])\b", line)}
    assert flags >= {"--assignment", "--shard", "--merge"}, flags
    missing = [flag for flag in flags if flag not in usage]
    assert missing == [], f"{name} calls labctl grade with options it lacks: {missing}"
