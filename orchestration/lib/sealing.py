"""Encryption at rest for the vault (and the project keys): AES-256-GCM over a file,
with a key kept outside SLEDS_HOME.

Why not DuckDB's own encrypted databases (`ATTACH ... (ENCRYPTION_KEY ...)`): DuckDB
2.0.0 writes them only with the OpenSSL module of its `httpfs` extension; its built-in
mbedtls module is read-only, since its random numbers are not good enough for GCM
nonces (`force_mbedtls_unsafe` says so in its name). `httpfs` for 2.0.0 cannot be
installed on this project's machines, so the vault is sealed as a whole file instead,
with `cryptography`'s AES-GCM (OpenSSL): between builds only the sealed file exists;
during a build the working copy is a plain DuckDB file, mode 0600 in a 0700 folder
(orchestration/lib/vault_at_rest.py).

The sealed format ("STREAM", so a file of any size is sealed in bounded memory):
a 24-byte header (magic, the key's id, a random 8-byte nonce prefix), then chunks of
at most 4 MiB, each `length (4 bytes) || ciphertext || tag`. A chunk's nonce is the
prefix and its 4-byte counter; its associated data is the header, the counter and a
flag marking the last chunk. So a flipped byte, a reordered or dropped chunk, a cut
file and a file sealed under another key are each refused with a clear reason.

The key: 32 random bytes, hex, in the file named by SLEDS_VAULT_KEY_FILE (default
`$XDG_CONFIG_HOME/sleds/vault.key`, else `~/.config/sleds/vault.key`), mode 0600,
never inside SLEDS_HOME (a copy of the home must not carry its own key). It is
created on first use; without it the vault cannot be read, so keep a copy where the
agency keeps its other keys. Rotation: `rotate_key` (docs/identity.md)."""

from __future__ import annotations

import io
import os
import secrets
import stat
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "SLEDS_VAULT_KEY_FILE"
MAGIC = b"SLEDSSL1"
CHUNK = 4 * 1024 * 1024
HEADER_LEN = 24


class SealError(RuntimeError):
    """A key or sealed file that cannot be used; the message never holds key material."""


# ------------------------------------------------------------------------ the key


def key_path() -> Path:
    explicit = os.environ.get(KEY_ENV)
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "sleds" / "vault.key"


def key_id(key: bytes) -> bytes:
    """8 bytes that name a key without revealing it (written in each sealed file)."""
    from orchestration.lib.storage import sha256_bytes  # storage opens the vault through this module

    return bytes.fromhex(sha256_bytes(b"sleds vault key id\0", key))[:8]


def _check_outside(path: Path, home: Path) -> None:
    resolved, root = path.resolve(), home.resolve()
    if resolved == root or root in resolved.parents:
        raise SealError(
            f"the vault key {path} is inside SLEDS_HOME ({home}): anyone with a copy of the home would hold "
            f"the key too. Move it elsewhere and point {KEY_ENV} at it."
        )


def read_key(path: Path, home: Path) -> bytes:
    """The key in `path`; SealError if it is missing, readable by others, malformed or
    inside `home`."""
    _check_outside(path, home)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SealError(f"no vault key at {path} ({KEY_ENV}): without it the vault cannot be read") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealError(f"the vault key {path} is readable by others (mode {oct(mode & 0o777)}): chmod 600 it")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise SealError(f"the vault key {path} is not 64 hex characters") from None
    if len(key) != 32:
        raise SealError(f"the vault key {path} is not 64 hex characters (32 bytes)")
    return key


def write_new_key(path: Path, home: Path) -> bytes:
    """A fresh random key written to `path` (0600, folder 0700); refuses to overwrite."""
    _check_outside(path, home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


# ------------------------------------------------------------------ sealed files


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">I", counter)


def _aad(header: bytes, counter: int, last: bool) -> bytes:
    return header + struct.pack(">I?", counter, last)


def _write_atomically(dst: Path, write) -> None:
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _seal_stream(plain, out, key: bytes) -> None:
    aead = AESGCM(key)
    header = MAGIC + key_id(key) + secrets.token_bytes(8)
    prefix = header[16:24]
    out.write(header)
    counter, block = 0, plain.read(CHUNK)
    while True:
        following = plain.read(CHUNK) if block else b""
        last = not following
        sealed = aead.encrypt(_nonce(prefix, counter), block, _aad(header, counter, last))
        out.write(struct.pack(">I", len(block)) + sealed)
        if last:
            return
        counter, block = counter + 1, following


def seal_file(src: Path, dst: Path, key: bytes) -> None:
    """`src` encrypted into `dst` (written aside, then renamed into place)."""
    with open(src, "rb") as plain:
        _write_atomically(dst, lambda out: _seal_stream(plain, out, key))


def seal_bytes(data: bytes, dst: Path, key: bytes) -> None:
    """`data` (a small secret) encrypted into `dst`."""
    _write_atomically(dst, lambda out: _seal_stream(io.BytesIO(data), out, key))


def sealed_key_id(path: Path) -> bytes:
    with open(path, "rb") as handle:
        header = handle.read(HEADER_LEN)
    if len(header) != HEADER_LEN or not header.startswith(MAGIC):
        raise SealError(f"{path} is not a sealed SLEDS file")
    return header[8:16]


def _check_key(src: Path, key: bytes) -> None:
    if sealed_key_id(src) != key_id(key):
        raise SealError(
            f"{src} was sealed with another key (id {sealed_key_id(src).hex()}; the key given has id "
            f"{key_id(key).hex()}): point {KEY_ENV} at the key it was sealed with"
        )


def _unseal_stream(src: Path, out, key: bytes) -> None:
    aead = AESGCM(key)
    with open(src, "rb") as sealed:
        header = sealed.read(HEADER_LEN)
        prefix, counter = header[16:24], 0
        while True:
            length = sealed.read(4)
            if len(length) != 4:
                raise SealError(f"{src} is cut short (chunk {counter} missing): restore it from a backup")
            (size,) = struct.unpack(">I", length)
            if size > CHUNK:
                raise SealError(f"{src} is damaged at chunk {counter}")
            body = sealed.read(size + 16)
            last = sealed.peek(1)[:1] == b""  # nothing after this chunk
            try:
                out.write(aead.decrypt(_nonce(prefix, counter), body, _aad(header, counter, last)))
            except InvalidTag:
                raise SealError(
                    f"{src} does not authenticate at chunk {counter}: it was changed, cut or reordered"
                ) from None
            if last:
                return
            counter += 1


def unseal_file(src: Path, dst: Path, key: bytes) -> None:
    """`src` decrypted into `dst` (aside, then renamed), or SealError naming what is wrong."""
    _check_key(src, key)
    _write_atomically(dst, lambda out: _unseal_stream(src, out, key))


def unseal_bytes(src: Path, key: bytes) -> bytes:
    """A small sealed secret, in memory only."""
    _check_key(src, key)
    out = io.BytesIO()
    _unseal_stream(src, out, key)
    return out.getvalue()
