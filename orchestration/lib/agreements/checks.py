"""Recompute every agreement rule on a built release. Each check reports the clause its
rule enforces (seeds/agreement_rules.csv); a failing check stops publication (Dagster
blocking asset checks, and the export refuses to write). Pure SQL over the release
tables and the registry tables, independent of the SQL that built the release; the
columns of each restricted element come from seeds/feed_layouts.csv."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.agreements import policy
from orchestration.lib.reference import FEEDS, feed_layout

SLEDS_SCHEMA = "release_sleds"
INSTITUTION_SCHEMA = "release_institution"
# never in any release: direct identifiers and record-level lineage back to the vault
FORBIDDEN_COLUMNS = sorted(
    {c.name for feed in FEEDS for c in feed_layout(feed) if c.pii} | {"record_token", "source_file", "source_row"}
)


@dataclass
class RuleCheck:
    name: str
    clause: str
    passed: bool
    violations: int
    detail: str


def _result(rule: str, violations: int, detail: str) -> RuleCheck:
    return RuleCheck(rule, policy.rule_clause(rule), violations == 0, violations, detail)


def release_allowlist(manifest_path: Path, schema: str) -> dict[str, list[str]]:
    """The contract of every release model in `schema`: table -> allowed columns."""
    manifest = json.loads(manifest_path.read_text())
    out: dict[str, list[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["schema"] == schema:
            if not node["config"].get("contract", {}).get("enforced"):
                raise ValueError(f"release model {node['name']} has no enforced contract: it needs an allowlist")
            out[node["name"]] = list(node["columns"])
    return out


def _tables(con, schema: str, only: list[str] | None = None) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema]
        ).fetchall()
        if only is None or r[0] in only
    ]


def _columns(con, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _count(con, sql: str, params: list | None = None) -> int:
    return int(con.execute(sql, params or []).fetchall()[0][0])


def check_columns(con, schema: str, allowlist: dict[str, list[str]], only: list[str] | None = None) -> RuleCheck:
    problems = []
    for table in _tables(con, schema, only):
        cols = _columns(con, schema, table)
        allowed = allowlist.get(table)
        if allowed is None:
            problems.append(f"{table}: not a release model (no allowlist)")
            continue
        extra = [c for c in cols if c not in allowed]
        if extra:
            problems.append(f"{table}: columns outside the allowlist {extra}")
        forbidden = [c for c in cols if c in FORBIDDEN_COLUMNS]
        if forbidden:
            problems.append(f"{table}: identifying columns {forbidden}")
    return _result(
        "release_columns_match_allowlist", len(problems),
        "; ".join(problems) or "every release table has exactly its contract's columns, none identifying",
    )  # fmt: skip


def check_restricted_elements(con, schema: str, audience: str, only: list[str] | None = None) -> RuleCheck:
    violations, where = 0, []
    restrictions = con.execute(
        "SELECT agreement_id, element, academic_year_from, academic_year_to FROM governance.agreement_restrictions "
        "WHERE audience = ?",
        [audience],
    ).fetchall()
    for table in _tables(con, schema, only):
        cols = set(_columns(con, schema, table))
        if not {"agreement_id", "academic_year"} <= cols:
            continue
        for element, element_cols in policy.restricted_columns().items():
            present = [c for c in element_cols if c in cols]
            if not present:
                continue
            any_value = " OR ".join(f"t.{c} IS NOT NULL" for c in present)
            n = _count(
                con,
                f"SELECT count(*) FROM {schema}.{table} t JOIN governance.agreement_restrictions r "
                "ON r.agreement_id = t.agreement_id AND r.element = ? AND r.audience = ? "
                f"AND t.academic_year BETWEEN r.academic_year_from AND r.academic_year_to WHERE {any_value}",
                [element, audience],
            )
            if n:
                where.append(f"{table}.{element}: {n} rows")
            violations += n
    return _result(
        "release_restricted_elements_withheld", violations,
        "; ".join(where) or f"{len(restrictions)} restrictions hold: no restricted value in a restricted year",
    )  # fmt: skip


def check_gender_identity_permission(con, schema: str, only: list[str] | None = None) -> RuleCheck:
    violations, where = 0, []
    for table in _tables(con, schema, only):
        cols = set(_columns(con, schema, table))
        present = [c for c in policy.restricted_columns()["gender_identity"] if c in cols]
        if not present or "agreement_id" not in cols:
            continue
        any_value = " OR ".join(f"t.{c} IS NOT NULL" for c in present)
        n = _count(
            con,
            f"SELECT count(*) FROM {schema}.{table} t LEFT JOIN governance.agreements a USING (agreement_id) "
            f"WHERE ({any_value}) AND NOT coalesce(a.permit_gender_identity_institution_level, false)",
        )
        if n:
            where.append(f"{table}: {n} rows")
        violations += n
    return _result(
        "release_gender_identity_institution_permitted", violations,
        "; ".join(where) or "gender identity appears only where the institution permits it",
    )  # fmt: skip


def check_institution_identity(con, schema: str, only: list[str] | None = None) -> RuleCheck:
    violations, where = 0, []
    for table in _tables(con, schema, only):
        cols = set(_columns(con, schema, table))
        for col in ("institution_code", "first_institution_code"):
            if col not in cols:
                continue
            n = _count(
                con,
                f"SELECT count(*) FROM {schema}.{table} t LEFT JOIN governance.agreements a "
                f"ON a.institution_code = t.{col} "
                f"WHERE t.{col} IS NOT NULL AND NOT coalesce(a.permit_institution_identification, false)",
            )
            if n:
                where.append(f"{table}.{col}: {n} rows")
            violations += n
    return _result(
        "release_institution_identity_permitted", violations,
        "; ".join(where) or "institutions are named only where they permit it",
    )  # fmt: skip


def check_ferpa_blocks(con, schema: str, only: list[str] | None = None) -> RuleCheck:
    """Students who set a FERPA directory block at an institution that asks for blocks
    to be honoured must not appear in that institution's release rows."""
    # release table -> (mart, the keys that identify a release row's source record besides the institution)
    pairs = {
        "rel_sleds__ps_enrollment": ("marts.fct_ps_enrollment", ["research_id", "fiscal_year", "term_season"]),
        "rel_sleds__ps_awards": ("marts.fct_ps_awards", ["research_id", "award_type", "award_date", "major_1_cip"]),
    }
    violations, where = 0, []
    present = set(_tables(con, schema, only))
    for table, (mart, keys) in pairs.items():
        if table not in present:
            continue
        on = " AND ".join(f"m.{k} IS NOT DISTINCT FROM t.{k}" for k in keys)
        n = _count(
            con,
            f"SELECT count(*) FROM {schema}.{table} t JOIN governance.agreements a USING (agreement_id) "
            f"JOIN {mart} m ON m.institution_code = a.institution_code AND {on} "
            "WHERE a.honour_ferpa_block AND m.ferpa_block",
        )
        if n:
            where.append(f"{table}: {n} blocked student-years")
        violations += n
    return _result(
        "release_ferpa_blocks_honoured", violations,
        "; ".join(where) or "no student with an honoured FERPA block is in the release",
    )  # fmt: skip


