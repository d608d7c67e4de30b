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


def _home(home: Path | None) -> Path:
    return Path(home) if home is not None else sleds_home()


def warehouse_path(home: Path | None = None) -> Path:
    """The warehouse DuckDB file: research-ID keyed data only, never PII."""
    return _home(home) / "warehouse.duckdb"


def vault_path(home: Path | None = None) -> Path:
    """The vault DuckDB file: names, SSNs, birthdates and state IDs; only the vault-side
    stages open it (orchestration.lib.storage.VAULT_CALLERS)."""
    return _home(home) / "vault" / "vault.duckdb"


def spill_dir(home: Path | None = None) -> Path:
    """Where DuckDB spills working data past its memory limit."""
    return _home(home) / "tmp"


def validation_dir() -> Path:
    """Validation results of every ingest load, one JSON file per partition load."""
    return sleds_home() / "validation"


def data_docs_dir(home: Path | None = None) -> Path:
    """Great Expectations' Data Docs of every feed's re-check (index.html), rebuilt each build."""
    return _home(home) / "reports" / "data_docs"


def logs_dir() -> Path:
    return sleds_home() / "logs"


def releases_dir(home: Path | None = None) -> Path:
    """Where each audience's release is written, outside the warehouse file."""
    return _home(home) / "releases"


def sleds_release_dir(home: Path | None = None) -> Path:
    return releases_dir(home) / "sleds"


def sleds_release_db(home: Path | None = None) -> Path:
    return sleds_release_dir(home) / "sleds_release.duckdb"


def institution_marts_dir(home: Path | None = None) -> Path:
    """One folder per institution code, each with institution_mart.duckdb."""
    return releases_dir(home) / "institutions"


def public_release_dir(home: Path | None = None) -> Path:
    return releases_dir(home) / "public"
