"""Data quality: the checks every release and publication waits for.

- each feed's Great Expectations re-check (check `engines_agree` on `raw/<feed>`): GX
  re-runs expectations/<feed>.json on a sample and must find exactly the failures the SQL
  contract engine found; it also leaves GX's own results and the Data Docs;
- each feed's reconciliation (check `loaded_records_reach_the_models` on the feed's first
  model with research IDs): every loaded record has a research ID and reaches that model,
  or is the one duplicate the model keeps once.

Both are blocking: what is downstream of `raw/<feed>` (models, releases, publication) waits
for its re-check, and `release/*` and `publish/*` depend on the reconciled models
(release_gates), so a failed check skips them in the same run: nothing is written, nothing is disclosed, and
the failure's one line names the check and the releases it held back."""

from pathlib import Path

import dagster as dg

from orchestration.defs.automation import EAGER
from orchestration.defs.ingest import ENGINES_AGREE, WAREHOUSE_POOL
from orchestration.lib import paths, storage
from orchestration.lib.contracts import data_docs
from orchestration.lib.contracts.recheck import recheck_feed
from orchestration.lib.reference import FEEDS

POSTSECONDARY_FEEDS = ("ps_enrollment", "ps_awards")
SLEDS_RELEASE = dg.AssetKey(["release", "sleds_release"])
INSTITUTION_MARTS = dg.AssetKey(["release", "institution_marts"])
PUBLIC_SUMMARIES = dg.AssetKey(["publish", "public_summaries"])
# whose records each release holds: it waits for those feeds' checks
RELEASE_FEEDS = {SLEDS_RELEASE: FEEDS, INSTITUTION_MARTS: POSTSECONDARY_FEEDS, PUBLIC_SUMMARIES: FEEDS}

RECONCILED = "loaded_records_reach_the_models"

# each feed's staging view and first model with research IDs, and the natural key on which
# that model keeps one of several reports of the same thing (the record itself for MSDS)
RECONCILED_MODELS = {
    "msds": ("stg_msds__records", "int_msds__records", ("record_token",)),
    "assessment": (
        "stg_assessment__results", "int_assessment__results", ("record_token",),
    ),
    "ps_enrollment": (
        "stg_ps__enrollment", "int_ps__enrollment_identified", ("institution_code", "fiscal_year", "term_season"),
    ),
    "ps_awards": (
        "stg_ps__awards", "int_ps__awards_identified", ("institution_code", "award_type", "award_date", "major_1_cip"),
    ),
}  # fmt: skip


def reconciled_key(feed: str) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", RECONCILED_MODELS[feed][1]])


def release_gates(release: dg.AssetKey) -> list[dg.AssetKey]:
    """The checked models a release depends on, so their blocking checks hold it back (the
    raw assets' re-checks hold back everything downstream of them, releases included)."""
    return [reconciled_key(f) for f in RELEASE_FEEDS[release]]


def blocked_line(check: str, problem: str, feed: str) -> str:
    """The one line a failed gate prints: which check, what it found, which releases wait."""
    held = ", ".join(r.to_user_string() for r, feeds in RELEASE_FEEDS.items() if feed in feeds)
    return f"releases blocked by check {check}: {problem}. Not written, nothing disclosed: {held}"


# ------------------------------------------------------------ the GX re-check


def _recheck_check(feed: str) -> dg.AssetChecksDefinition:
    raw = dg.AssetKey(["raw", feed])

    # a check on the raw asset, blocking: if the two engines disagree, the contract's
    # quarantine decisions are in doubt, so nothing downstream of the feed is built from
    # them in the same run (models, releases, the publication)
    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                ENGINES_AGREE,
                asset=raw,
                blocking=True,
                automation_condition=EAGER,
                description=(
                    f"Great Expectations runs expectations/{feed}.json on a sample of {feed} rows (every quarantined "
                    "row first) and must find exactly the failures the SQL contract engine found; what is "
                    "downstream waits. Reads the vault; writes GX's results (counts only) and the Data Docs."
                ),
            )
        ],
        name=f"{feed}_contract_recheck",
    )
    def _check(context: dg.AssetCheckExecutionContext):
        report = recheck_feed(feed, paths.warehouse_path(), paths.vault_path())
        try:  # GX's own record of the re-check: worth a warning, never a block on what the feed feeds
            docs = _data_docs(context, feed, report)
        except Exception as exc:
            context.log.warning(f"{feed}: Great Expectations results and Data Docs not written: {exc}")
            docs = None
        metadata = {
            "rows_checked": report.rows_checked,
            "quarantined_rows_checked": report.quarantined_rows_checked,
            "gx_failures": report.gx_failures,
            "sql_failures": report.sql_failures,
            "failing_rules": dg.MetadataValue.json(report.statistics),
            **({"data_docs": dg.MetadataValue.path(str(docs))} if docs else {}),
        }
        yield dg.AssetCheckResult(
            asset_key=raw,
            check_name=ENGINES_AGREE,
            passed=report.agree,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
        )
        if not report.agree:
            # rows are named by file and row number only (never a value): see docs/ingest.md
            problem = (
                f"{feed}: Great Expectations and the SQL contract engine disagree on the same rows "
                f"(only GX: {report.only_gx}; only SQL: {report.only_sql}); see docs/ingest.md"
            )
            raise dg.Failure(blocked_line(f"{raw.to_user_string()}:{ENGINES_AGREE}", problem, feed))

    return _check


