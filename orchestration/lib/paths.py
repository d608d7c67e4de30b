"""Where the product keeps things.

All state (warehouse, vault, releases, logs, demo feeds) lives under one folder,
SLEDS_HOME (default `.sleds/` in the repository), so a user can see, back up or
delete everything in one place.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS_DIR = REPO_ROOT / "seeds"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"


def sleds_home() -> Path:
    return Path(os.environ.get("SLEDS_HOME", REPO_ROOT / ".sleds")).resolve()


def demo_dir() -> Path:
    """Where `make demo` generates its synthetic feeds (landing + ground truth)."""
    return sleds_home() / "demo"


def landing_dir() -> Path:
    """The folder ingest reads: SLEDS_LANDING, or the demo feeds' landing folder."""
    env = os.environ.get("SLEDS_LANDING")
    return Path(env).resolve() if env else demo_dir() / "landing"


def warehouse_path() -> Path:
    """The warehouse DuckDB file: research-ID keyed data only, never PII."""
    return sleds_home() / "warehouse.duckdb"


def vault_path() -> Path:
    """The vault DuckDB file: names, SSNs, birthdates and state IDs, nothing else reads it."""
    return sleds_home() / "vault" / "vault.duckdb"


def validation_dir() -> Path:
    """Validation results of every ingest load, one JSON file per partition load."""
    return sleds_home() / "validation"


def logs_dir() -> Path:
    return sleds_home() / "logs"


def releases_dir() -> Path:
    """Where each audience's release is written, outside the warehouse file."""
    return sleds_home() / "releases"
