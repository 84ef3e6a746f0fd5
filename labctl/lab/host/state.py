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

from labctl.lab.host import safefiles
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
    def journal(self) -> Path:
        """What a scenario run changed and has not put back yet (see scenario.actions.Restorer)."""
        return self.root / "scenario-journal.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def folder(self) -> Path:
        """The lab folder (where the lab file is): the trusted start of every path below."""
        return self.root.parent.parent

    def ensure(self) -> None:
        """Make the state folder (0700), refusing a link or a foreign folder on the way."""
        with safefiles.open_dir(self.root, self.folder) as fd:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o700)

    def write(self, name: str, data: str, mode: int = 0o600) -> Path:
        """Write file NAME of the state folder safely (see labctl.lab.host.safefiles)."""
        return safefiles.write_file(self.root / name, data, mode, base=self.folder)

    def read(self, name: str) -> str | None:
        """File NAME of the state folder, None when absent; a link there is refused."""
        try:
            return safefiles.read_text(self.root / name)
        except FileNotFoundError:
            return None

    def read_secrets(self) -> dict[str, str]:
        text = self.read(self.secrets_file.name)
        if text is None:
            return {}
        data = yaml.safe_load(text) or {}
        return {str(k): str(v) for k, v in data.items()}

    def write_secrets(self, values: dict[str, str]) -> None:
        self.ensure()
        # Created 0600 under a temporary name, then renamed: never readable by others, even briefly.
        self.write(self.secrets_file.name, yaml.safe_dump(values, default_flow_style=False), 0o600)


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
