"""Project-scoped IDs for data requests: HMAC-SHA256 of the research ID with a
per-project key.

Two projects receiving extracts get different IDs for the same person, so their
files cannot be joined with each other or with the warehouse without the key.
The key is read, in this order, from

1. the environment variable `SLEDS_PROJECT_KEY_<PROJECT>` (project name upper-cased,
   every character that is not a letter or digit replaced by `_`), hex or base64 or
   raw text of at least 32 bytes;
2. the file `SLEDS_HOME/secrets/projects/<project>.key.sealed`: created by
   `create_project_key`, mode 0600, sealed with the vault's key (orchestration/lib/
   sealing.py), so a copy of SLEDS_HOME without that key holds no usable project key;
3. a plain `<project>.key` there (hex, base64 or text), as older versions wrote it.

Never from git, dbt vars or logs: nothing here logs or echoes a key, and errors
name only where a key was looked for. Rotation: write a new key (the old file
kept aside if extracts made with it must be re-identified by the state), and
every project ID of that project changes; see docs/identity.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.sealing import SealError
from orchestration.lib.vault_at_rest import seal_secret, unseal_secret

MIN_KEY_BYTES = 32
PROJECT_ID_CHARS = 20  # base32 characters: 100 bits of the HMAC
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ProjectKeyError(RuntimeError):
    """No usable key for a project (the message never contains key material)."""


def _check_project(project: str) -> str:
    if not _PROJECT_NAME.fullmatch(project or ""):
        raise ProjectKeyError(
            f"project name {project!r} is not valid: letters, digits, '_', '.', '-' (at most 64, not starting "
            "with a punctuation mark)"
        )
    return project


def env_var(project: str) -> str:
    return "SLEDS_PROJECT_KEY_" + re.sub(r"[^A-Z0-9]", "_", _check_project(project).upper())


def key_file(project: str) -> Path:
    """Where the project's sealed key is (or goes)."""
    return paths.sleds_home() / "secrets" / "projects" / f"{_check_project(project)}.key.sealed"


def plain_key_file(project: str) -> Path:
    """Where older versions kept the key unsealed."""
    return paths.sleds_home() / "secrets" / "projects" / f"{_check_project(project)}.key"


def _decode(text: str, where: str) -> bytes:
    text = text.strip()
    candidates = []
    if re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) % 2 == 0:
        candidates.append(binascii.unhexlify(text))
    try:
        candidates.append(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        pass
    candidates.append(text.encode())
    for key in candidates:
        if len(key) >= MIN_KEY_BYTES:
            return key
    raise ProjectKeyError(f"the project key in {where} is shorter than {MIN_KEY_BYTES} bytes")


def load_project_key(project: str) -> bytes:
    """The project's key from the environment or its key file; ProjectKeyError if neither."""
    var = env_var(project)
    value = os.environ.get(var)
    if value:
        return _decode(value, f"environment variable {var}")
    path = key_file(project)
    if path.exists():
        try:
            text = unseal_secret(path).decode("ascii")
        except SealError as exc:
            raise ProjectKeyError(f"the key of project {project!r} cannot be unsealed: {exc}") from None
        return _decode(text, str(path))
    plain = plain_key_file(project)
    if plain.exists():  # written by an older version: sealed now, the same key
        key = _decode(plain.read_text(encoding="utf-8"), str(plain))
        seal_secret(plain.read_text(encoding="utf-8").strip().encode("utf-8"), path)
        plain.unlink()
        return key
    raise ProjectKeyError(
        f"no key for project {project!r}: set the environment variable {var} or create one "
        f"(`sleds extract --project {project} --create-key ...`, which writes {path})"
    )


def create_project_key(project: str, *, replace: bool = False) -> Path:
    """Write a fresh random 256-bit key (hex) to the project's key file, sealed with the
    vault's key and readable by the owner only. With replace=True an existing key is
    rotated: the old file is kept as `<project>.key.sealed.<n>.retired` so the state
    can still re-identify old extracts."""
    path = key_file(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    if plain_key_file(project).exists():
        load_project_key(project)  # an older plain key is sealed in place, never silently replaced
    if path.exists():
        if not replace:
            raise ProjectKeyError(f"{path} exists; rotate it with replace=True")
        n = 1
        while path.with_name(f"{path.name}.{n}.retired").exists():
            n += 1
        path.rename(path.with_name(f"{path.name}.{n}.retired"))
    seal_secret(secrets.token_hex(32).encode("ascii"), path)
    return path


def project_research_id(research_id: str, key: bytes) -> str:
    """'P' + the first 20 base32 characters (100 bits) of HMAC-SHA256(key, research_id)."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise ProjectKeyError(f"a project key must be at least {MIN_KEY_BYTES} bytes")
    digest = hmac.new(bytes(key), research_id.encode("utf-8"), hashlib.sha256).digest()
    return "P" + base64.b32encode(digest).decode("ascii")[:PROJECT_ID_CHARS]
