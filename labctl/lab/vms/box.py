"""The lab's guest: a Debian vagrant-libvirt box built locally with mmdebstrap, cached by inputs.

A box lives in ``<cache>/boxes/<name>/`` (cache: $LABCTL_CACHE or ~/.cache/labctl) with
``labctl.lab.vms.box`` (metadata.json, Vagrantfile, box.img), ``vmlinuz`` and ``initrd.img`` for direct
kernel boot, ``build.log`` and ``box.json``. The name carries a hash of everything that shapes
the image (the files under box/, the suite, the format version), so a changed package list gives
a new box and an unchanged one is reused. The mirror is not part of the hash: any Debian mirror
of the same suite gives the same box.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from labctl.errors import LabctlError
from labctl.lab.host.cachedir import default_cache_root
from labctl.resources import box_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # bump when the build's outputs change shape (2: no key, networkd, own host keys)
BUILD_SCRIPT = "build-debian.sh"
BOX_FILE = "labctl.box"
KERNEL_FILE = "vmlinuz"
INITRD_FILE = "initrd.img"
INFO_FILE = "box.json"
LOG_FILE = "build.log"

APT_SOURCES_LIST = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")

Progress = Callable[[str], None]


class BoxError(LabctlError, RuntimeError):
    """The box cannot be built or added; the message says why and how to fix it."""


@dataclass(frozen=True)
class BoxInfo:
    name: str  # the Vagrant box name, e.g. labctl-bookworm-0123456789ab
    hash: str  # hash of the build inputs
    suite: str
    path: Path  # the box's cache folder
    box_file: Path  # the .box archive for `vagrant box add`
    kernel: Path  # vmlinuz for vagrant-libvirt's lv.kernel
    initrd: Path  # initrd for lv.initrd
    size: int  # bytes of box_file

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("path", "box_file", "kernel", "initrd"):
            data[key] = str(data[key])
        return data


def _boxes_root(cache_root: Path | None) -> Path:
    return (cache_root or default_cache_root()) / "boxes"


# --- inputs and names ---------------------------------------------------------------------


def _input_files(source: Path) -> list[Path]:
    """Files under box/ that shape the image (not caches or editor leftovers)."""
    return sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith((".pyc", "~", ".swp"))
    )


def input_hash(suite: str = "bookworm", source: Path | None = None) -> str:
    """Hash of the build inputs: the box/ files (script, packages, guest files) and the suite."""
    source = source or box_dir()
    digest = hashlib.sha256(f"labctl-box {FORMAT_VERSION} {suite}\n".encode())
    for path in _input_files(source):
        digest.update(str(path.relative_to(source)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def box_name(suite: str, hash_: str) -> str:
    return f"labctl-{suite}-{hash_[:12]}"


def package_list(source: Path | None = None) -> list[str]:
    """The packages the image gets (box/packages.txt), for display and checks."""
    text = ((source or box_dir()) / "packages.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# --- mirrors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    signed_by: str | None = None


def _parse_one_line_sources(text: str) -> list[AptSource]:
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options: dict[str, str] = {}
        if "[" in line and "]" in line:  # deb [signed-by=... arch=...] URI SUITE COMP...
            head, rest = line.split("[", 1)
            opts, tail = rest.split("]", 1)
            for opt in opts.split():
                key, _, value = opt.partition("=")
                options[key] = value
            line = head + tail
        fields = line.split()
        if len(fields) >= 3:
            sources.append(AptSource((fields[0],), (fields[1],), (fields[2],), options.get("signed-by")))
    return sources


def _parse_deb822_sources(text: str) -> list[AptSource]:
    sources = []
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        signed_by = stanza.get("signed-by", "").strip()
        sources.append(
            AptSource(
                tuple(stanza.get("types", "").split()),
                tuple(stanza.get("uris", "").split()),
                tuple(stanza.get("suites", "").split()),
                # an inline key block cannot go on a mirror line; a keyring path can
                signed_by if signed_by.startswith("/") and "\n" not in signed_by else None,
            )
        )
    return sources


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key:  # continuation of the previous field
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def host_apt_sources(sources_list: Path = APT_SOURCES_LIST, sources_dir: Path = APT_SOURCES_DIR) -> list[AptSource]:
    """Every enabled apt source of this host (sources.list, *.list, deb822 *.sources)."""
    found: list[AptSource] = []
    if sources_list.is_file():
        found += _parse_one_line_sources(sources_list.read_text())
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            if path.suffix == ".list":
                found += _parse_one_line_sources(path.read_text())
            elif path.suffix == ".sources":
                found += _parse_deb822_sources(path.read_text())
    return found


def mirror_lines_from_sources(sources: list[AptSource], suite: str) -> list[str]:
    """mmdebstrap mirror lines for SUITE (and its -updates/-security) from SOURCES."""
    wanted = (suite, f"{suite}-updates", f"{suite}-security", f"{suite}/updates")
    lines: list[str] = []
    for source in sources:
        if "deb" not in source.types:
            continue
        for uri in source.uris:
            for dist in source.suites:
                if dist in wanted:
                    opts = f"[signed-by={source.signed_by}] " if source.signed_by else ""
                    line = f"deb {opts}{uri} {dist} main"
                    if line not in lines:
                        lines.append(line)
    # Only a source of the suite itself can bootstrap; updates and security come on top.
    if not any(line.split()[-2] == suite for line in lines):
        return []
    return lines


def mirror_lines(mirror: str | None, suite: str) -> list[str]:
    """Mirror lines for mmdebstrap: MIRROR (a URI or full `deb ...` lines) or the host's own."""
    if mirror:
        given = [line.strip() for line in mirror.splitlines() if line.strip()]
        if all(line.startswith("deb ") for line in given):
            return given
        return [f"deb {given[0]} {suite} main"]
    lines = mirror_lines_from_sources(host_apt_sources(), suite)
    if not lines:
        raise BoxError(
            f"no Debian mirror for {suite} in {APT_SOURCES_LIST} or "
            f"{APT_SOURCES_DIR}/*.sources: pass one, e.g. "
            f"--mirror http://MIRROR/debian"
        )
    return lines


