"""The whole pipeline in plain Python, without Dagster: what tests and the benchmark
use to build a warehouse directly. `sleds build` runs the same library functions as
Dagster assets (orchestration/defs); this module only calls them in dependency order."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.agreements.purge import PurgeReport, purge_destroyed
from orchestration.lib.agreements.registry import load_registry
from orchestration.lib.agreements.store import store_registry
from orchestration.lib.dbt_prepare import dbt_env, dbt_executable
from orchestration.lib.derived.ages import build_record_ages
from orchestration.lib.identity.pipeline import run_identity
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.load import PartitionReport, ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition
from orchestration.lib.reference import FEEDS


def ingest_landing(landing: Path, *, force: bool = False) -> list[PartitionReport]:
    reports = []
    for feed in FEEDS:
        for key, files in group_by_partition(discover(landing, feed)).items():
            reports.append(
                ingest_partition(
                    feed, key, files, paths.warehouse_path(), paths.vault_path(), paths.validation_dir(), force=force
                )
            )
    return reports


def load_agreements(folder: Path | None = None) -> dict:
    return store_registry(load_registry(folder), paths.warehouse_path())


def purge(landing: Path | None = None) -> PurgeReport:
    return purge_destroyed(load_registry(), paths.warehouse_path(), paths.vault_path(), landing)


def dbt(*args: str) -> subprocess.CompletedProcess:
    """Run dbt on the warehouse of the current SLEDS_HOME; raises with dbt's output on failure."""
    env = {**os.environ, **dbt_env()}
    cmd = [dbt_executable(), *args, "--project-dir", str(paths.DBT_PROJECT_DIR), "--profiles-dir",
           str(paths.DBT_PROJECT_DIR), "--no-use-colors"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return done


def build_downstream(landing: Path | None = None) -> None:
    """Everything after ingest, in the order the Dagster graph runs it."""
    load_agreements()
    purge(landing)
    run_identity(paths.warehouse_path(), paths.vault_path(), paths.sleds_home())
    build_record_ages(paths.warehouse_path(), paths.vault_path())
    dbt("build")
