"""The public release: suppress every summary table together, audit the result
independently against every earlier publication, and only then write it out.

Layout (SLEDS_HOME/releases/public/):
  tables/<table_id>.csv, .parquet   what readers get (one row per cell, with status and reason)
  audit.parquet                     the audit's per-cell result (intervals for suppressed cells)
  manifest.json                     tables, rules and policy version, clauses, rows, SHA-256s, run
  history/<created>_<run>.parquet   every publication's cells, so the next audit can difference them
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.lib import paths
from orchestration.lib.agreements.policy import clauses_for
from orchestration.lib.disclosure.audit import audit_release
from orchestration.lib.disclosure.engine import run_suppression
from orchestration.lib.disclosure.tables import OUTPUT_COLUMNS, SummaryTable
from orchestration.lib.governance.data_dictionary import write_data_dictionary
from orchestration.lib.releases.export import code_version
from orchestration.lib.storage import sha256_bytes, write_release_folder

PUBLIC_CLAUSES = clauses_for("public")  # seeds/policy_scopes.csv
# public columns: the structure and what is shown; never the true values
PUBLIC_COLUMNS = OUTPUT_COLUMNS
AUDIT_COLUMNS_DROPPED = ("true_value",)  # the audit's truth column stays inside the agency


class PublicationBlocked(RuntimeError):
    """The audit found a disclosed cell: nothing was written."""


@dataclass
class Publication:
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    suppression: dict[str, dict[str, int]] = field(default_factory=dict)
    audit: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


def policy_version() -> str:
    """What decides the published cells: the policy seeds and the dbt models and macros
    that define the tables (models/publish, macros/publish_grid.sql)."""
    names = ("suppression_policies.csv", "suppression_rate_bands.csv", "publish_tables.csv")
    files = [paths.SEEDS_DIR / name for name in names]
    files += sorted((paths.DBT_PROJECT_DIR / "models" / "publish").glob("*"))
    files += [paths.DBT_PROJECT_DIR / "macros" / "publish_grid.sql"]
    return sha256_bytes(*(f.read_bytes() for f in files if f.is_file()))[:16]


def prior_publications(public: Path) -> list[pd.DataFrame]:
    history = public / "history"
    return [pd.read_parquet(p) for p in sorted(history.glob("*.parquet"))] if history.exists() else []


def publish(tables: list[SummaryTable], public: Path, *, run_id: str, as_of: dt.date) -> Publication:
    if not tables:
        raise PublicationBlocked("no summary tables to publish (are the marts built?)")
    prior = prior_publications(public)
    began = time.monotonic()
    run = run_suppression(tables, prior_releases=prior)
    cells = run.cells
    suppressed_at = time.monotonic()
    # the independent audit, on what would be published, with every earlier publication
    audit = audit_release(cells, prior_releases=prior, tables=tables)
    audited_at = time.monotonic()
    pub = Publication(public)
    pub.seconds = {"suppression": round(suppressed_at - began, 2), "audit": round(audited_at - suppressed_at, 2)}
    disclosed = int(audit.cells["disclosed"].sum())
    pub.audit = {
        "passed": audit.passed,
        "cells_published": len(cells),
        "cells_checked": len(audit.cells),
        "disclosed": disclosed,
        "prior_publications": len(prior),
        "engine_iterations": run.iterations,
    }
    if not audit.passed:
        worst = audit.disclosed.head(5).to_dict("records")
        raise PublicationBlocked(
            f"audit found {disclosed} disclosed cell(s); nothing written. First: {json.dumps(worst, default=str)}"
        )
    for table_id, group in cells.groupby("table_id"):
        pub.tables[table_id] = len(group)
        pub.suppression[table_id] = {str(k): int(v) for k, v in group["reason"].value_counts().items()}

    created = dt.datetime.now(dt.UTC)

    def write(staging: Path) -> None:
        (staging / "tables").mkdir()
        for table_id, group in cells.groupby("table_id"):
            out = group[PUBLIC_COLUMNS].reset_index(drop=True)
            out.to_csv(staging / "tables" / f"{table_id}.csv", index=False)
            out.to_parquet(staging / "tables" / f"{table_id}.parquet", index=False)
        audit_out = audit.cells.drop(columns=[c for c in AUDIT_COLUMNS_DROPPED if c in audit.cells.columns])
        audit_out.astype({c: str for c in audit_out.columns if audit_out[c].dtype == object}).to_parquet(
            staging / "audit.parquet", index=False
        )
        history = staging / "history"
        history.mkdir()
        if (public / "history").exists():
            for old in (public / "history").glob("*.parquet"):
                shutil.copy2(old, history / old.name)
        cells[PUBLIC_COLUMNS].to_parquet(history / f"{created:%Y%m%dT%H%M%S}_{run_id[:8]}.parquet", index=False)
        write_data_dictionary(staging, "public")

    pub.manifest = {
        "release": "public_summaries",
        "audience": "public",
        "folder": str(public),
        "tables": pub.tables,
        "descriptions": {t.table_id: t.description for t in tables},
        "policies": {t.table_id: t.policy for t in tables},
        "populations": {t.table_id: t.population for t in tables},
        "policy_version": policy_version(),
        "suppression": pub.suppression,
        "audit": pub.audit,
        "clauses": PUBLIC_CLAUSES,
        "files": {},  # the SHA-256 of every file but the history, set by write_release_folder
        "as_of": str(as_of),
        "run_id": run_id,
        "code_version": code_version(),
        "created_at": created.isoformat(),
        "seconds": pub.seconds,
    }
    pub.manifest = write_release_folder(public, write, pub.manifest, unhashed=["history"])
    return pub
