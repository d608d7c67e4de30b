"""Shared fixtures: synthetic feed sets generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestration.lib.generate.run import generate


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
