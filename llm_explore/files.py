"""Reading and writing the files of run folders and caches so that failures are one line.

Every helper raises `RunFileError` naming the path (and what to do) instead of a JSONDecodeError,
a YAML ParserError or an OSError traceback. `check_writable` probes a folder before work starts, so
a read-only `--out` fails before a run or an evaluation spends its time.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llm_explore.errors import RunFileError


def check_writable(folder: str | Path, what: str = "folder", create: bool = True) -> Path:
    """Prove a file can be written into `folder`; else RunFileError naming it.

    `create=False` leaves the file system as it was: the nearest existing ancestor is probed
    instead (a check before a run must not leave an empty output folder behind when it fails)."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise RunFileError(f"cannot write to the {what} {folder}: it is a file, not a folder")
    probe = folder
    if not create:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            raise RunFileError(f"cannot write to the {what} {folder}: {probe} is a file, not a folder")
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise RunFileError(f"cannot write to the {what} {folder}: {exc.strerror or exc}") from None
    return folder


def check_writable_file(path: str | Path, what: str = "file") -> Path:
    """The folder of `path` is writable and `path`, if it exists, can be replaced."""
    path = Path(path).expanduser()
    check_writable(path.parent, f"folder of the {what}")
    if path.is_dir():
        raise RunFileError(f"cannot write the {what} {path}: it is a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise RunFileError(f"cannot write the {what} {path}: permission denied")
    return path


def read_json(path: str | Path, what: str = "file") -> Any:
    """A JSON file's contents; a missing, unreadable or corrupt file is a RunFileError."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFileError(f"{what} {path} is missing") from None
    except OSError as exc:
        raise RunFileError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{what} {path} is corrupt (not valid JSON: {exc})") from None


def read_json_object(path: str | Path, what: str = "file") -> dict[str, Any]:
    """`read_json` that must give a mapping (summary.json, run.json)."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise RunFileError(f"{what} {path} is corrupt (expected a JSON object, got {type(data).__name__})")
    return data


def warn(message: str) -> None:
    """A one-line warning on stderr (the run goes on; the user should know)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


@contextmanager
def exclusive_lock(lock_path: Path, remove: bool = False) -> Iterator[None]:
    """An exclusive advisory lock on `lock_path` (POSIX flock; a no-op where fcntl does not exist),
    waiting while another process holds it. `remove=True` deletes the lock file before releasing it,
    for a lock that guards a one-time creation whose holder re-checks its result: a waiter on the
    removed file and a newcomer on a fresh one may then both hold "the" lock, so a lock that must
    keep excluding (a read-merge-write) keeps its file."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if remove:
                lock_path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
