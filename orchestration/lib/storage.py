"""Storage every stage shares: DuckDB connections, schema names, hashing and the
release-folder writer.

- Connections. `warehouse()` and `release_file()` open the warehouse or a release file
  itself; `warehouse_attached()` and `release_reader()` give an in-memory connection
  with the files attached under the aliases the SQL uses (`wh`, `rel`);
  `warehouse_with_vault()` and `vault()` open the vault. Every function returns a
  DuckDB connection, which is a context manager: `with storage.warehouse() as con:`
  closes it on the way out, error or not.
- The vault holds names, SSNs, birthdates and state IDs. Only the vault-side stages
  (ingest, identity and its clerical review and accuracy figures, the derived ages,
  the contract re-check, the agreements purge and the retraction of withdrawn
  partitions) may open it, each no further than
  it needs (read or write). The check is on the calling module, against
  `VAULT_CALLERS`: releases, publish, governance queries, reports and extracts are
  built from the warehouse and the releases, and a change that made one of them
  read the vault fails at once with `VaultAccessRefused` instead of quietly moving
  PII towards a release. It guards against mistakes in this code base, not against a
  hostile caller (file modes and the sealing do that); tests/test_storage.py also fails
  if any other module under orchestration/lib attaches the vault itself. Opening the
  vault unseals it first if only its sealed file is there (vault_at_rest.py).
- Connections that do heavy work in memory (`warehouse_with_vault`, or
  `bounded=True`) get a memory limit and a spill folder (`bounded_config`), because
  DuckDB would otherwise take up to 80% of the machine and keep it.
- Schema names the stages share (`RAW`, `RELEASE_SLEDS`, ...).
- Hashing: one SHA-256 of bytes, of a file (streamed) and of canonical JSON, so a
  manifest, the disclosure log and the ingest ledger agree on what a hash is.
- `write_release_folder()`: every release (the SLEDS release, each institution mart,
  the public release, project extracts) is written into a staging folder, its files
  hashed into manifest.json, and only then swapped in whole, so a reader never sees a
  half-written release and a failure leaves the previous one in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from orchestration.lib import paths, vault_at_rest

# schemas of the warehouse (and the vault's `landing`) that several stages name
RAW = "raw"
INGEST = "ingest"
IDENTITY = "identity"
DERIVED = "derived"
GOVERNANCE = "governance"
REFERENCE = "reference"
STAGING = "staging"
INTERMEDIATE = "intermediate"
MARTS = "marts"
RELEASE_SLEDS = "release_sleds"
RELEASE_INSTITUTION = "release_institution"
VAULT_LANDING = "landing"

# aliases the SQL of every stage uses for attached files
WAREHOUSE_ALIAS = "wh"
VAULT_ALIAS = "vault"
RELEASE_ALIAS = "rel"

MANIFEST_NAME = "manifest.json"

Access = Literal["read", "write"]

# module -> the most it may do with the vault. Nothing else opens the vault.
VAULT_CALLERS: dict[str, Access] = {
    "orchestration.lib.ingest.load": "write",
    "orchestration.lib.identity.pipeline": "write",
    "orchestration.lib.identity.review": "write",
    "orchestration.lib.agreements.purge": "write",
    "orchestration.lib.ingest.retract": "write",
    "orchestration.lib.identity.accuracy": "read",
    "orchestration.lib.derived.ages": "read",
    "orchestration.lib.contracts.recheck": "read",
}


class VaultAccessRefused(PermissionError):
    """A module outside the vault-side stages asked to open the vault."""


# ---------------------------------------------------------------- connections


def bounded_config(home: Path) -> dict:
    """Bounded memory for an in-process working database: past the limit DuckDB spills
    to home/tmp. SLEDS_DUCKDB_MEMORY overrides the limit (default 4GB)."""
    spill = paths.spill_dir(home)
    spill.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": os.environ.get("SLEDS_DUCKDB_MEMORY", "4GB"), "temp_directory": str(spill)}


class FileBusy(RuntimeError):
    """A DuckDB file stayed locked by another process past SLEDS_LOCK_WAIT_S."""


_LOCKED = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in \S+ \(PID (?P<pid>\d+)\)'
)


def _waiting_for_lock(open_file):
    """`open_file()`, waiting while another process holds the file's lock. DuckDB allows
    one writer, or readers, per file: a `sleds query --warehouse` during a build, or a
    build during a query, is a wait with one line on stderr, not a crash; past
    SLEDS_LOCK_WAIT_S (default 120) a FileBusy that names the holder's PID."""
    wait = float(os.environ.get("SLEDS_LOCK_WAIT_S", "120"))
    deadline, told = time.monotonic() + wait, False
    while True:
        try:
            return open_file()
        except duckdb.IOException as exc:
            held = _LOCKED.search(str(exc))
            if held is None:
                raise
            if time.monotonic() >= deadline:
                raise FileBusy(
                    f"{held['file']} is open in another process (PID {held['pid']}: a `sleds query --warehouse`, "
                    f"a build or `make ui`) and stayed so for {wait:.0f} s (SLEDS_LOCK_WAIT_S): let it finish, "
                    "then rerun"
                ) from None
            if not told:
                print(f"waiting: {held['file']} is open in another process (PID {held['pid']}); "
                      f"up to {wait:.0f} s (SLEDS_LOCK_WAIT_S)", file=sys.stderr, flush=True)  # fmt: skip
                told = True
            time.sleep(0.25)


