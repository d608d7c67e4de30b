"""What a killed process leaves under SLEDS_HOME, and putting it right.

Every write is staged and renamed into place (orchestration/lib/storage.py), so a
kill never leaves a half-written file where a reader looks. It can leave:
- `.staging-<name>-<id>/`: a release written but not swapped in; removed (its content
  was never published, so never disclosed; the next build writes it again);
- `.old-<name>-<id>/`: the folder a swap renamed aside. If `<name>` is missing the kill
  came between the swap's two renames: the old folder, the one last disclosed, is put
  back. If `<name>` is there the swap finished and only the clean-up was cut: removed;
- `*.partial`: a file written but not renamed into place; removed;
- DuckDB spill files in SLEDS_HOME/tmp; removed;
- the vault's working copy (orchestration/lib/vault_at_rest.py): it is the newest
  state of the vault, so it is sealed, never removed. A build does not count it as a
  leftover: it goes on with the copy and seals it when it ends.
Only call `repair` when no build is running: a live build's staging folders look the same.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import paths, storage, vault_at_rest

_OLD = re.compile(r"^\.old-(?P<name>.+)-[0-9a-f]{8}$")
_SKIPPED = {"dagster", "demo"}  # Dagster's own storage; the generated feeds (a landing folder)


@dataclass(frozen=True)
class Leftover:
    path: Path
    action: str  # "restore" (put back as `target`), "seal" (the vault) or "remove"
    why: str
    target: Path | None = None

    def describe(self, home: Path) -> str:
        where = self.path.relative_to(home)
        if self.action == "restore":
            return f"{where}: {self.why}; put back as {self.target.relative_to(home)}"
        if self.action == "seal":
            return f"{where}: {self.why}; sealed"
        return f"{where}: {self.why}; removed"


def find_leftovers(home: Path | None = None) -> list[Leftover]:
    home = Path(home) if home is not None else paths.sleds_home()
    if not home.exists():
        return []
    found: list[Leftover] = []
    restoring: set[Path] = set()
    # a landing folder inside SLEDS_HOME (the demo's) holds deliveries being written: not ours
    landing = paths.landing_dir().resolve()
    for path in sorted(p for p in _walk(home) if not p.resolve().is_relative_to(landing)):
        name = path.name
        if path.is_dir() and name.startswith(".staging-"):
            found.append(Leftover(path, "remove", "a staged release that was never swapped in"))
        elif path.is_dir() and (m := _OLD.match(name)):
            final = path.with_name(m["name"])
            if not final.exists() and final not in restoring:
                restoring.add(final)
                found.append(Leftover(path, "restore", "a swap cut between its two renames", final))
            else:
                found.append(Leftover(path, "remove", "the folder a finished swap replaced"))
        elif path.is_file() and name.endswith(".partial"):
            found.append(Leftover(path, "remove", "a file written but never renamed into place"))
    working_copy = vault_at_rest.unsealed_working_copy(paths.vault_path(home))
    if working_copy is not None:
        found.append(Leftover(working_copy, "seal", "the vault's working copy, left unsealed by a stopped build"))
    for spill in (paths.spill_dir(home), storage.vault_spill_dir(paths.vault_path(home))):
        if spill.is_dir():
            why = "a DuckDB spill file of a process that ended"
            found += [Leftover(p, "remove", why) for p in sorted(spill.iterdir())]
    return found


def _walk(folder: Path):
    """Every entry under `folder`, not descending into leftovers (they go whole) or
    Dagster's storage."""
    for entry in folder.iterdir():
        if entry.is_symlink():
            continue
        yield entry
        if entry.is_dir() and entry.name not in _SKIPPED and not entry.name.startswith((".staging-", ".old-")):
            yield from _walk(entry)


def repair(leftover: Leftover) -> None:
    if leftover.action == "restore":
        leftover.path.rename(leftover.target)
    elif leftover.action == "seal":
        vault_at_rest.seal(leftover.path)
    elif leftover.path.is_dir():
        shutil.rmtree(leftover.path)
    else:
        leftover.path.unlink(missing_ok=True)