def check_agreements_active(con, schema: str, only: list[str] | None = None) -> RuleCheck:
    violations, where = 0, []
    for table in _tables(con, schema, only):
        if "agreement_id" not in _columns(con, schema, table):
            continue
        rows = con.execute(
            f"SELECT coalesce(t.agreement_id, '(none)'), coalesce(a.status, 'missing'), count(*) "
            f"FROM {schema}.{table} t LEFT JOIN governance.agreements a USING (agreement_id) "
            "WHERE a.status IS DISTINCT FROM 'active' GROUP BY ALL ORDER BY 1"
        ).fetchall()
        for agreement, status, n in rows:
            where.append(f"{table}: {n} rows under {agreement} ({status})")
            violations += n
    return _result(
        "release_agreements_active", violations,
        "; ".join(where) or "every row is covered by an active agreement",
    )  # fmt: skip


# rule (seeds/agreement_rules.csv) -> its check on the SLEDS release
SLEDS_CHECKS = {
    "release_columns_match_allowlist": lambda con, allowlist, only: check_columns(con, SLEDS_SCHEMA, allowlist, only),
    "release_restricted_elements_withheld": lambda con, allowlist, only: check_restricted_elements(
        con, SLEDS_SCHEMA, "sleds", only
    ),
    "release_gender_identity_institution_permitted": lambda con, allowlist, only: check_gender_identity_permission(
        con, SLEDS_SCHEMA, only
    ),
    "release_institution_identity_permitted": lambda con, allowlist, only: check_institution_identity(
        con, SLEDS_SCHEMA, only
    ),
    "release_ferpa_blocks_honoured": lambda con, allowlist, only: check_ferpa_blocks(con, SLEDS_SCHEMA, only),
    "release_agreements_active": lambda con, allowlist, only: check_agreements_active(con, SLEDS_SCHEMA, only),
}
RULES = tuple(policy.rules())
_unchecked = sorted(set(RULES) ^ set(SLEDS_CHECKS))
if _unchecked:  # a rule in the seed with no check, or a check the seed does not list
    raise policy.PolicyError(f"seeds/agreement_rules.csv and checks.SLEDS_CHECKS disagree on {_unchecked}")


