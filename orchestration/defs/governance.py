"""Governance stage: the agreement registry (validated, with statuses) and the
destruction purges it orders. Thin: the logic is in orchestration/lib/agreements."""

from pathlib import Path

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.lib import paths
from orchestration.lib.agreements.policy import clauses_for
from orchestration.lib.agreements.purge import purge_destroyed
from orchestration.lib.agreements.registry import AgreementRegistryError, clause_tags, load_registry
from orchestration.lib.agreements.store import store_registry

REGISTRY_KEYS = [dg.AssetKey(["governance", "agreements"]), dg.AssetKey(["governance", "agreement_restrictions"])]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            REGISTRY_KEYS[0],
            group_name="governance",
            automation_condition=EAGER,
            owners=["team:governance-committee"],
            tags=clause_tags(clauses_for("agreement_registry")),
            description="Data sharing agreements (seeds/agreements.csv), validated, with each agreement's status "
            "(active, expired, cancelled, destroyed) on the build's as-of day.",
        ),
        dg.AssetSpec(
            REGISTRY_KEYS[1],
            group_name="governance",
            automation_condition=EAGER,
            owners=["team:governance-committee"],
            tags=clause_tags(clauses_for("agreement_restrictions")),
            description="Elements withheld from an audience for a range of academic years "
            "(seeds/agreement_restrictions.csv).",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def agreement_registry(context: dg.AssetExecutionContext):
    try:
        registry = load_registry()
    except AgreementRegistryError as exc:
        raise dg.Failure(str(exc)) from exc
    counts = store_registry(registry, paths.warehouse_path())
    context.log.info(f"agreement registry from {registry.source}: {counts} as of {registry.as_of}")
    yield dg.MaterializeResult(
        asset_key=REGISTRY_KEYS[0],
        metadata={"agreements": len(registry.agreements), "status": dg.MetadataValue.json(counts),
                  "as_of": str(registry.as_of), "source": str(registry.source)},
    )  # fmt: skip
    yield dg.MaterializeResult(asset_key=REGISTRY_KEYS[1], metadata={"restrictions": len(registry.restrictions)})


class PurgeConfig(dg.Config):
    landing: str = ""  # where to look for landing files of purged institutions (default: SLEDS_LANDING)


@dg.asset(
    key=dg.AssetKey(["governance", "purges"]),
    deps=[dg.AssetKey(["raw", "ps_enrollment"]), dg.AssetKey(["raw", "ps_awards"]), REGISTRY_KEYS[0]],
    group_name="governance",
    automation_condition=EAGER,
    pool=WAREHOUSE_POOL,
    owners=["team:governance-committee"],
    tags={**clause_tags(clauses_for("purges")), "pii": "writes-vault"},
    description="Clause 21: deletes every record of an institution whose destruction date has come from the "
    "warehouse and the vault (releases follow on the next export) and logs it in governance.purge_log.",
)
def purges(context: dg.AssetExecutionContext, config: PurgeConfig) -> dg.MaterializeResult:
    registry = load_registry()
    landing = Path(config.landing) if config.landing else paths.landing_dir()
    report = purge_destroyed(registry, paths.warehouse_path(), paths.vault_path(), landing)
    if report.landing_files_remaining:
        context.log.warning(
            f"{len(report.landing_files_remaining)} landing files of purged institutions remain; remove them "
            "from the landing folder (a reload would be purged again)"
        )
    return dg.MaterializeResult(
        metadata={
            "institutions_purged": dg.MetadataValue.json(report.institutions),
            "rows_deleted": dg.MetadataValue.json(report.rows_deleted),
            "landing_files_remaining": len(report.landing_files_remaining),
        }
    )


defs = dg.Definitions(assets=[agreement_registry, purges])
