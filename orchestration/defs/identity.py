"""Identity stage: vault identities -> persons -> research IDs (orchestration.lib.identity)."""

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.lib.identity.stage import link_identities


class IdentityConfig(dg.Config):
    retrain: bool = False  # train a new splink model even if the kept one is still current
    rescore: bool = False  # score every blocked pair again (not only pairs touching new or changed entities)


@dg.asset(
    key=dg.AssetKey(["identity", "research_ids"]),
    # after the destruction purges: a destroyed institution's records never get linked
    deps=[
        dg.AssetKey(["raw", "msds"]),
        dg.AssetKey(["raw", "assessment"]),
        dg.AssetKey(["raw", "ps_enrollment"]),
        dg.AssetKey(["raw", "ps_awards"]),
        dg.AssetKey(["governance", "purges"]),
    ],
    group_name="identity",
    automation_condition=EAGER,
    pool=WAREHOUSE_POOL,
    owners=["team:data-engineering"],
    kinds={"duckdb", "splink"},
    tags={"pii": "reads-vault"},
    description=(
        "Links every loaded K-12 and postsecondary record to a person (deterministic MARSS and SSN passes, then "
        "splink on source entities, clustering that never joins two K-12 students) and gives each person a random "
        "research ID that survives reloads. Writes identity.record_research_ids and identity.persons; the crosswalk "
        "stays in the vault. Metadata: the linkage accuracy report (docs/identity.md)."
    ),
)
def research_ids(context: dg.AssetExecutionContext, config: IdentityConfig) -> dg.MaterializeResult:
    report = link_identities(retrain=config.retrain, rescore=config.rescore, progress=context.log.info)
    return dg.MaterializeResult(
        metadata={
            **report.headline,
            "cluster_size_distribution": dg.MetadataValue.json(report.run.cluster_sizes),
            "timings_seconds": dg.MetadataValue.json(report.run.timings),
            "report": dg.MetadataValue.path(str(report.report_path)),
        }
    )


defs = dg.Definitions(assets=[research_ids])
