"""Where the templates, provisioning files and scenarios are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_root() -> Path:
    """The folder holding Vagrantfile.j2, provision/, scenarios/ and box/.

    A wheel carries them under labctl/_data; a checkout (or editable install) has them at the
    repository's top.
    """
    installed = _PACKAGE / "_data"
    if (installed / "Vagrantfile.j2").exists():
        return installed
    return _PACKAGE.parent


def provision_dir() -> Path:
    return data_root() / "provision"


def scenarios_dir() -> Path:
    return data_root() / "scenarios"


def box_dir() -> Path:
    return data_root() / "box"
