"""Folders and files only their owner can read: the state folder (SQLite files with customer data, logs, keys) and
generated credentials.

Why modes and a umask rather than one chmod at the end: SQLite creates its `-wal`, `-shm` and `-journal` files beside
the database whenever it needs them, and the dev server and the services are separate processes; a file created with
the default umask is readable by every local user until someone tightens it. A child started with `PRIVATE_UMASK`
creates every file private from the first byte.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from cadenza.errors import InvalidInput

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter, created if missing (parents too) and tightened if it exists.
    `InvalidInput` naming it when it cannot be: a file is in the way, or the folder is not ours to make."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidInput(f"{path} is not a folder (a file is in the way): give a folder, made if missing") from None
    except PermissionError:
        raise InvalidInput(f"cannot make the folder {path} (permission denied): give one you can write") from None
    _restrict(path, DIR_MODE)
    return path


def write_file(path: Path, data: bytes, mode: int = FILE_MODE) -> Path:
    """Write `data` to `path` with `mode` from the moment it exists (replacing what was there)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(descriptor, mode)  # O_CREAT applies the mode to new files only; an old file keeps its own
        os.write(descriptor, data)
    finally:
        os.close(descriptor)
    return path


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path` (a log), created 0600; an existing log is tightened."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return descriptor


def tighten(paths: Iterable[Path]) -> list[Path]:
    """Take group and other access away from each of `paths` (folders 0700, files 0600), e.g. the files of a state
    folder made by an older version; returns what changed. Symlinks are left alone: they may point anywhere."""
    return [path for path in paths if _restrict(path, DIR_MODE if path.is_dir() else FILE_MODE)]


def loose_entries(root: Path) -> list[str]:
    """Everything under `root` (itself included) that someone other than the owner may read, as `mode path` lines."""
    found = []
    for folder, _, files in os.walk(root):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{stat.S_IMODE(mode):04o} {path}")
    return found


def _restrict(path: Path, mode: int) -> bool:
    current = path.lstat().st_mode
    if stat.S_ISLNK(current) or not current & 0o077:
        return False
    path.chmod(stat.S_IMODE(current) & mode)
    return True
