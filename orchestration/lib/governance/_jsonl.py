"""Shared helpers for the append-only JSON-lines logs under SLEDS_HOME/governance."""

import datetime as dt
import fcntl
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestration.lib import paths


def governance_dir(home: Path | None = None) -> Path:
    return (Path(home) if home is not None else paths.sleds_home()) / "governance"


def current_user() -> str:
    """Who is acting: SLEDS_USER (set by a service account or wrapper), else the login."""
    for var in ("SLEDS_USER", "USER", "LOGNAME"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@contextmanager
def locked_append(path: Path) -> Iterator:
    """The log opened for appending under an exclusive lock (a sidecar `.lock` file, so
    readers never block); the caller writes whole lines, flushed and fsynced on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with path.open("a", encoding="utf-8") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def last_line(path: Path) -> str | None:
    """The last non-empty line of a file, read from its end."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        block = 4096
        data = b""
        pos = end
        while pos > 0:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
            stripped = data.rstrip(b"\n")
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[1].decode("utf-8")
        stripped = data.rstrip(b"\n")
        return stripped.decode("utf-8") if stripped else None


def read_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