def check_sleds_release(con, allowlist: dict[str, list[str]], only: list[str] | None = None) -> list[RuleCheck]:
    """Every rule on the SLEDS release (optionally on some of its tables), in RULES order."""
    return [SLEDS_CHECKS[rule](con, allowlist, only) for rule in RULES]


# rule -> its check on the institution data marts (the same check functions, on
# release_institution, for the audience policy_scopes.csv gives that schema). Each mart
# goes back to the institution the records came from, holding only its own students
# (export.py verifies that): so what an institution chose to permit *others* to see
# (being named: 9(c)(i); gender identity by institution: 9(c)(v)) and the FERPA blocks it
# honours towards others (15) do not concern its own copy, and the model ships those
# columns as its own data. What does: only contract columns and nothing identifying, and
# no element the registry withholds from the institution marts. That its agreement is in
# effect is checked per institution by the export, which gives a mart only to an
# institution with an active agreement and removes an earlier one (export.py): as a
# blocking check on the shared tables, one expired agreement would hold back every
# institution's mart and leave the expired one's old mart out there.
INSTITUTION_AUDIENCE = policy.release_schemas()[INSTITUTION_SCHEMA]
INSTITUTION_CHECKS = {
    "release_columns_match_allowlist": lambda con, allowlist, only: check_columns(
        con, INSTITUTION_SCHEMA, allowlist, only
    ),
    "release_restricted_elements_withheld": lambda con, allowlist, only: check_restricted_elements(
        con, INSTITUTION_SCHEMA, INSTITUTION_AUDIENCE, only
    ),
}
INSTITUTION_RULES = tuple(rule for rule in RULES if rule in INSTITUTION_CHECKS)
if set(INSTITUTION_CHECKS) - set(RULES):  # a check for a rule the seed no longer lists
    raise policy.PolicyError(f"checks.INSTITUTION_CHECKS names rules not in seeds/agreement_rules.csv: "
                             f"{sorted(set(INSTITUTION_CHECKS) - set(RULES))}")  # fmt: skip


def check_institution_release(con, allowlist: dict[str, list[str]], only: list[str] | None = None) -> list[RuleCheck]:
    """Every rule that concerns the institution marts (INSTITUTION_RULES, in RULES order)
    on the release_institution tables (optionally on some of them)."""
    return [INSTITUTION_CHECKS[rule](con, allowlist, only) for rule in INSTITUTION_RULES]
