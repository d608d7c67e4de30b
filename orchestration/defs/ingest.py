"""Ingest stage: one partitioned asset per feed, landing files -> warehouse raw.* + vault.

Partitions are discovered in the landing folder (`sleds build` registers them;
in the UI, add them or run `sleds build` once). Each materialization validates,
quarantines and replaces one partition atomically (orchestration.lib.ingest).
"""

import dagster as dg

from orchestration.lib import paths
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.load import ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition
from orchestration.lib.reference import FEEDS

# DuckDB allows one writer per file: every asset that writes the warehouse or the
# vault runs in this pool, whose limit is 1 (SLEDS_HOME/dagster/dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"

_DESCRIPTIONS = {
    "msds": "MSDS K-12 collections as received, one partition per school year x collection "
    "(all SRM submissions of a year together); PII split to the vault, failing rows quarantined.",
    "ps_enrollment": "Postsecondary enrollment as received, one partition per fiscal year x term; "
    "PII split to the vault, failing rows quarantined.",
    "ps_awards": "Postsecondary awards conferred as received, one partition per fiscal year; "
    "PII split to the vault, failing rows quarantined.",
}

PARTITIONS = {feed: dg.DynamicPartitionsDefinition(name=f"{feed}_partitions") for feed in FEEDS}


class IngestConfig(dg.Config):
    force: bool = False  # reload even if the partition's files are unchanged


def _ingest_asset(feed: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", feed])

    @dg.asset(
        key=key,
        group_name="ingest",
        description=_DESCRIPTIONS[feed],
        owners=["team:data-engineering"],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        partitions_def=PARTITIONS[feed],
        tags={"pii": "split-to-vault"},
        check_specs=[
            dg.AssetCheckSpec("row_accounting", asset=key, description="rows read = rows loaded + quarantined"),
            dg.AssetCheckSpec("ingest_contract", asset=key, description=f"every row passes expectations/{feed}.json"),
        ],
    )
    def _asset(context: dg.AssetExecutionContext, config: IngestConfig):
        landing = paths.landing_dir()
        partition = context.partition_key
        files = group_by_partition(discover(landing, feed)).get(partition)
        if not files:
            raise dg.Failure(f"no {feed} files for partition {partition} under {landing / feed} (docs/feeds.md)")
        report = ingest_partition(
            feed,
            partition,
            files,
            paths.warehouse_path(),
            paths.vault_path(),
            paths.validation_dir(),
            force=config.force,
            progress=context.log.info,
        )
        failures = {rule: dg.MetadataValue.int(n) for rule, n in report.failures_by_rule.items()}
        yield dg.MaterializeResult(
            metadata={
                "rows_read": report.rows_read,
                "rows_loaded": report.rows_loaded,
                "rows_quarantined": report.rows_quarantined,
                "change": report.change,
                "skipped_unchanged": report.skipped,
                "batch_id": report.batch_id,
                "suite_sha256": report.suite_sha,
                "files": dg.MetadataValue.json(report.files),
                "validation_result": dg.MetadataValue.path(report.validation_file or ""),
            },
        )
        yield dg.AssetCheckResult(
            check_name="row_accounting",
            passed=report.balanced,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"read": report.rows_read, "loaded": report.rows_loaded, "quarantined": report.rows_quarantined},
        )
        yield dg.AssetCheckResult(
            check_name="ingest_contract",
            passed=report.rows_quarantined == 0,
            severity=dg.AssetCheckSeverity.WARN,  # quarantined rows are kept, not lost: warn
            metadata={"quarantined": report.rows_quarantined, **failures},
        )

    _asset.__name__ = f"raw_{feed}"
    return _asset


ingest_assets = [_ingest_asset(feed) for feed in FEEDS]
ingest_jobs = [
    dg.define_asset_job(f"ingest_{feed}", selection=dg.AssetSelection.assets(dg.AssetKey(["raw", feed])))
    for feed in FEEDS
]
defs = dg.Definitions(assets=ingest_assets, jobs=ingest_jobs)
