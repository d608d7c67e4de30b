"""The vault on disk: sealed between builds, a working copy while the stages use it.

`vault/vault.duckdb.sealed` is the vault at rest (orchestration/lib/sealing.py). The
first vault-side stage of a build that opens the vault (storage.vault,
storage.warehouse_with_vault) unseals it into `vault/vault.duckdb` (0600, folder 0700);
the build seals it again when it ends (`seal`), and removes the working copy. A copy
that was only read is not re-sealed: its sealed file stays byte for byte, so an
unchanged build stays unchanged. If a build is killed, the working copy is the newest
state: the next build goes on with it, and `sleds doctor --repair` seals it.

Two processes never unseal or seal at once (a lock file beside the vault)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.sealing import (
    KEY_ENV,
    SealError,
    key_id,
    key_path,
    read_key,
    seal_bytes,
    seal_file,
    sealed_key_id,
    unseal_bytes,
    unseal_file,
    write_new_key,
)


def sealed_path(vault: Path) -> Path:
    return vault.with_name(vault.name + ".sealed")


def _marker(vault: Path) -> Path:
    """The working copy's size and mtime right after unsealing: unchanged means only read."""
    return vault.with_name(f".{vault.name}.unsealed")


def next_key_path() -> Path:
    """Where `rotate_key` puts the new key until the vault is sealed under it."""
    path = key_path()
    return path.with_name(path.name + ".next")


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


