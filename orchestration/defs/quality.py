"""Data quality: Great Expectations re-checks each feed's ingest decisions."""

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.lib import paths
from orchestration.lib.contracts.recheck import recheck_feed
from orchestration.lib.reference import FEEDS


def _recheck_asset(feed: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["quality", f"{feed}_contract_recheck"]),
        deps=[dg.AssetKey(["raw", feed])],
        group_name="quality",
        automation_condition=EAGER,
        description=(
            f"Great Expectations runs expectations/{feed}.json on a sample of {feed} rows (every quarantined "
            "row first) and must find exactly the failures the SQL contract engine found. Reads the vault."
        ),
        owners=["team:data-engineering"],
        tags={"pii": "reads-vault"},
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        report = recheck_feed(feed, paths.warehouse_path(), paths.vault_path())
        metadata = {
            "rows_checked": report.rows_checked,
            "quarantined_rows_checked": report.quarantined_rows_checked,
            "gx_failures": report.gx_failures,
            "sql_failures": report.sql_failures,
            "failing_rules": dg.MetadataValue.json(report.statistics),
        }
        if not report.agree:
            raise dg.Failure(
                f"{feed}: Great Expectations and the SQL contract engine disagree on the same rows "
                f"(only GX: {report.only_gx}; only SQL: {report.only_sql}); see docs/ingest.md",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    _asset.__name__ = f"{feed}_contract_recheck"
    return _asset


defs = dg.Definitions(assets=[_recheck_asset(feed) for feed in FEEDS])
