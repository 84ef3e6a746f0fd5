"""The lab's own SSH login key: made on first use, kept in the lab's state (0600).

VMs of labctl's box accept no key of their own: at every boot they take the lab's public key
from the kernel command line (`labctl.ssh_key=BASE64`, see box/guest/labctl-login-key), so no
VM can be entered with Vagrant's well-known insecure key, and one lab's key opens no other lab.
The public half is no secret (it shows in `ps` on the host); the private half never leaves the
state folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labctl.errors import LabctlError
from labctl.lab.host.state import LabState

KEY_FILE = "login_key"
CMDLINE_PARAMETER = "labctl.ssh_key"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True)
class LoginKey:
    private_path: Path
    public_base64: str  # the ssh-ed25519 key's blob, as in an authorized_keys line

    def cmdline(self) -> str:
        return f"{CMDLINE_PARAMETER}={self.public_base64}"


def _public_base64(private: Ed25519PrivateKey) -> str:
    line = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    kind, blob = line.decode().split()[:2]
    if kind != "ssh-ed25519" or not _BASE64.fullmatch(blob):
        raise ValueError(f"unexpected public key form: {kind}")
    return blob


def login_key(state: LabState) -> LoginKey:
    """The lab's key pair, made (0600, in the 0700 state folder) when it has none yet."""
    text = state.read(KEY_FILE)
    if text is None:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        state.ensure()
        state.write(KEY_FILE, pem.decode(), 0o600)
    else:
        loaded: object
        try:
            loaded = serialization.load_ssh_private_key(text.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            loaded = None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise LabctlError(
                f"{state.root / KEY_FILE}: not the lab's ed25519 login key",
                fix="`labctl destroy`, then `labctl up` (a new key is made; VMs take it at boot)",
            )
        private = loaded
    return LoginKey(state.root / KEY_FILE, _public_base64(private))
