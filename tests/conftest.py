"""Shared fixtures: synthetic feed sets generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestration.lib.generate.run import generate

# one vault key for the whole session, outside every SLEDS_HOME the tests make (as the
# product requires) and outside the user's own ~/.config: copies of a built home open
# with it, and subprocesses inherit it
if "SLEDS_VAULT_KEY_FILE" not in os.environ:
    import tempfile

    os.environ["SLEDS_VAULT_KEY_FILE"] = str(Path(tempfile.mkdtemp(prefix="sleds-test-key-")) / "vault.key")


@pytest.fixture(scope="session")
def tiny_feeds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate("tiny", 3, out)
    return out


@pytest.fixture(scope="session")
def demo_feeds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate("demo", 42, out)
    return out


@pytest.fixture()
def sleds_home(tmp_path, monkeypatch) -> Path:
    """An empty SLEDS_HOME for one test (warehouse, vault, logs under tmp)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SLEDS_HOME", str(home))
    monkeypatch.delenv("SLEDS_LANDING", raising=False)
    return home


def venv_bin(name: str) -> str:
    import sys

    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def tiny_warehouse(tiny_feeds, tmp_path_factory) -> Path:
    """A SLEDS_HOME with the tiny feeds built end to end by the product's own Dagster
    jobs (orchestration/runner.py, what `sleds build` runs), once per session. Read it,
    or copy it (`copy_home`) before changing anything."""
    from orchestration import runner

    home = tmp_path_factory.mktemp("tiny_home") / "home"
    before = os.environ.get("SLEDS_HOME")
    os.environ["SLEDS_HOME"] = str(home)
    lines: list[str] = []
    try:
        result = runner.build(tiny_feeds / "landing", emit=lines.append)
    finally:
        if before is None:
            os.environ.pop("SLEDS_HOME", None)
        else:
            os.environ["SLEDS_HOME"] = before
    assert result.success, "the tiny build failed:\n" + "\n".join(lines[-40:])
    return home


def copy_home(source: Path, target: Path) -> Path:
    """A private copy of a built SLEDS_HOME (warehouse, vault, identity state)."""
    import shutil

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("tmp"))
    return target


def open_vault(home: Path, scratch: Path):
    """A read-only connection to a built home's vault, which the build left sealed: it is
    unsealed into `scratch`, so the home itself is left as the build left it."""
    import duckdb

    from orchestration.lib import vault_at_rest
    from orchestration.lib.sealing import unseal_file

    vault = home / "vault" / "vault.duckdb"
    if vault.exists():
        return duckdb.connect(str(vault), read_only=True)
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / "vault.duckdb"
    if not copy.exists():
        unseal_file(vault_at_rest.sealed_path(vault), copy, vault_at_rest.vault_key(create=False))
    return duckdb.connect(str(copy), read_only=True)
