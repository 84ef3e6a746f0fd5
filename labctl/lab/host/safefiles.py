"""Writing files where root may run: never through a link, never into someone else's folder.

The README's flow is `labctl render` as a user, then `sudo labctl up`: root then writes into
folders a user owns. A plain `write_text` follows a link planted at the target (root would
overwrite any file), and a path walked by name can be switched under our feet. So every file
labctl writes goes through `write_file`:

- the folders from a trusted base (the lab folder, chosen by the user) down to the target are
  opened one by one with O_NOFOLLOW, each checked (a folder, owned by whoever runs labctl or,
  when root runs it, by root or the base's owner; when root, not writable by others unless
  sticky), and the file is written relative to the last folder's descriptor;
- the data goes to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW), created 0600 and only
  then given its final mode, is fsync'ed and renamed over the target: a link at the target is
  replaced, never followed, and no reader sees half a file or a secret with a wide mode.

When root writes into a folder of the lab's owner, the new file or folder is given to that
owner, so the user's own lab stays theirs to read and re-render.
"""

from __future__ import annotations

import errno
import os
import pwd
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from labctl.errors import LabctlError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePathError(LabctlError):
    """A folder or file labctl was to write, read or remove is a link or not labctl's to touch."""


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _refuse(path: Path, why: str) -> UnsafePathError:
    return UnsafePathError(
        f"refusing to use {path}: {why}",
        fix="remove or fix that path yourself (labctl never writes through links nor into folders of other users)",
    )


class _Policy:
    """Who may own the folders of one walk."""

    def __init__(self, base_uid: int, root_only: bool) -> None:
        euid = os.geteuid()
        if root_only:
            self.owners = {0}
        elif euid == 0:
            self.owners = {0, base_uid}
        else:
            self.owners = {euid}
        self.strict_mode = euid == 0 or root_only

    def check(self, st: os.stat_result, path: Path) -> None:
        if not stat.S_ISDIR(st.st_mode):
            raise _refuse(path, "it is not a folder")
        if st.st_uid not in self.owners:
            allowed = " or ".join(_user(uid) for uid in sorted(self.owners))
            raise _refuse(path, f"it belongs to {_user(st.st_uid)}, not to {allowed}")
        if self.strict_mode and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            raise _refuse(path, f"others than its owner may write in it (mode {stat.S_IMODE(st.st_mode):04o})")


def _open_child(fd: int, name: str, path: Path) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refuse(path, "it is a symbolic link or not a folder") from exc
        raise


@contextmanager
def open_dir(
    path: Path, base: Path | None = None, *, create: bool = True, mode: int = 0o700, root_only: bool = False
) -> Iterator[int]:
    """A descriptor of folder PATH, reached from BASE (default: PATH's parent) without following
    any link below BASE, every folder on the way checked; missing ones made with MODE when
    CREATE. ROOT_ONLY: every folder below BASE must be root's and writable by root alone."""
    path = Path(os.path.abspath(path))
    base = Path(os.path.abspath(base)) if base is not None else path.parent
    try:
        parts = path.relative_to(base).parts
    except ValueError as exc:
        raise _refuse(path, f"it is not inside {base}") from exc
    if create:
        base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the user chose BASE's path
    try:
        base_st = os.fstat(fd)
        policy = _Policy(base_st.st_uid, root_only)
        if os.geteuid() == 0 and base_st.st_mode & stat.S_IWOTH and not base_st.st_mode & stat.S_ISVTX:
            raise _refuse(base, "anyone may write in it")
        here = base
        for part in parts:
            here = here / part
            try:
                child = _open_child(fd, part, here)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile (another thread): checked below like any folder
                else:
                    _give_to_folder_owner(fd, part)
                child = _open_child(fd, part, here)
            os.close(fd)
            fd = child
            policy.check(os.fstat(fd), here)
        yield fd
    finally:
        os.close(fd)


def _give_to_folder_owner(dir_fd: int, name: str) -> None:
    """When root makes NAME in a folder of another user, NAME is that user's too."""
    owner = os.fstat(dir_fd)
    if os.geteuid() == 0 and owner.st_uid != 0:
        os.chown(name, owner.st_uid, owner.st_gid, dir_fd=dir_fd, follow_symlinks=False)


def write_at(dir_fd: int, name: str, data: bytes | str, mode: int = 0o644) -> None:
    """Replace NAME in the folder DIR_FD with DATA and MODE, atomically, never through a link."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"not a file name: {name!r}")
    payload = data.encode() if isinstance(data, str) else data
    temp = f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        try:
            folder = os.fstat(dir_fd)
            if os.geteuid() == 0 and folder.st_uid != 0:
                os.fchown(fd, folder.st_uid, folder.st_gid)
            os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some file systems cannot sync a folder: the rename is done all the same


def write_file(
    path: Path, data: bytes | str, mode: int = 0o644, *, base: Path | None = None, root_only: bool = False
) -> Path:
    """Write PATH safely (see the module's notes); folders below BASE are made 0700 as needed."""
    path = Path(path)
    with open_dir(path.parent, base, root_only=root_only) as dir_fd:
        write_at(dir_fd, path.name, data, mode)
    return path


def read_text(path: Path) -> str:
    """PATH's text; a link at PATH is refused (root must not read a file through a user's link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(Path(path), "it is a symbolic link") from exc
        raise
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read()


def remove_at(dir_fd: int, name: str) -> None:
    """Remove file (or link) NAME from the folder DIR_FD, when it is there."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def check_tree(path: Path, base: Path, *, root_only: bool = False) -> bool:
    """True when PATH exists below BASE with no link on the way and every folder passes the
    ownership checks; False when it does not exist; UnsafePathError otherwise."""
    try:
        with open_dir(path, base, create=False, root_only=root_only):
            return True
    except FileNotFoundError:
        return False


def remove_tree(path: Path, base: Path, *, root_only: bool = False) -> bool:
    """Remove folder PATH and all it holds, reached from BASE without following any link (a
    link or a foreign folder on the way is refused, never resolved); False when absent."""
    import shutil

    path = Path(os.path.abspath(path))
    try:
        with open_dir(path, base, create=False, root_only=root_only):
            pass  # every folder down to PATH itself passes the checks
        with open_dir(path.parent, base, create=False, root_only=root_only) as parent_fd:
            shutil.rmtree(path.name, dir_fd=parent_fd)  # fd-based: links inside are removed, not followed
    except FileNotFoundError:
        return False
    return True


def open_at(dir_fd: int, name: str, flags: int, mode: int = 0o600) -> int:
    """Open (or create, with MODE) file NAME in the folder DIR_FD, never through a link; a file
    root creates in a folder of the lab's owner is given to that owner (their commands open it
    too: a lock, a log)."""
    fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        folder = os.fstat(dir_fd)
        if os.geteuid() == 0 and folder.st_uid != 0 and os.fstat(fd).st_uid == 0 and flags & os.O_CREAT:
            os.fchown(fd, folder.st_uid, folder.st_gid)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_append(path: Path, base: Path | None = None, mode: int = 0o600) -> IO[str]:
    """PATH opened to append text (a log), reached and created (with MODE) as `write_file` does."""
    path = Path(path)
    with open_dir(path.parent, base) as dir_fd:
        fd = open_at(dir_fd, path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    return os.fdopen(fd, "a", encoding="utf-8")
