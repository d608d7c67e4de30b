"""Ingest stage: one partitioned asset per feed, landing files -> warehouse raw.* + vault.

Partitions are discovered in the landing folder (`sleds build` registers them;
in the UI, add them or run `sleds build` once). Each materialization validates,
quarantines and replaces one partition atomically (orchestration.lib.ingest).
"""

import warnings

import dagster as dg

from orchestration.lib import paths
from orchestration.lib.ingest.landing import LandingError, discover
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

# single-run backfills are what we want (one run loads a feed); Dagster marks the
# parameter beta, which is not news a user of `sleds build` needs on every start
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

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
        backfill_policy=dg.BackfillPolicy.single_run(),
        tags={"pii": "split-to-vault"},
        check_specs=[
            dg.AssetCheckSpec("row_accounting", asset=key, description="rows read = rows loaded + quarantined"),
            dg.AssetCheckSpec("ingest_contract", asset=key, description=f"every row passes expectations/{feed}.json"),
        ],
    )
    def _asset(context: dg.AssetExecutionContext, config: IngestConfig):
        # one run may cover a range of partitions (sleds build loads a feed in one run:
        # Dagster's fixed cost is per run); each partition still commits on its own
        landing = paths.landing_dir()
        available = group_by_partition(discover(landing, feed))
        reports, failed = [], {}
        for partition in context.partition_keys:
            files = available.get(partition)
            if not files:
                failed[partition] = f"no {feed} files for it under {landing / feed} (docs/feeds.md)"
                continue
            try:
                report = ingest_partition(
                    feed,
                    partition,
                    files,
                    paths.warehouse_path(),
                    paths.vault_path(),
                    paths.validation_dir(),
                    force=config.force,
                )
            except LandingError as exc:
                failed[partition] = str(exc)
                context.log.error(f"partition {partition}: FAILED: {exc}")
                continue
            reports.append(report)
            context.log.info(
                f"partition {partition}: {report.rows_read:,} read, {report.rows_loaded:,} loaded, "
                f"{report.rows_quarantined:,} quarantined ({report.change}) in {report.seconds:.1f}s"
            )
        if failed:
            listing = "; ".join(f"{k}: {v}" for k, v in failed.items())
            raise dg.Failure(
                f"{len(failed)} {feed} partition(s) could not be loaded (nothing of them was written; "
                f"{len(reports)} others loaded): {listing}"
            )
        totals = {k: sum(getattr(r, k) for r in reports) for k in ("rows_read", "rows_loaded", "rows_quarantined")}
        failures: dict[str, int] = {}
        for r in reports:
            for rule, n in r.failures_by_rule.items():
                failures[rule] = failures.get(rule, 0) + n
        yield dg.MaterializeResult(
            metadata={
                **totals,
                "partitions": dg.MetadataValue.json(
                    [
                        {
                            "partition": r.partition_key,
                            "rows_read": r.rows_read,
                            "rows_loaded": r.rows_loaded,
                            "rows_quarantined": r.rows_quarantined,
                            "change": r.change,
                            "batch_id": r.batch_id,
                            "files": r.files,
                            "validation_result": r.validation_file,
                        }
                        for r in reports
                    ]
                ),
                "suite_sha256": reports[0].suite_sha if reports else "",
            },
        )
        yield dg.AssetCheckResult(
            check_name="row_accounting",
            passed=all(r.balanced for r in reports),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "read": totals["rows_read"],
                "loaded": totals["rows_loaded"],
                "quarantined": totals["rows_quarantined"],
            },
        )
        yield dg.AssetCheckResult(
            check_name="ingest_contract",
            passed=totals["rows_quarantined"] == 0,
            severity=dg.AssetCheckSeverity.WARN,  # quarantined rows are kept, not lost: warn
            metadata={
                "quarantined": totals["rows_quarantined"],
                **{rule: dg.MetadataValue.int(n) for rule, n in failures.items()},
            },
        )

    _asset.__name__ = f"raw_{feed}"
    return _asset


ingest_assets = [_ingest_asset(feed) for feed in FEEDS]
ingest_jobs = [
    dg.define_asset_job(f"ingest_{feed}", selection=dg.AssetSelection.assets(dg.AssetKey(["raw", feed])))
    for feed in FEEDS
]
defs = dg.Definitions(assets=ingest_assets, jobs=ingest_jobs)
