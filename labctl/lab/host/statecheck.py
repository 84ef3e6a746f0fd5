"""Checks of a lab's state folder (.labctl/<lab>/) before labctl relies on it.

The state is written by labctl, but it lives on disk where it can be truncated, edited or
replaced: a state path that is a file, a `runinfo.json` that is not the JSON labctl wrote, a
`secrets.yaml` that is not a mapping of strings or whose password could not go into
keepalived.conf. Each is a LabctlError (exit 1: the lab's state is damaged) naming the file and
what to do, never a traceback.
The readers themselves (state.py, running.py) stay as they are; this module checks first.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, clip
from labctl.lab.host.state import LabState
from labctl.model import labfile
from labctl.model.lab import ISOLATIONS, PROVIDERS
from labctl.model.positions import YamlSyntaxError, load

RUNINFO = "runinfo.json"
# A network namespace name as sandbox.namespace_for makes it.
_NAMESPACE = r"[A-Za-z0-9_.-]{1,64}"


def check_folder(state: LabState) -> None:
    """The state folder and its parent are folders (or do not exist yet)."""
    for path in (state.root.parent, state.root):
        if (path.exists() or path.is_symlink()) and not path.is_dir():
            raise LabctlError(
                f"{path} is not a folder: labctl keeps the lab's state there",
                fix=f"move {path} away (labctl makes the folder itself)",
            )


def _fail(path: Path, why: str, fix: str) -> LabctlError:
    return LabctlError(f"{path}: {clip(why, 160)}", fix=fix)


def read_runinfo(state: LabState) -> dict[str, Any] | None:
    """runinfo.json as checked plain data (the fields of running.RunInfo), or None when absent."""
    check_folder(state)
    path = state.root / RUNINFO
    if not path.exists():
        return None
    fix = f"`labctl destroy` with the lab file beside it, or remove {path.parent} once its VMs are gone"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(path, f"unreadable ({exc})", fix) from exc
    expected: dict[str, type | tuple[type, ...]] = {
        "name": str,
        "provider": str,
        "isolation": str,
        "namespace": (str, type(None)),
        "tb_size": int,
    }
    if not isinstance(data, dict) or set(data) != set(expected):
        raise _fail(path, f"not the run information labctl writes (keys {', '.join(expected)})", fix)
    for key, kind in expected.items():
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise _fail(path, f"{key} has the wrong type: {clip(repr(data[key]), 40)}", fix)
    problems = []
    if not labfile.LAB_NAME.fullmatch(data["name"]):
        problems.append("name")
    if data["provider"] not in PROVIDERS:
        problems.append("provider")
    if data["isolation"] not in ISOLATIONS:
        problems.append("isolation")
    if data["namespace"] is not None and not re.fullmatch(_NAMESPACE, data["namespace"]):
        problems.append("namespace")
    if not 16 <= data["tb_size"] <= 4096:
        problems.append("tb_size")
    if data["name"] != state.root.name and "name" not in problems:
        problems.append("name (another lab's)")
    if problems:
        raise _fail(path, f"bad {', '.join(problems)}", fix)
    return data


def check_secrets(state: LabState) -> None:
    """secrets.yaml, when present, is a mapping of strings whose password keepalived can take."""
    check_folder(state)
    path = state.secrets_file
    if not path.exists():
        return
    fix = f"remove {path}: labctl generates a new password (the next `labctl up` installs it)"
    try:
        data = load(path.read_text(encoding="utf-8")).data  # tags, aliases and depth refused
    except YamlSyntaxError as exc:
        raise _fail(path, f"unreadable (line {exc.line}: {exc.message})", fix) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"unreadable ({exc})", fix) from exc
    if data is None:
        return
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise _fail(path, "not a mapping of names to strings", fix)
    password = data.get("vrrp_auth_pass")
    if password is not None and not labfile.AUTH_PASS.fullmatch(password):
        raise _fail(path, "vrrp_auth_pass is not 1 to 8 plain printable characters", fix)


# Caches in the state folder that running.py reads as JSON objects.
CACHES = ("ssh-config.json", "machine-ids.json")


def check_caches(state: LabState) -> None:
    """ssh-config.json and machine-ids.json, when present, are JSON objects."""
    for name in CACHES:
        path = state.root / name
        if not path.is_file():
            continue
        fix = f"remove {path}: labctl asks Vagrant again"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _fail(path, f"unreadable ({exc})", fix) from exc
        if not isinstance(data, dict):
            raise _fail(path, "not a JSON object", fix)


def check_state(state: LabState) -> None:
    """Every state file labctl will read: the folder, runinfo.json, secrets.yaml, the caches."""
    check_folder(state)
    read_runinfo(state)
    check_secrets(state)
    check_caches(state)