# --- build --------------------------------------------------------------------------------


def _check_build_prerequisites() -> None:
    if os.geteuid() != 0:
        raise BoxError("building the box needs root (mmdebstrap, file ownership in the image): run it with sudo")
    tools = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}
    for tool, package in tools.items():
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            raise BoxError(f"{tool} is not installed: apt-get install {package}")


def _read_info(folder: Path) -> BoxInfo | None:
    """The BoxInfo of a finished build in FOLDER, or None when it is incomplete."""
    try:
        data = json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    box_file = folder / BOX_FILE
    if not (box_file.is_file() and (folder / KERNEL_FILE).is_file() and (folder / INITRD_FILE).is_file()):
        return None
    return BoxInfo(
        name=data["name"],
        hash=data["hash"],
        suite=data["suite"],
        path=folder,
        box_file=box_file,
        kernel=folder / KERNEL_FILE,
        initrd=folder / INITRD_FILE,
        size=box_file.stat().st_size,
    )


def build_box(
    mirror: str | None = None,
    suite: str = "bookworm",
    cache_root: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> BoxInfo:
    """Build (or find in the cache) the lab's Debian box; returns where its files are."""
    report = progress or (lambda phase: None)
    source = box_dir()
    hash_ = input_hash(suite, source)
    name = box_name(suite, hash_)
    final = _boxes_root(cache_root) / name
    cached = _read_info(final)
    if cached and not force:
        report("cached")
        return cached

    report("check")
    _check_build_prerequisites()
    lines = mirror_lines(mirror, suite)
    partial = final.with_name(f".{name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _run_build_script(source / BUILD_SCRIPT, suite, partial, lines, report)
        (partial / INFO_FILE).write_text(
            json.dumps(
                {
                    "name": name,
                    "hash": hash_,
                    "suite": suite,
                    "format": FORMAT_VERSION,
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "mirrors": lines,
                    "packages": package_list(source),
                },
                indent=2,
            )
            + "\n"
        )
        if final.exists():  # force, or another build finished first
            shutil.rmtree(final)
        partial.rename(final)
    except BaseException:
        _keep_failed_log(partial)
        shutil.rmtree(partial, ignore_errors=True)
        raise
    info = _read_info(final)
    if info is None:
        raise BoxError(f"box build finished but {final} is incomplete: rebuild with --force")
    report("done")
    return info


def _run_build_script(script: Path, suite: str, outdir: Path, lines: list[str], report: Progress) -> None:
    log_path = outdir / LOG_FILE
    phase = "start"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["bash", str(script), suite, str(outdir), *lines],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if line.startswith("phase: "):
                phase = line.split(":", 1)[1].strip().split()[0]
                report(phase)
        code = proc.wait()
    if code != 0:
        raise BoxError(f"box build failed in phase {phase}: {_cause(log_path)} (log: {_failed_log_path(outdir)})")


def _failed_log_path(partial: Path) -> Path:
    name = partial.name.lstrip(".").split(".partial")[0]
    return partial.parent / f"{name}.failed.log"


def _keep_failed_log(partial: Path) -> None:
    log = partial / LOG_FILE
    if log.is_file():
        shutil.copyfile(log, _failed_log_path(partial))


def _cause(path: Path) -> str:
    """The line of the build log that best says what went wrong (apt's first error)."""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    cause = (errors or lines or ["no output"])[0 if errors else -1]
    return cause if len(cause) <= 240 else cause[:237] + "..."


def list_boxes(cache_root: Path | None = None) -> list[BoxInfo]:
    """The finished boxes in the cache, newest build inputs first by name."""
    root = _boxes_root(cache_root)
    if not root.is_dir():
        return []
    found = [
        _read_info(folder) for folder in sorted(root.iterdir()) if folder.is_dir() and not folder.name.startswith(".")
    ]
    return [info for info in found if info is not None]


def find_box(suite: str = "bookworm", cache_root: Path | None = None) -> BoxInfo | None:
    """The cached box for the current inputs, or None when it has not been built."""
    return _read_info(_boxes_root(cache_root) / box_name(suite, input_hash(suite)))


# --- Vagrant ------------------------------------------------------------------------------


def _vagrant_box_dir(vagrant_home: Path, name: str) -> Path:
    # Vagrant's on-disk layout: boxes/<name, "/" spelled -VAGRANTSLASH->/<version>/<provider>
    return vagrant_home / "boxes" / name.replace("/", "-VAGRANTSLASH-") / "0" / "libvirt"


# What `vagrant box add` unpacks from the .box (Vagrant's layout for a libvirt box).
_ADDED_BOX_FILES = ("box.img", "metadata.json", "Vagrantfile")
# In the box's cache folder: the files of the first `vagrant box add`, which later labs link.
ADDED_BOX_DIR = "vagrant-added"


def add_box_to_vagrant(info: BoxInfo, vagrant_env: dict[str, str]) -> None:
    """`vagrant box add` the box into VAGRANT_HOME of VAGRANT_ENV; a no-op when it is there.

    `vagrant box add` unpacks the whole image (hundreds of MB, seconds) into every new lab's
    Vagrant home. The first one's files are kept beside the box (hard links, no copy), and a
    later lab on the same filesystem links them into its home instead."""
    home = vagrant_env.get("VAGRANT_HOME")
    target = _vagrant_box_dir(Path(home), info.name) if home else None
    if target is not None:
        if (target / "box.img").is_file():
            return
        if _link_files(info.path / ADDED_BOX_DIR, target):
            return
    if shutil.which("vagrant", path=vagrant_env.get("PATH")) is None:
        raise BoxError("vagrant is not installed: apt-get install vagrant vagrant-libvirt")
    proc = subprocess.run(
        ["vagrant", "box", "add", "--name", info.name, "--provider", "libvirt", str(info.box_file)],
        env=vagrant_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and "already exists" not in proc.stdout + proc.stderr:
        cause = (proc.stderr.strip() or proc.stdout.strip() or "failed").splitlines()[-1]
        raise BoxError(f"vagrant box add {info.name} failed: {cause}")
    if target is not None and not (info.path / ADDED_BOX_DIR / "box.img").exists():
        _link_files(target, info.path / ADDED_BOX_DIR)


def _link_files(source: Path, target: Path) -> bool:
    """Hard links in TARGET (made 0755) to the files `vagrant box add` unpacks, found in SOURCE.
    False, with TARGET left without them, when SOURCE lacks one or the two folders are on
    different filesystems."""
    if not all((source / name).is_file() for name in _ADDED_BOX_FILES):
        return False
    try:
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        for name in _ADDED_BOX_FILES:
            (target / name).unlink(missing_ok=True)
            os.link(source / name, target / name)
    except OSError as exc:
        log.info("box files not linked from %s (%s): vagrant box add", source, exc)
        for name in _ADDED_BOX_FILES:
            (target / name).unlink(missing_ok=True)
        return False
    return True


def pool_volume_name(info: BoxInfo, vagrant_home: Path) -> str:
    """The name vagrant-libvirt gives the box's base volume in a storage pool: an unversioned
    box added from a file is version 0, told apart by its image's modification time."""
    image = _vagrant_box_dir(vagrant_home, info.name) / "box.img"
    return f"{info.name}_vagrant_box_image_0_{int(image.stat().st_mtime)}_box.img"


def seed_pool(info: BoxInfo, vagrant_home: Path, pool_dir: Path) -> Path | None:
    """Put the box's image into the storage pool folder POOL_DIR under the name vagrant-libvirt
    looks for, so that `vagrant up` finds the base volume there instead of streaming the image
    (hundreds of MB) through libvirt's API. A hard link where both are on one filesystem (they
    are, in a lab's sandbox), a copy otherwise. None when it is there already; refresh the pool
    after."""
    source = _vagrant_box_dir(vagrant_home, info.name) / "box.img"
    target = pool_dir / pool_volume_name(info, vagrant_home)
    if target.exists():
        return None
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    os.replace(partial, target)  # never a half image under the volume's name
    return target
