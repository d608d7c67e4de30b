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


def _key_for(sealed: Path) -> bytes:
    """The key `sealed` was sealed with: the current one or, when a rotation was cut after
    the vault was re-sealed but before the new key took the old one's place, the new one
    (the rotation is then finished here)."""
    home = paths.sleds_home()
    key = read_key(key_path(), home)
    if sealed_key_id(sealed) != key_id(key) and next_key_path().exists():
        new = read_key(next_key_path(), home)
        if sealed_key_id(sealed) == key_id(new):
            next_key_path().replace(key_path())
            return new
    return key


def secrets_dir() -> Path:
    return paths.sleds_home() / "secrets"


def seal_secret(data: bytes, path: Path) -> None:
    """A small secret (a project key) sealed with the vault's key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    seal_bytes(data, path, vault_key(create=True))


def unseal_secret(path: Path) -> bytes:
    """A sealed secret, with the current key or, mid-rotation, the next one."""
    home = paths.sleds_home()
    keys = [read_key(key_path(), home)]
    if next_key_path().exists():
        keys.append(read_key(next_key_path(), home))
    wanted = sealed_key_id(path)
    return unseal_bytes(path, next((k for k in keys if key_id(k) == wanted), keys[0]))


def _sealed_secrets() -> list[Path]:
    root = secrets_dir()
    return sorted(p for p in root.rglob("*.sealed*") if p.is_file()) if root.exists() else []


def ensure_working_copy(vault: Path) -> None:
    """Before a stage opens the vault: unseal it if only the sealed file is there; for a
    new vault, make sure the key exists before the first identity is written."""
    _private_folder(vault)
    if vault.exists():
        return
    sealed = sealed_path(vault)
    if not sealed.exists():
        vault_key(create=True)
        return
    with _locked(vault):
        if vault.exists():
            return
        unseal_file(sealed, vault, _key_for(sealed))
        _marker(vault).write_text(json.dumps(_stamp(vault)))


def seal(vault: Path | None = None) -> str | None:
    """Seal the working copy and remove it: 'sealed', 'unchanged' (only read since it was
    unsealed) or None (no working copy). Only when nothing has the vault open."""
    import duckdb

    vault = Path(vault) if vault is not None else paths.vault_path()
    if not vault.exists():
        return None
    with _locked(vault):
        if vault.with_name(vault.name + ".wal").exists():
            duckdb.connect(str(vault)).close()  # replays and checkpoints what a killed writer left
        marker, sealed = _marker(vault), sealed_path(vault)
        unchanged = sealed.exists() and marker.exists() and json.loads(marker.read_text()) == _stamp(vault)
        if not unchanged:
            seal_file(vault, sealed, vault_key(create=True))
        vault.unlink()
        marker.unlink(missing_ok=True)
    return "unchanged" if unchanged else "sealed"


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
    new_path.unlink(missing_ok=True)  # a rotation cut before the vault was re-sealed: start again
    new = write_new_key(new_path, home)
    for secret in _sealed_secrets():  # a cut rotation leaves some under each key: unseal_secret takes either
        seal_bytes(unseal_secret(secret), secret, new)
    with _locked(vault):
        if vault.exists():
            seal_file(vault, sealed, new)  # the working copy is the newest state
        else:
            scratch = vault.with_name(".rotating." + vault.name)
            try:
                unseal_file(sealed, scratch, _key_for(sealed))
                seal_file(scratch, sealed, new)
            finally:
                scratch.unlink(missing_ok=True)
        _marker(vault).unlink(missing_ok=True)
        new_path.replace(old_path)
    return f"the vault is sealed under a new key (id {key_id(new).hex()}) at {old_path}"
