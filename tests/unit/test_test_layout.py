"""pytest imports test modules by basename (rootdir-relative packages are not used here): two
test files of one name in different tiers stop the whole collection, which a run of one tier
does not show. Seen twice: test_kvm_probe.py, test_netns_provider.py."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique_across_the_tiers():
    where: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        where[path.name].append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
