"""Who runs a build, written so that a later process can tell whether it still runs.

Every Dagster run `sleds build` starts carries its owner, `host:pid:start`, where
`start` is the process's start time in clock ticks since boot (/proc/<pid>/stat,
field 22). A pid alone is not enough: once a killed build's pid is reused by another
process, only the start time tells the two apart.
"""

from __future__ import annotations

import os
import socket
from typing import Literal

OwnerState = Literal["alive", "gone", "unknown"]


def _start_ticks(pid: int) -> str | None:
    """The process's start time since boot, or None if there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may itself hold spaces or ')'
    return stat[stat.rindex(")") + 2 :].split()[19]


def current_owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '-'}"


def owner_state(owner: str) -> OwnerState:
    """'alive' if the process that wrote `owner` still runs, 'gone' if it does not,
    'unknown' if it ran on another host or the text is not an owner."""
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return "unknown"
    if host != socket.gethostname():
        return "unknown"  # another machine sharing the instance: only it can tell
    ticks = _start_ticks(pid)
    if start != "-":
        return "alive" if ticks == start else "gone"
    try:  # no /proc where it was written: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "alive"
    return "alive"
