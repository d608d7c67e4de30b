"""Identity stage: vault identities -> persons -> research IDs (orchestration.lib.identity)."""

import dagster as dg

from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.lib import paths
from orchestration.lib.identity.accuracy import compute_accuracy, ground_truth_dir, headline, write_report
from orchestration.lib.identity.pipeline import run_identity


class IdentityConfig(dg.Config):
    retrain: bool = False  # train a new splink model even if the kept one is still current
    rescore: bool = False  # score every blocked pair again (not only pairs touching new or changed entities)


@dg.asset(
    key=dg.AssetKey(["identity", "research_ids"]),
    # after the destruction purges: a destroyed institution's records never get linked
    deps=[
        dg.AssetKey(["raw", "msds"]),
        dg.AssetKey(["raw", "ps_enrollment"]),
        dg.AssetKey(["raw", "ps_awards"]),
        dg.AssetKey(["governance", "purges"]),
    ],
    group_name="identity",
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
    report = run_identity(
        paths.warehouse_path(),
        paths.vault_path(),
        paths.sleds_home(),
        retrain=config.retrain,
        rescore=config.rescore,
        progress=context.log.info,
    )
    run = report.as_dict()
    accuracy = compute_accuracy(paths.warehouse_path(), paths.vault_path(), ground_truth_dir())
    path = write_report(run, accuracy)
    metadata = {k: v for k, v in headline(run, accuracy).items() if v is not None}
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "cluster_size_distribution": dg.MetadataValue.json(report.cluster_sizes),
            "timings_seconds": dg.MetadataValue.json(report.timings),
            "report": dg.MetadataValue.path(str(path)),
        }
    )


defs = dg.Definitions(assets=[research_ids])
