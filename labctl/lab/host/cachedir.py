"""labctl's cache folder on this host, shared by every lab: boxes, the KVM probe's verdict,
libvirt's qemu capabilities."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_root() -> Path:
    """$LABCTL_CACHE, or ~/.cache/labctl."""
    env = os.environ.get("LABCTL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "labctl"
