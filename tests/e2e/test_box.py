"""The lab's box: mirror discovery, a real mmdebstrap build, its cache, and real VMs booting it."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from labctl.lab.vms.box import (
    ADDED_BOX_DIR,
    AptSource,
    BoxError,
    BoxInfo,
    add_box_to_vagrant,
    build_box,
    host_apt_sources,
    list_boxes,
    mirror_lines,
    mirror_lines_from_sources,
)

# --- mirror discovery (pure: runs everywhere, fast) ----------------------------------------

DEB822 = """\
Types: deb deb-src
# a comment line inside the stanza
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main
Enabled: no
"""

ONE_LINE = """\
# deb http://commented.invalid/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] http://one.invalid/debian bookworm main
deb-src http://one.invalid/debian bookworm main
deb http://other.invalid/debian trixie main
"""


def _write_sources(root: Path, one_line: str = "", files: dict[str, str] | None = None) -> tuple[Path, Path]:
    sources_list = root / "sources.list"
    sources_list.write_text(one_line)
    folder = root / "sources.list.d"
    folder.mkdir()
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return sources_list, folder


def test_deb822_sources_give_the_suite_its_updates_and_security(tmp_path: Path) -> None:
    sources = host_apt_sources(*_write_sources(tmp_path, files={"debian.sources": DEB822}))
    assert mirror_lines_from_sources(sources, "bookworm") == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.invalid/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.invalid/debian bookworm-updates main",
        "deb http://mirror.invalid/debian-security bookworm-security main",
    ]


def test_one_line_sources_keep_signed_by_and_skip_deb_src(tmp_path: Path) -> None:
    sources = host_apt_sources(*_write_sources(tmp_path, one_line=ONE_LINE))
    assert mirror_lines_from_sources(sources, "bookworm") == [
        "deb [signed-by=/etc/apt/keyrings/x.gpg] http://one.invalid/debian bookworm main",
    ]


def test_disabled_files_are_ignored(tmp_path: Path) -> None:
    files = {"debian.sources.disabled": DEB822, "old.list.save": ONE_LINE}
    sources = host_apt_sources(*_write_sources(tmp_path, files=files))
    assert mirror_lines_from_sources(sources, "bookworm") == []


def test_updates_alone_cannot_bootstrap(tmp_path: Path) -> None:
    only_security = [AptSource(("deb",), ("http://s.invalid/debian-security",), ("bookworm-security",))]
    assert mirror_lines_from_sources(only_security, "bookworm") == []


def test_an_explicit_mirror_wins() -> None:
    assert mirror_lines("http://mirror.invalid/debian", "bookworm") == [
        "deb http://mirror.invalid/debian bookworm main"
    ]
    line = "deb http://mirror.invalid/debian bookworm main contrib"
    assert mirror_lines(line, "bookworm") == [line]


def test_no_mirror_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import labctl.lab.vms.box as box

    empty = _write_sources(tmp_path)
    monkeypatch.setattr(box, "host_apt_sources", lambda: host_apt_sources(*empty))
    with pytest.raises(BoxError, match="--mirror"):
        mirror_lines(None, "bookworm")


# --- the real build (root, mmdebstrap, a Debian mirror) -----------------------------------


@pytest.mark.e2e
def test_box_holds_what_vagrant_libvirt_needs(built_box: BoxInfo) -> None:
    with tarfile.open(built_box.box_file) as archive:
        names = set(archive.getnames())
        metadata = json.load(archive.extractfile("metadata.json"))  # type: ignore[arg-type]
        vagrantfile = archive.extractfile("Vagrantfile").read().decode()  # type: ignore[union-attr]
    assert names == {"metadata.json", "Vagrantfile", "box.img"}
    assert metadata == {"provider": "libvirt", "format": "qcow2", "virtual_size": 4}
    assert 'synced_folder ".", "/vagrant", disabled: true' in vagrantfile
    assert built_box.kernel.stat().st_size > 1_000_000
    # MODULES=list: only what mounts the virtio root disk (MODULES=most made it 36 MB).
    assert 1_000_000 < built_box.initrd.stat().st_size < 16_000_000
    assert built_box.size == built_box.box_file.stat().st_size
    assert (built_box.path / "build.log").is_file()


@pytest.mark.e2e
def test_a_second_build_is_served_from_the_cache(built_box: BoxInfo) -> None:
    before = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (built_box.box_file, built_box.kernel, built_box.initrd)
    }
    phases: list[str] = []
    again = build_box(progress=phases.append)
    assert phases == ["cached"]
    assert again == built_box
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in before} == before


@pytest.mark.e2e
def test_list_boxes_sees_the_build(built_box: BoxInfo) -> None:
    assert built_box in list_boxes()


@pytest.mark.e2e
def test_adding_the_box_to_vagrant_twice(built_box: BoxInfo, tmp_path: Path) -> None:
    env = dict(os.environ, VAGRANT_HOME=str(tmp_path / "vagrant.d"), VAGRANT_CHECKPOINT_DISABLE="1")
    add_box_to_vagrant(built_box, env)
    add_box_to_vagrant(built_box, env)
    listing = subprocess.run(["vagrant", "box", "list"], env=env, capture_output=True, text=True, check=True).stdout
    assert listing.count(built_box.name) == 1


@pytest.mark.e2e
def test_a_new_vagrant_home_links_the_files_the_first_box_add_unpacked(built_box: BoxInfo, tmp_path: Path) -> None:
    """Every lab has a Vagrant home of its own: only the first `vagrant box add` on the machine
    unpacks the image; later labs link its files (seconds saved at every new lab's first up)."""
    if os.stat(tmp_path).st_dev != os.stat(built_box.path).st_dev:
        pytest.skip("the test folder and the box cache are on different filesystems: no hard links")
    first = dict(os.environ, VAGRANT_HOME=str(tmp_path / "one"), VAGRANT_CHECKPOINT_DISABLE="1")
    add_box_to_vagrant(built_box, first)
    kept = built_box.path / ADDED_BOX_DIR / "box.img"
    assert kept.is_file()
    second = dict(os.environ, VAGRANT_HOME=str(tmp_path / "two"), VAGRANT_CHECKPOINT_DISABLE="1")
    add_box_to_vagrant(built_box, second)
    linked = next((tmp_path / "two" / "boxes").glob("*/0/libvirt/box.img"))
    assert linked.stat().st_ino == kept.stat().st_ino
    listing = subprocess.run(["vagrant", "box", "list"], env=second, capture_output=True, text=True, check=True).stdout
    assert built_box.name in listing


@pytest.mark.e2e
def test_a_mirror_that_does_not_answer_is_a_clear_error(built_box: BoxInfo, tmp_path: Path) -> None:
    # Port 9 on loopback refuses at once: apt fails in the bootstrap phase.
    with pytest.raises(BoxError, match="phase bootstrap: E: Failed to fetch") as failure:
        build_box(mirror="http://127.0.0.1:9/debian", cache_root=tmp_path)
    boxes = tmp_path / "boxes"
    assert [p.name for p in boxes.iterdir()] == [f"{built_box.name}.failed.log"]
    assert str(boxes / f"{built_box.name}.failed.log") in str(failure.value)
    assert list_boxes(tmp_path) == []
