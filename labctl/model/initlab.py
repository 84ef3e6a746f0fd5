"""`labctl init`: a commented lab file whose values are the reference lab, adjusted by options."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from labctl.errors import LabctlError
from labctl.model import lab as model
from labctl.model.labfile import parse_lab
from labctl.templating import render


class InitError(LabctlError):
    """The lab file cannot be written (it exists already, or the options make an invalid lab)."""


def initial_lab(
    name: str = "lab",
    provider: str | None = None,
    driver: str | None = None,
    box: str | None = None,
    isolation: str | None = None,
) -> model.Lab:
    return on_host(model.reference_lab(name), provider, driver, box, isolation)


def on_host(
    lab: model.Lab,
    provider: str | None = None,
    driver: str | None = None,
    box: str | None = None,
    isolation: str | None = None,
) -> model.Lab:
    """LAB with the host settings asked (provider, driver, box, isolation); the rest as it is.
    `init` applies them to the reference lab, `import` to a student's."""
    settings = lab.provider
    if provider:
        settings = replace(settings, name=provider)
    if driver:
        settings = replace(settings, libvirt=replace(settings.libvirt, driver=driver))
    if box:
        settings = replace(settings, box=box)
    if settings.box == model.LOCAL_BOX:
        # The local box has no bootloader: libvirt boots its kernel directly.
        settings = replace(settings, libvirt=replace(settings.libvirt, direct_kernel_boot=True))
        if isolation is None:
            isolation = "netns"
    return replace(lab, provider=settings, isolation=isolation or lab.isolation)


def lab_file_text(lab: model.Lab) -> str:
    return render("lab.yaml.j2", lab=lab)


def vips_block_text(lab: model.Lab) -> str:
    return render("vips.yaml.j2", lab=lab) + "\n"


def write_lab_file(directory: Path, lab: model.Lab, force: bool = False, name: str = "lab.yaml") -> Path:
    """Write LAB as DIRECTORY/NAME, once its text has read back as a valid lab file: a
    refused value (say `--name` with a newline) never reaches the disk."""
    target = directory / name
    text = lab_file_text(lab)
    # LabFileError (exit 2) before anything is written; and the file must say what was asked
    # (`--name 'lab #x'` would read back as `lab`).
    if parse_lab(text, str(target)) != lab:
        raise InitError(f"the options do not make a valid lab file {target}", exit_code=2)
    if target.exists() and not force:
        raise InitError(f"{target} exists already; use --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def replace_top_level_block(text: str, key: str, block: str) -> str:
    """TEXT with the top-level KEY (its line through the line before the next top-level key,
    comments above KEY included) replaced by BLOCK; BLOCK is appended when KEY is absent.
    Comments elsewhere in the file survive, which a YAML round trip would lose."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + block
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t-#"):
        end += 1
    # Leave the comments and blank lines that lead into the next key where they are.
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    # Take the comment lines right above KEY along (the block brings its own).
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])
