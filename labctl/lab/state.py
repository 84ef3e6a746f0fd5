"""A lab's state folder (.labctl/<lab>/ beside the lab file): secrets, pinned host keys, logs.

The state outlives the lab file on purpose: `labctl destroy` must work when the file is gone.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from labctl.model.lab import AUTH_PASS_MAX, Lab

STATE_ROOT = ".labctl"
# Letters and digits only: nothing that keepalived's parser or a shell could misread.
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class LabState:
    root: Path

    @classmethod
    def for_lab(cls, lab_file: Path, lab_name: str) -> LabState:
        return cls(lab_file.resolve().parent / STATE_ROOT / lab_name)

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.yaml"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def render_dir(self) -> Path:
        return self.root / "render"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def read_secrets(self) -> dict[str, str]:
        if not self.secrets_file.exists():
            return {}
        data = yaml.safe_load(self.secrets_file.read_text()) or {}
        return {str(k): str(v) for k, v in data.items()}

    def write_secrets(self, values: dict[str, str]) -> None:
        self.ensure()
        # Create with 0600 from the start: the password is never readable by others, even briefly.
        fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(values, handle, default_flow_style=False)
        os.chmod(self.secrets_file, 0o600)


def generate_password(length: int = AUTH_PASS_MAX) -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def vrrp_password(lab: Lab, state: LabState) -> str:
    """The lab file's password, or the one generated for this lab (made on first use)."""
    if lab.vrrp.auth_pass:
        return lab.vrrp.auth_pass
    stored = state.read_secrets()
    if "vrrp_auth_pass" not in stored:
        stored["vrrp_auth_pass"] = generate_password()
        state.write_secrets(stored)
    return stored["vrrp_auth_pass"]
