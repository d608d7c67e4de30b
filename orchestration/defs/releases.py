"""Releases: blocking agreement checks on the built SLEDS release tables, then the
export of each audience's release to its own files (only if every check passed)."""

import dagster as dg
import duckdb

from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.lib import paths
from orchestration.lib.agreements.checks import RULES, SLEDS_SCHEMA, check_sleds_release, release_allowlist
from orchestration.lib.agreements.policy import clauses_for, rule_text
from orchestration.lib.agreements.registry import clause_tags, load_registry
from orchestration.lib.dbt_prepare import ensure_manifest
from orchestration.lib.governance.disclosure_log import append_disclosure
from orchestration.lib.releases.export import ReleaseError, export_institution_marts, export_sleds_release

SLEDS_TABLES = sorted(release_allowlist(ensure_manifest(), SLEDS_SCHEMA))
INSTITUTION_TABLES = ["rel_institution__ps_awards", "rel_institution__ps_enrollment"]
SLEDS_CLAUSES = clauses_for("sleds")
INSTITUTION_CLAUSES = clauses_for("institution_mart")


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey([SLEDS_SCHEMA, table])


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(rule, asset=_key(table), blocking=True, description=rule_text(rule))
        for table in SLEDS_TABLES
        for rule in RULES
    ],
    pool=WAREHOUSE_POOL,
)
def sleds_release_agreement_checks():
    allowlist = release_allowlist(ensure_manifest(), SLEDS_SCHEMA)
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        for table in SLEDS_TABLES:
            for result in check_sleds_release(con, allowlist, only=[table]):
                yield dg.AssetCheckResult(
                    asset_key=_key(table),
                    check_name=result.name,
                    passed=result.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"clause": result.clause, "violations": result.violations, "detail": result.detail},
                )
    finally:
        con.close()


@dg.asset(
    key=dg.AssetKey(["release", "sleds_release"]),
    deps=[_key(t) for t in SLEDS_TABLES],
    group_name="release",
    pool=WAREHOUSE_POOL,
    owners=["team:governance-committee"],
    tags={"audience": "sleds", **clause_tags(SLEDS_CLAUSES)},
    description="The SLEDS release written to SLEDS_HOME/releases/sleds (DuckDB + Parquet + manifest), only "
    "after every agreement check passed; re-checked here before writing.",
)
def sleds_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        failed = [
            r for r in check_sleds_release(con, release_allowlist(ensure_manifest(), SLEDS_SCHEMA)) if not r.passed
        ]
    finally:
        con.close()
    if failed:
        raise dg.Failure(
            "SLEDS release not published: " + "; ".join(f"{r.name} (clause {r.clause}): {r.detail}" for r in failed)
        )
    registry = load_registry()
    manifest = export_sleds_release(
        paths.warehouse_path(), paths.releases_dir(), run_id=context.run_id, as_of=registry.as_of,
        clauses=SLEDS_CLAUSES,
    )  # fmt: skip
    institutions = [a.institution_code for a in registry.agreements if a.agreement_id in set(manifest.agreements)]
    entry = append_disclosure(
        kind="release", recipient="SLEDS", release=manifest.release, manifest=manifest.as_dict(),
        clauses=manifest.clauses, institutions=institutions, run_id=context.run_id,
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "disclosure_log_entry": entry["seq"],
            "folder": str(manifest.folder),
            "rows": dg.MetadataValue.json(manifest.tables),
            "agreements": len(manifest.agreements),
            "files": dg.MetadataValue.json(manifest.files),
        }
    )


@dg.asset(
    key=dg.AssetKey(["release", "institution_marts"]),
    deps=[dg.AssetKey(["release_institution", t]) for t in INSTITUTION_TABLES],
    group_name="release",
    pool=WAREHOUSE_POOL,
    owners=["team:governance-committee"],
    tags={"audience": "institutions", **clause_tags(INSTITUTION_CLAUSES)},
    description="One data mart per institution with an active agreement, holding only its own students "
    "(SLEDS_HOME/releases/institutions/<code>); verified to hold no other institution's rows before it is swapped in.",
)
def institution_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    registry = load_registry()
    try:
        manifests, skipped = export_institution_marts(
            paths.warehouse_path(), paths.releases_dir(), run_id=context.run_id, as_of=registry.as_of,
            clauses=INSTITUTION_CLAUSES,
        )  # fmt: skip
    except ReleaseError as exc:
        raise dg.Failure(str(exc)) from exc
    if skipped:
        context.log.warning(f"no mart for {len(skipped)} institution(s): {skipped}")
    for manifest in manifests:
        code = manifest.audience.split(":", 1)[1]
        append_disclosure(
            kind="release", recipient=f"institution {code}", release=manifest.release, manifest=manifest.as_dict(),
            clauses=manifest.clauses, institutions=[code], run_id=context.run_id,
        )  # fmt: skip
    return dg.MaterializeResult(metadata={"institutions": len(manifests), "skipped": dg.MetadataValue.json(skipped)})


defs = dg.Definitions(assets=[sleds_release, institution_marts], asset_checks=[sleds_release_agreement_checks])
