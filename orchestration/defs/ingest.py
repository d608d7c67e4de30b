"""Ingest stage: one partitioned asset per feed, landing files -> warehouse raw.* + vault.

Partitions are discovered in the landing folder (`sleds build` registers them;
in the UI, add them or run `sleds build` once). Each materialization validates,
quarantines and replaces one partition atomically (orchestration.lib.ingest).
"""

import warnings
from pathlib import Path

import dagster as dg

from orchestration.lib.ingest.stage import ingest_feed
from orchestration.lib.reference import FEEDS

# DuckDB allows one writer per file: every asset that writes the warehouse or the
# vault runs in this pool, whose limit is 1 (SLEDS_HOME/dagster/dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"
# the Great Expectations re-check of each raw asset (defined in defs/quality.py): it runs
# with what is downstream (the marts job), not in the ingest runs
ENGINES_AGREE = "engines_agree"


def recheck_check_key(feed: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(["raw", feed]), ENGINES_AGREE)


RECHECKS = dg.AssetSelection.checks(*(recheck_check_key(feed) for feed in FEEDS))

_DESCRIPTIONS = {
    "msds": "MSDS K-12 collections as received, one partition per school year x collection "
    "(all SRM submissions of a year together); PII split to the vault, failing rows quarantined.",
    "assessment": "State assessment results as received, one partition per school year x testing window "
    "(one record per student per test event); PII split to the vault, failing rows quarantined.",
    "ps_enrollment": "Postsecondary enrollment as received, one partition per fiscal year x term; "
    "PII split to the vault, failing rows quarantined.",
    "ps_awards": "Postsecondary awards conferred as received, one partition per fiscal year; "
    "PII split to the vault, failing rows quarantined.",
}

# single-run backfills are what we want (one run loads a feed); Dagster marks the
# parameter beta, which is not news a user of `sleds build` needs on every start
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

PARTITIONS = {feed: dg.DynamicPartitionsDefinition(name=f"{feed}_partitions") for feed in FEEDS}


def _logger(context: dg.AssetExecutionContext):
    # one line per partition; `sleds build` prints the lines starting with "partition "
    def log(message: str) -> None:
        (context.log.error if "FAILED" in message else context.log.info)(message)

    return log


class IngestConfig(dg.Config):
    force: bool = False  # reload even if the partition's files are unchanged
    landing: str = ""  # the landing folder (default: SLEDS_LANDING, else the demo's)


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
        # one run covers a range of partitions (Dagster's fixed cost is per run); each
        # partition still commits on its own
        landing = Path(config.landing) if config.landing else None
        report = ingest_feed(feed, context.partition_keys, landing=landing, force=config.force, log=_logger(context))
        if report.failed:
            listing = "; ".join(f"{k}: {v}" for k, v in report.failed.items())
            raise dg.Failure(
                f"{len(report.failed)} {feed} partition(s) could not be loaded (nothing of them was written; "
                f"{len(report.partitions)} others loaded): {listing}"
            )
        totals = {k: report.total(k) for k in ("rows_read", "rows_loaded", "rows_quarantined")}
        yield dg.MaterializeResult(
            metadata={
                **totals,
                "partitions": dg.MetadataValue.json(report.partition_rows()),
                "suite_sha256": report.suite_sha,
            },
        )
        yield dg.AssetCheckResult(
            check_name="row_accounting",
            passed=report.balanced,
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
                **{rule: dg.MetadataValue.int(n) for rule, n in report.failures_by_rule.items()},
            },
        )

    _asset.__name__ = f"raw_{feed}"
    return _asset


ingest_assets = [_ingest_asset(feed) for feed in FEEDS]
ingest_jobs = [
    dg.define_asset_job(f"ingest_{feed}", selection=dg.AssetSelection.assets(dg.AssetKey(["raw", feed])) - RECHECKS)
    for feed in FEEDS
]
defs = dg.Definitions(assets=ingest_assets, jobs=ingest_jobs)
