"""Ingest stage: landing-folder feeds into the warehouse (raw.*) and the vault."""

import dagster as dg

from orchestration.lib import paths
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.load import load_feed
from orchestration.lib.reference import FEEDS

# DuckDB allows one writer per file: every asset that writes the warehouse or the
# vault runs in this pool, whose limit is 1 (dagster.yaml / sleds build).
WAREHOUSE_POOL = "duckdb_warehouse"

_DESCRIPTIONS = {
    "msds": "MSDS K-12 collections (Fall, Spring, End of Year, SRM) as received; PII split to the vault.",
    "ps_enrollment": "Postsecondary enrollment per student x institution x term as received; PII split to the vault.",
    "ps_awards": "Postsecondary awards conferred as received; PII split to the vault.",
}


def _ingest_asset(feed: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["raw", feed]),
        group_name="ingest",
        description=_DESCRIPTIONS[feed],
        owners=["team:data-engineering"],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        tags={"pii": "split-to-vault"},
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        landing = paths.landing_dir()
        files = discover(landing, feed)
        if not files:
            raise dg.Failure(f"no {feed} files under {landing / feed}; see docs/feeds.md for the layout")
        result = load_feed(feed, files, paths.warehouse_path(), paths.vault_path(), progress=context.log.info)
        return dg.MaterializeResult(
            metadata={
                "files": result.files,
                "rows": result.rows,
                "landing": dg.MetadataValue.path(str(landing / feed)),
            }
        )

    _asset.__name__ = f"raw_{feed}"
    return _asset


ingest_assets = [_ingest_asset(feed) for feed in FEEDS]
defs = dg.Definitions(assets=ingest_assets)
