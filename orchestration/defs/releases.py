"""Releases: blocking agreement checks on the built release tables (SLEDS and the
institution marts), then the export of each audience's release to its own files (only
if every check passed)."""

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.defs.quality import INSTITUTION_MARTS, SLEDS_RELEASE, release_gates
from orchestration.lib.agreements.checks import (
    INSTITUTION_RULES,
    INSTITUTION_SCHEMA,
    RULES,
    SLEDS_SCHEMA,
    release_allowlist,
)
from orchestration.lib.agreements.policy import clauses_for, rule_text
from orchestration.lib.agreements.registry import clause_tags
from orchestration.lib.dbt_prepare import ensure_manifest
from orchestration.lib.releases.content import describe_changes
from orchestration.lib.releases.export import ReleaseError
from orchestration.lib.releases.stage import (
    ReleaseBlocked,
    check_each_institution_table,
    check_each_release_table,
    release_institution_marts,
    release_sleds,
)

SLEDS_TABLES = sorted(release_allowlist(ensure_manifest(), SLEDS_SCHEMA))
INSTITUTION_TABLES = sorted(release_allowlist(ensure_manifest(), INSTITUTION_SCHEMA))
SLEDS_CLAUSES = clauses_for("sleds")
INSTITUTION_CLAUSES = clauses_for("institution_mart")


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey([SLEDS_SCHEMA, table])


def _institution_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([INSTITUTION_SCHEMA, table])


def _agreement_checks(name: str, tables: list[str], rules: tuple[str, ...], key, check_each, release: dg.AssetKey):
    """Blocking asset checks, one per rule and release table: a failing one holds back the
    release that reads the table (and the export re-checks before it writes)."""

    @dg.multi_asset_check(
        name=name,
        specs=[
            dg.AssetCheckSpec(rule, asset=key(table), blocking=True, description=rule_text(rule))
            for table in tables
            for rule in rules
        ],
        pool=WAREHOUSE_POOL,
        can_subset=True,  # a build that rebuilt only some release tables checks only those
    )
    def checks(context: dg.AssetCheckExecutionContext):
        selected = context.selected_asset_check_keys
        chosen = sorted({k.asset_key.path[-1] for k in selected})
        failed = []
        for table, results in check_each(chosen).items():
            for result in results:
                if dg.AssetCheckKey(key(table), result.name) not in selected:
                    continue
                yield dg.AssetCheckResult(
                    asset_key=key(table),
                    check_name=result.name,
                    passed=result.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"clause": result.clause, "violations": result.violations, "detail": result.detail},
                )
                if not result.passed:
                    failed.append(f"{key(table).to_user_string()}:{result.name} (clause {result.clause})")
        if failed:  # one line that says which checks held which release back (Dagster's own names neither)
            raise dg.Failure(
                f"release blocked by check(s) {', '.join(failed)}. Not written, nothing disclosed: "
                f"{release.to_user_string()}"
            )

    return checks


sleds_release_agreement_checks = _agreement_checks(
    "sleds_release_agreement_checks", SLEDS_TABLES, RULES, _key, check_each_release_table, SLEDS_RELEASE
)
# the rules that concern a mart handed back to its own institution (checks.INSTITUTION_CHECKS says which, and why)
institution_release_agreement_checks = _agreement_checks(
    "institution_release_agreement_checks", INSTITUTION_TABLES, INSTITUTION_RULES, _institution_key,
    check_each_institution_table, INSTITUTION_MARTS,
)  # fmt: skip


@dg.asset(
    key=SLEDS_RELEASE,
    # the quality re-checks and reconciliations too: their blocking checks hold it back
    deps=[_key(t) for t in SLEDS_TABLES] + release_gates(SLEDS_RELEASE),
    group_name="release",
    automation_condition=EAGER,
    pool=WAREHOUSE_POOL,
    owners=["team:governance-committee"],
    tags={"audience": "sleds", **clause_tags(SLEDS_CLAUSES)},
    description="The SLEDS release written to SLEDS_HOME/releases/sleds (DuckDB + Parquet + manifest), only "
    "after every agreement check passed; re-checked here before writing.",
)
def sleds_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    try:
        report = release_sleds(run_id=context.run.run_id, clauses=SLEDS_CLAUSES)
    except ReleaseBlocked as exc:
        raise dg.Failure(str(exc)) from exc
    manifest = report.manifest
    if report.unchanged:  # `sleds build` prints this line
        context.log.info(f"release unchanged: sleds_release (disclosure log entry {report.disclosure['seq']})")
    else:
        context.log.info(f"release written: sleds_release, disclosure log entry {report.disclosure['seq']} "
                         f"({describe_changes(report.disclosure.get('changes'))})")  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "disclosure_log_entry": report.disclosure["seq"],
            "unchanged": report.unchanged,
            "content_sha256": manifest.content_sha256,
            "folder": str(manifest.folder),
            "rows": dg.MetadataValue.json(manifest.tables),
            "agreements": len(manifest.agreements),
            "files": dg.MetadataValue.json(manifest.files),
        }
    )


@dg.asset(
    key=INSTITUTION_MARTS,
    deps=[_institution_key(t) for t in INSTITUTION_TABLES] + release_gates(INSTITUTION_MARTS),
    group_name="release",
    automation_condition=EAGER,
    pool=WAREHOUSE_POOL,
    owners=["team:governance-committee"],
    tags={"audience": "institutions", **clause_tags(INSTITUTION_CLAUSES)},
    description="One data mart per institution with an active agreement, holding only its own students "
    "(SLEDS_HOME/releases/institutions/<code>); verified to hold no other institution's rows before it is swapped in.",
)
def institution_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    try:
        report = release_institution_marts(run_id=context.run.run_id, clauses=INSTITUTION_CLAUSES)
    except (ReleaseBlocked, ReleaseError) as exc:
        raise dg.Failure(str(exc)) from exc
    if report.skipped:
        context.log.warning(f"no mart for {len(report.skipped)} institution(s): {report.skipped}")
    if report.unchanged:  # `sleds build` prints this line
        context.log.info(
            f"release unchanged: {len(report.unchanged)} of {len(report.manifests)} institution marts "
            "(already disclosed; not written again)"
        )
    for entry in report.disclosures:
        if entry["recipient"].split(" ", 1)[-1] not in report.unchanged:
            context.log.info(f"release written: mart for {entry['recipient']}, disclosure log entry {entry['seq']} "
                             f"({describe_changes(entry.get('changes'))})")  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "institutions": len(report.manifests),
            "unchanged": dg.MetadataValue.json(report.unchanged),
            "disclosure_log_entries": dg.MetadataValue.json([d["seq"] for d in report.disclosures]),
            "skipped": dg.MetadataValue.json(report.skipped),
        }
    )


defs = dg.Definitions(
    assets=[sleds_release, institution_marts],
    asset_checks=[sleds_release_agreement_checks, institution_release_agreement_checks],
)