def wait_until_writable(path: Path) -> None:
    """Before a writer that opens the file itself (dbt): wait as `_waiting_for_lock` does."""
    if Path(path).exists():
        _waiting_for_lock(lambda: duckdb.connect(str(path))).close()


def attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str, *, read_only: bool) -> None:
    """ATTACH one DuckDB file under `alias` (the path is passed as a parameter, never
    spliced into the SQL)."""
    if not alias.isidentifier():
        raise ValueError(f"not an alias: {alias!r}")
    _waiting_for_lock(lambda: con.execute(f"ATTACH ? AS {alias}{' (READ_ONLY)' if read_only else ''}", [str(path)]))


def _in_memory(attachments: Iterable[tuple[Path, str, bool]], config: dict | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=config or {})
    try:
        for path, alias, read_only in attachments:
            attach(con, path, alias, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


def warehouse(path: Path | None = None, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """The warehouse file itself (tables named `schema.table`)."""
    path = Path(path) if path is not None else paths.warehouse_path()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return _waiting_for_lock(lambda: duckdb.connect(str(path), read_only=read_only))


def warehouse_attached(
    path: Path | None = None, *, read_only: bool = True, bounded: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the warehouse attached as `wh`, for work that writes
    elsewhere (release files) or only needs scratch tables."""
    path = Path(path) if path is not None else paths.warehouse_path()
    config = bounded_config(path.parent) if bounded else None
    return _in_memory([(path, WAREHOUSE_ALIAS, read_only)], config)


def release_reader(db: Path, *, warehouse: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with a release's DuckDB file attached read-only as `rel`
    (and, if given, the warehouse read-only as `wh`)."""
    attachments = [(Path(db), RELEASE_ALIAS, True)]
    if warehouse is not None:
        attachments.append((Path(warehouse), WAREHOUSE_ALIAS, True))
    return _in_memory(attachments, None)


def release_file(db: Path, *, sandboxed: bool = False) -> duckdb.DuckDBPyConnection:
    """A release's DuckDB file itself, read-only. `sandboxed` turns external access off, so
    the connection can read no other file (the query tool's guard)."""
    config = {"enable_external_access": False} if sandboxed else {}
    return _waiting_for_lock(lambda: duckdb.connect(str(db), read_only=True, config=config))


def _check_vault_caller(module: str, access: Access) -> None:
    if access not in ("read", "write"):
        raise ValueError(f"vault access is 'read' or 'write', not {access!r}")
    allowed = VAULT_CALLERS.get(module)
    if allowed is None:
        raise VaultAccessRefused(
            f"{module} may not open the vault: it holds PII and only the vault-side stages open it "
            f"({', '.join(sorted(VAULT_CALLERS))}). Read the warehouse or a release instead."
        )
    if access == "write" and allowed == "read":
        raise VaultAccessRefused(f"{module} may read the vault but not write it")


def warehouse_with_vault(
    warehouse: Path | None = None,
    vault: Path | None = None,
    *,
    vault_access: Access = "read",
    warehouse_access: Access = "write",
    home: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory, memory-bounded connection with the warehouse as `wh` and the vault as
    `vault`; only for the modules of VAULT_CALLERS. `home` holds the spill folder (default:
    the warehouse's folder)."""
    _check_vault_caller(sys._getframe(1).f_globals.get("__name__", "?"), vault_access)
    warehouse = Path(warehouse) if warehouse is not None else paths.warehouse_path()
    vault = Path(vault) if vault is not None else paths.vault_path()
    for path, access in ((warehouse, warehouse_access), (vault, vault_access)):
        if access == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
    config = bounded_config(Path(home) if home is not None else warehouse.parent)
    spill = vault_spill_dir(vault)  # what spills holds PII: under vault/, 0700
    spill.mkdir(parents=True, exist_ok=True, mode=0o700)
    config["temp_directory"] = str(spill)
    with vault_at_rest.opening(vault):
        return _in_memory(
            [(warehouse, WAREHOUSE_ALIAS, warehouse_access == "read"), (vault, VAULT_ALIAS, vault_access == "read")],
            config,
        )


def vault_spill_dir(vault: Path) -> Path:
    """Where connections that attach the vault spill: inside the vault's own folder."""
    return Path(vault).parent / "tmp"


def vault(path: Path | None = None, *, access: Access = "read") -> duckdb.DuckDBPyConnection:
    """The vault file itself; only for the modules of VAULT_CALLERS."""
    _check_vault_caller(sys._getframe(1).f_globals.get("__name__", "?"), access)
    path = Path(path) if path is not None else paths.vault_path()
    with vault_at_rest.opening(path):
        return _waiting_for_lock(lambda: duckdb.connect(str(path), read_only=access == "read"))


# -------------------------------------------------------------------- hashing


def canonical_json(obj) -> bytes:
    """The one serialisation JSON hashes are taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256_bytes(*chunks: bytes) -> str:
    """SHA-256 (hex) of the chunks in order, i.e. of their concatenation."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path, block: int = 8 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks (files may be gigabytes)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj) -> str:
    return sha256_bytes(canonical_json(obj))


def hash_folder(folder: Path, *, unhashed: Iterable[str] = ()) -> dict[str, str]:
    """relative path -> SHA-256 of every file under `folder`, in path order, except the
    manifest and anything at or under an `unhashed` relative path."""
    skip = tuple(unhashed)
    files: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == MANIFEST_NAME or any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        files[rel] = sha256_file(path)
    return files


# ------------------------------------------------------------ release folders

Manifest = dict | Callable[[dict[str, str]], dict]


@dataclass
class StagedFolder:
    """A release written and hashed in a staging folder beside where it goes. The staged
    folder has the final folder's name (code that describes a release, such as the data
    dictionary, may name it after its folder) inside a uniquely named container."""

    path: Path
    final: Path
    manifest: dict

    @property
    def container(self) -> Path:
        return self.path.parent

    def swap_in(self) -> None:
        """Replace `final` with the staged folder: the old one is renamed aside, the staged
        one renamed in, then the old one removed. If the second rename fails the old
        folder is put back."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        old = self.final.with_name(f".old-{self.final.name}-{uuid.uuid4().hex[:8]}")
        if self.final.exists():
            self.final.rename(old)
        try:
            self.path.rename(self.final)
        except BaseException:
            if old.exists() and not self.final.exists():
                old.rename(self.final)
            raise
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(self.container, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.container, ignore_errors=True)


def stage_release_folder(
    final: Path,
    write: Callable[[Path], object],
    manifest: Manifest,
    *,
    unhashed: Iterable[str] = (),
    staging_parent: Path | None = None,
) -> StagedFolder:
    """Write a release into a new staging folder and finish it there: `write(folder)` writes
    the files, they are hashed (see hash_folder), and manifest.json is written: `manifest`
    with its "files" set to the hashes, or `manifest(files)` if it is a callable. The
    staging folder is beside `final` (or in `staging_parent`) and removed on any error.
    Swap it in with `.swap_in()`; `write_release_folder` does both."""
    final = Path(final)
    parent = Path(staging_parent) if staging_parent is not None else final.parent
    parent.mkdir(parents=True, exist_ok=True)
    container = parent / f".staging-{final.name}-{uuid.uuid4().hex}"
    staging = container / final.name
    staging.mkdir(parents=True)
    try:
        write(staging)
        files = hash_folder(staging, unhashed=unhashed)
        content = manifest(files) if callable(manifest) else {**manifest, "files": files}
        (staging / MANIFEST_NAME).write_text(json.dumps(content, indent=2, default=str))
    except BaseException:
        shutil.rmtree(container, ignore_errors=True)
        raise
    return StagedFolder(staging, final, content)


def write_release_folder(
    final: Path,
    write: Callable[[Path], object],
    manifest: Manifest,
    *,
    unhashed: Iterable[str] = (),
    staging_parent: Path | None = None,
) -> dict:
    """Write a release folder atomically (stage_release_folder, then swap it in); returns
    the manifest written. On any error `final` is as it was and no staging folder is left."""
    staged = stage_release_folder(final, write, manifest, unhashed=unhashed, staging_parent=staging_parent)
    try:
        staged.swap_in()
    except BaseException:
        staged.discard()
        raise
    return staged.manifest


__all__ = [
    "VAULT_CALLERS",
    "StagedFolder",
    "VaultAccessRefused",
    "attach",
    "bounded_config",
    "canonical_json",
    "hash_folder",
    "release_file",
    "release_reader",
    "sha256_bytes",
    "sha256_file",
    "sha256_json",
    "stage_release_folder",
    "vault",
    "warehouse",
    "warehouse_attached",
    "warehouse_with_vault",
    "write_release_folder",
]
