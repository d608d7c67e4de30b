"""Vault-derived, non-identifying attributes the marts need (no PII crosses)."""

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.lib import paths
from orchestration.lib.derived.ages import build_record_ages


@dg.asset(
    key=dg.AssetKey(["derived", "msds_record_ages"]),
    deps=[dg.AssetKey(["raw", "msds"]), dg.AssetKey(["governance", "purges"])],
    group_name="identity",
    automation_condition=EAGER,
    pool=WAREHOUSE_POOL,
    owners=["team:data-engineering"],
    tags={"pii": "reads-vault"},
    description=(
        "Age in whole years on December 1 of the school year for each MSDS record (ungraded students' computed "
        "grade). Computed from the birthdate in the vault; only the age reaches the warehouse."
    ),
)
def msds_record_ages() -> dg.MaterializeResult:
    report = build_record_ages(paths.warehouse_path(), paths.vault_path())
    return dg.MaterializeResult(metadata={"records": report.records, "records_with_age": report.with_age})


defs = dg.Definitions(assets=[msds_record_ages])