@contextmanager
def _locked(vault: Path) -> Iterator[None]:
    vault.parent.mkdir(parents=True, exist_ok=True)
    with open(vault.parent / ".vault.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _private_folder(vault: Path) -> None:
    vault.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(vault.parent, 0o700)


def vault_key(*, create: bool) -> bytes:
    path, home = key_path(), paths.sleds_home()
    if create and not path.exists():
        return write_new_key(path, home)
    return read_key(path, home)


def _matching_key(sealed: Path) -> tuple[bytes, bool]:
    """The key `sealed` was sealed with, and whether it is the next one (a rotation cut
    before the new key took the old one's place); the current key when neither fits
    (unsealing then says which key it needs)."""
    home = paths.sleds_home()
    key = read_key(key_path(), home)
    if sealed_key_id(sealed) != key_id(key) and next_key_path().exists():
        new = read_key(next_key_path(), home)
        if sealed_key_id(sealed) == key_id(new):
            return new, True
    return key, False


def _key_for(sealed: Path) -> bytes:
    """The vault's key; found under the next key, the vault finishes the cut rotation here."""
    key, is_next = _matching_key(sealed)
    if is_next:
        next_key_path().replace(key_path())
    return key


def secrets_dir() -> Path:
    return paths.sleds_home() / "secrets"


def _sealing_key(vault: Path) -> bytes:
    """The key to seal with: created only when nothing is sealed yet (a new vault), else
    the key the sealed vault opens with. A build whose SLEDS_VAULT_KEY_FILE points
    elsewhere fails here rather than seal the vault under a key nobody keeps."""
    sealed = sealed_path(vault)
    if not sealed.exists() and not _sealed_secrets():
        return vault_key(create=True)
    key = read_key(key_path(), paths.sleds_home())
    if sealed.exists() and sealed_key_id(sealed) != key_id(key):
        raise SealError(
            f"the key at {key_path()} (id {key_id(key).hex()}) is not the one {sealed} was sealed with (id "
            f"{sealed_key_id(sealed).hex()}): point {KEY_ENV} at the vault's key; the working copy was left as it is"
        )
    return key


def seal_secret(data: bytes, path: Path) -> None:
    """A small secret (a project key) sealed with the vault's key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    seal_bytes(data, path, _sealing_key(paths.vault_path()))


def unseal_secret(path: Path) -> bytes:
    """A sealed secret, with the current key or, mid-rotation, the next one (only the
    vault's own unseal finishes a rotation: the secrets are re-sealed before it)."""
    return unseal_bytes(path, _matching_key(path)[0])


def _sealed_secrets() -> list[Path]:
    root = secrets_dir()
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*.sealed*") if p.is_file() and not p.name.endswith(".partial"))


def ensure_working_copy(vault: Path) -> None:
    """Before a stage opens the vault: unseal it if only the sealed file is there; for a
    new vault, make sure the key exists before the first identity is written. Call it
    under `opening(vault)`, and connect before leaving that block."""
    _private_folder(vault)
    if vault.exists():
        return
    sealed = sealed_path(vault)
    if not sealed.exists():
        _sealing_key(vault)
        return
    unseal_file(sealed, vault, _key_for(sealed))
    _marker(vault).write_text(json.dumps(_stamp(vault)))


@contextmanager
def opening(vault: Path) -> Iterator[None]:
    """Unseal if need be and connect, with `seal` kept out meanwhile: once the block ends
    the connection holds the file open, which `seal` sees and leaves alone."""
    with _locked(vault):
        ensure_working_copy(vault)
        yield


def _open_by_any_process(vault: Path) -> list[int]:
    """PIDs that hold the working copy (or its WAL) open, from /proc: a DuckDB connection
    keeps its file open for as long as it lives."""
    targets = {str(vault.resolve()), str(vault.resolve()) + ".wal"}
    holders = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (proc / "fd").iterdir()):
                holders.append(int(proc.name))
        except OSError:  # gone, or not ours to look at
            continue
    return holders


def seal(vault: Path | None = None) -> str | None:
    """Seal the working copy and remove it: 'sealed', 'unchanged' (only read since it was
    unsealed) or None (no working copy). Only when nothing has the vault open."""
    import duckdb

    vault = Path(vault) if vault is not None else paths.vault_path()
    if not vault.exists():
        return None
    with _locked(vault):
        if not vault.exists():
            return None
        if _open_by_any_process(vault):
            return "in use"
        wal = vault.with_name(vault.name + ".wal")
        if wal.exists():  # what a killed writer left: replayed, then written into the file
            with duckdb.connect(str(vault)) as con:
                con.execute("CHECKPOINT")
            if wal.exists():
                raise SealError(f"{wal} is still there after a checkpoint: the vault was left unsealed")
        marker, sealed = _marker(vault), sealed_path(vault)
        unchanged = sealed.exists() and marker.exists() and json.loads(marker.read_text()) == _stamp(vault)
        if not unchanged:
            seal_file(vault, sealed, _sealing_key(vault))
            _sync_folder(vault.parent)
        vault.unlink()
        marker.unlink(missing_ok=True)
    return "unchanged" if unchanged else "sealed"


def _sync_folder(folder: Path) -> None:
    """The renames in `folder` on disk before what depends on them (a key's rename)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unsealed_working_copy(vault: Path | None = None) -> Path | None:
    """The working copy if one is there (a build is running, or one was stopped)."""
    vault = Path(vault) if vault is not None else paths.vault_path()
    return vault if vault.exists() else None


def stamp_file(vault: Path | None = None) -> Path:
    """The file whose size and mtime say whether the vault changed: the working copy
    while there is one, else the sealed file."""
    vault = Path(vault) if vault is not None else paths.vault_path()
    return vault if vault.exists() else sealed_path(vault)


def rotate_key() -> str:
    """A new vault key: the project keys and the vault (working copy or sealed) are sealed
    under it, then the new key replaces the old. A rotation cut at any point leaves a vault that opens:
    before the re-sealed file is renamed in, the old key still fits; after, the new key
    waits beside the old (`<key>.next`) and the next unseal finishes the rotation."""
    vault = paths.vault_path()
    sealed = sealed_path(vault)
    if not vault.exists() and not sealed.exists():
        raise SealError(f"there is no vault at {vault} to re-seal")
    old_path, new_path, home = key_path(), next_key_path(), paths.sleds_home()
    # a rotation that was cut is finished with the key it began, never begun again: part
    # of what it re-sealed may already be under that key alone
    new = read_key(new_path, home) if new_path.exists() else write_new_key(new_path, home)
    _sync_folder(new_path.parent)
    for secret in _sealed_secrets():  # a cut rotation leaves some under each key: unseal_secret takes either
        if sealed_key_id(secret) != key_id(new):
            seal_bytes(unseal_secret(secret), secret, new)
    with _locked(vault):
        if vault.exists():
            seal_file(vault, sealed, new)  # the working copy is the newest state
        elif sealed_key_id(sealed) != key_id(new):
            scratch = vault.with_name(".rotating." + vault.name)
            try:
                unseal_file(sealed, scratch, _key_for(sealed))
                seal_file(scratch, sealed, new)
            finally:
                scratch.unlink(missing_ok=True)
        _sync_folder(vault.parent)
        _marker(vault).unlink(missing_ok=True)
        new_path.replace(old_path)
        _sync_folder(old_path.parent)
    return f"the vault is sealed under a new key (id {key_id(new).hex()}) at {old_path}"