def _data_docs(context, feed: str, report) -> Path | None:
    """GX's own result of this re-check (counts only) and the rebuilt Data Docs site."""
    if not report.gx_validations:
        context.log.info(f"{feed}: no rows to re-check, Data Docs unchanged")
        return None
    facts = {
        "feed": feed,
        "dagster_run_id": context.run.run_id,
        "rows_checked": report.rows_checked,
        "quarantined_rows_checked": report.quarantined_rows_checked,
        "sample": "every quarantined row up to half the sample, the rest spread over the loaded rows",
        "engines_agree": report.agree,
    }
    result = data_docs.merged(report.gx_validations, facts)
    index = data_docs.publish(feed, result, context.run.run_id, paths.sleds_home() / "reports", paths.data_docs_dir())
    context.log.info(f"{feed}: Great Expectations results written, Data Docs at {index}")
    return index


# ------------------------------------------------------------ the reconciliation


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


LOST_BECAUSE = {
    "without_research_id": "without a research ID",
    "not_staged": "missing from the staging view",
    "not_in_model": "with a research ID but no row in the model",
}


def unreconciled_records(con, feed: str) -> dict[str, int]:
    """Loaded records of `feed` that never reach its first model with research IDs, by why."""
    staging, model, natural_key = RECONCILED_MODELS[feed]
    same = " AND ".join(f"m.{_q(c)} IS NOT DISTINCT FROM s.{_q(c)}" for c in natural_key)
    row = con.execute(
        f"""WITH ids AS (SELECT record_token, research_id FROM identity.record_research_ids WHERE feed = ?),
        staged AS (SELECT s.*, i.research_id FROM staging.{staging} s JOIN ids i USING (record_token))
        SELECT
          (SELECT count(*) FROM raw.{feed} r ANTI JOIN ids USING (record_token)),
          (SELECT count(*) FROM raw.{feed} r ANTI JOIN staging.{staging} USING (record_token)),
          (SELECT count(*) FROM staged s WHERE NOT EXISTS (
              SELECT 1 FROM intermediate.{model} m WHERE m.research_id = s.research_id AND {same}))""",
        [feed],
    ).fetchone()
    return dict(zip(LOST_BECAUSE, row, strict=True))


def _reconciliation_check(feed: str) -> dg.AssetChecksDefinition:
    key = reconciled_key(feed)
    staging, model, _ = RECONCILED_MODELS[feed]

    # one check (one step) per feed: a K-12 record lost holds back what holds K-12 records only
    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                RECONCILED,
                asset=key,
                additional_deps=[dg.AssetKey(["raw", feed]), dg.AssetKey(["staging", staging])],
                blocking=True,
                description=f"Every loaded {feed} record has a research ID and reaches intermediate.{model} "
                "(or is a duplicate that model keeps once); releases wait.",
            )
        ],
        name=f"{feed}_records_reach_the_models",
        pool=WAREHOUSE_POOL,
    )
    def _check():
        with storage.warehouse() as con:
            missing = unreconciled_records(con, feed)
        lost = {why: n for why, n in missing.items() if n}
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=RECONCILED,
            passed=not lost,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=missing,
        )
        if lost:
            counts = ", ".join(f"{n} {LOST_BECAUSE[why]}" for why, n in lost.items())
            problem = f"loaded {feed} records that never reach intermediate.{model}: {counts}"
            raise dg.Failure(blocked_line(f"{key.to_user_string()}:{RECONCILED}", problem, feed))

    return _check


defs = dg.Definitions(
    asset_checks=[_recheck_check(feed) for feed in FEEDS] + [_reconciliation_check(feed) for feed in FEEDS]
)
