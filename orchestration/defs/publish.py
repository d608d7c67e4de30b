"""Publish stage: summary tables from the marts, suppressed together, audited by an
independent LP audit against every earlier publication, written only if it passes."""

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.defs.quality import PUBLIC_SUMMARIES, release_gates
from orchestration.lib import paths
from orchestration.lib.agreements.registry import clause_tags
from orchestration.lib.publish.release import PUBLIC_CLAUSES, PublicationBlocked
from orchestration.lib.publish.stage import publish_public
from orchestration.lib.publish.summaries import upstream_relations

PUBLIC_KEY = PUBLIC_SUMMARIES


@dg.asset(
    key=PUBLIC_KEY,
    # the seed rows and their dbt models (publish.pub_<table_id>); the quality re-checks and
    # reconciliations too: their blocking checks hold the publication back
    deps=[dg.AssetKey(list(relation)) for relation in upstream_relations()] + release_gates(PUBLIC_SUMMARIES),
    group_name="publish",
    automation_condition=EAGER,
    pool=WAREHOUSE_POOL,
    owners=["team:governance-committee"],
    tags={"audience": "public", **clause_tags(PUBLIC_CLAUSES)},
    description="Public summary tables (seeds/publish_tables.csv) suppressed under their policy "
    "(seeds/suppression_policies.csv), audited with linear programming against every earlier publication; "
    "written to SLEDS_HOME/releases/public only when no cell is disclosed.",
)
def public_summaries(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    try:
        report = publish_public(run_id=context.run_id, clauses=PUBLIC_CLAUSES, log=context.log.info)
    except PublicationBlocked as exc:
        raise dg.Failure(f"public summaries not published: {exc}") from exc
    pub = report.publication
    return dg.MaterializeResult(
        metadata={
            "disclosure_log_entry": report.disclosure["seq"],
            "cells": sum(pub.tables.values()),
            "tables": dg.MetadataValue.json(pub.tables),
            "suppression_by_reason": dg.MetadataValue.json(pub.suppression),
            "audit": dg.MetadataValue.json(pub.audit),
            "seconds": dg.MetadataValue.json(pub.seconds),
            "folder": str(pub.folder),
        }
    )


@dg.asset_check(asset=PUBLIC_KEY, blocking=True, description="The written release's audit found 0 disclosed cells.")
def public_summaries_audit_clean() -> dg.AssetCheckResult:
    from orchestration.lib.governance.publications import record_for

    audit = record_for(paths.releases_dir() / "public")["audit"]
    return dg.AssetCheckResult(passed=audit["disclosed"] == 0 and audit["passed"], metadata=audit)


defs = dg.Definitions(assets=[public_summaries], asset_checks=[public_summaries_audit_clean])
