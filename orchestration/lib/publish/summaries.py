"""Summary tables built from the marts, in the shape the suppression engine takes
(orchestration/lib/disclosure/tables.py): one row per published cell, with the
hierarchy (state > district > school, or state > sector > institution), the grouping
and category, the group size n and, for rates, the numerator.

Every category is listed for every unit (zeros included), so a missing row never
says "zero". Which tables exist and the policy each uses is data
(seeds/publish_tables.csv); the SQL that counts is here."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from orchestration.lib.disclosure.tables import SummaryTable
from orchestration.lib.reference import read_seed

ALL = "All Students"
STATE = "STATE"


@dataclass(frozen=True)
class Level:
    name: str
    unit: str  # SQL expression of the unit id
    parent: str | None  # SQL expression of the parent unit id


K12_LEVELS = [
    Level("state", f"'{STATE}'", None),
    Level("district", "'D:' || district", f"'{STATE}'"),
    Level("school", "'S:' || building", "'D:' || district"),
]


def _grid(con, base_sql: str, levels: list[Level], grouping: str, categories: list[str], rate: bool) -> pd.DataFrame:
    """Counts (and numerators) per unit x category, all categories for every unit, plus
    the unit's All Students row. `base_sql` yields one row per student with the level
    columns, `category` and (rates) a boolean `outcome`."""
    frames = []
    for level in levels:
        parent = level.parent or "CAST(NULL AS VARCHAR)"
        num = ", count(*) FILTER (WHERE outcome) AS numerator" if rate else ""
        units = con.execute(
            f"SELECT DISTINCT {level.unit} AS unit_id, {parent} AS parent_unit_id FROM ({base_sql}) b"
        ).df()
        counted = con.execute(
            f"SELECT {level.unit} AS unit_id, category, count(*) AS n{num} FROM ({base_sql}) b GROUP BY ALL"
        ).df()
        totals = con.execute(
            f"SELECT {level.unit} AS unit_id, count(*) AS n{num} FROM ({base_sql}) b GROUP BY ALL"
        ).df()
        grid = units.merge(pd.DataFrame({"category": pd.Series(categories, dtype="object")}), how="cross")
        grid = grid.merge(counted, on=["unit_id", "category"], how="left")
        grid["grouping"] = grouping
        total_rows = units.merge(totals, on="unit_id", how="left").assign(grouping="all", category=ALL)
        cells = pd.concat([total_rows, grid], ignore_index=True)
        cells["level"] = level.name
        frames.append(cells)
    out = pd.concat(frames, ignore_index=True)
    out["n"] = out["n"].fillna(0).astype("int64")
    if rate:
        out["numerator"] = out["numerator"].fillna(0).astype("int64")
    return out


def _categories(con, base_sql: str) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT DISTINCT category FROM ({base_sql}) b ORDER BY 1").fetchall()]


def _latest(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


def k12_tables(con, specs: dict[str, dict]) -> list[SummaryTable]:
    year = _latest(con, "SELECT max(school_year) FROM marts.fct_k12_accountability_students")
    if year is None:
        return []
    population = f"k12_{year}_fall"
    fall = (
        "SELECT s.accountable_district_code AS district, s.accountable_building_code AS building, {cat} AS category "
        "FROM marts.fct_k12_accountability_students s "
        f"WHERE s.school_year = '{year}' AND s.testing_window = 'fall' AND s.enrolled_at_window {{extra}}"
    )
    made = []
    for table_id, cat, extra, pop in (
        ("k12_enrollment_by_race", "s.race_ethnicity_subgroup", "", population),
        ("k12_enrollment_by_gender", "coalesce(s.gender, 'Not reported')", "", population),
        ("k12_accountable_by_race", "s.race_ethnicity_subgroup", "AND s.included_in_accountability",
         f"{population}_accountable"),
    ):  # fmt: skip
        base = fall.format(cat=cat, extra=extra)
        grouping = "gender" if "gender" in table_id else "race_ethnicity"
        cells = _grid(con, base, K12_LEVELS, grouping, _categories(con, base), rate=False)
        made.append(_table(specs, table_id, pop, cells, year=year))
    return made


def getting_prepared_tables(con, specs: dict[str, dict]) -> list[SummaryTable]:
    made = []
    for table_id, outcome, among, observable in (
        ("gp_college_fall_after_by_race", "p.enrolled_fall_after", "true", "p.enrolled_fall_after IS NOT NULL"),
        ("gp_developmental_by_race", "p.developmental_within_2_years", "p.enrolled_within_2_years",
         "p.developmental_within_2_years IS NOT NULL"),
    ):  # fmt: skip
        cohort = _latest(
            con, f"SELECT max(graduation_cohort) FROM marts.fct_pathways_hs_to_college p WHERE {observable}"
        )
        if cohort is None:
            continue
        base = (
            "SELECT p.graduation_district_code AS district, p.graduation_building_code AS building, "
            f"coalesce(p.race_ethnicity_subgroup, 'Not reported') AS category, {outcome} AS outcome "
            f"FROM marts.fct_pathways_hs_to_college p WHERE p.graduation_cohort = {cohort} AND {among}"
        )
        cells = _grid(con, base, K12_LEVELS, "race_ethnicity", _categories(con, base), rate=True)
        population = f"graduates_{cohort}" if table_id.startswith("gp_college") else f"graduates_{cohort}_enrolled"
        made.append(_table(specs, table_id, population, cells, cohort=cohort, outcome=table_id))
    return made


def _institution_levels(con, permission: str, base_sql: str) -> tuple[list[Level], set[str]]:
    """state > sector > institution, naming only institutions that grant `permission`.

    A sector with exactly one unnamed institution would give that institution's numbers
    away (sector minus the named ones), so its smallest named institution is left
    unnamed too: the unnamed part of every sector is empty or at least two institutions."""
    # only institutions with students in this table count: an unnamed institution
    # without rows hides nothing
    rows = con.execute(
        f"SELECT a.institution_code, i.sector, coalesce({permission}, false), i.size_weight "
        "FROM governance.agreements a JOIN reference.institutions i USING (institution_code) "
        f"WHERE a.institution_code IN (SELECT DISTINCT institution FROM ({base_sql}) b)"
    ).fetchall()
    by_sector: dict[str, list[tuple[str, bool, int]]] = {}
    for code, sector, ok, weight in rows:
        by_sector.setdefault(sector, []).append((code, ok, weight or 0))
    named: set[str] = set()
    for members in by_sector.values():
        allowed = sorted((m for m in members if m[1]), key=lambda m: (m[2], m[0]))
        hidden = len(members) - len(allowed)
        if hidden == 1 and allowed:
            allowed = allowed[1:]
        named |= {m[0] for m in allowed}
    levels = [
        Level("state", f"'{STATE}'", None),
        Level("sector", "'SECTOR:' || sector", f"'{STATE}'"),
        Level("institution", "'INST:' || institution", "'SECTOR:' || sector"),
    ]
    return levels, named


def _with_named_institutions(cells: pd.DataFrame, named: set[str]) -> pd.DataFrame:
    inst = cells["level"] == "institution"
    keep = ~inst | cells["unit_id"].str.removeprefix("INST:").isin(named)
    out = cells[keep].copy()
    # a sector whose institutions are not all listed: its children do not sum to it
    listed = out.loc[out["level"] == "institution", "parent_unit_id"].unique()
    complete = cells[inst].groupby("parent_unit_id")["unit_id"].nunique()
    shown = out[out["level"] == "institution"].groupby("parent_unit_id")["unit_id"].nunique()
    partial = {s for s in complete.index if shown.get(s, 0) < complete[s]} | (set(complete.index) - set(listed))
    out["children_complete"] = ~(out["unit_id"].isin(partial))
    return out


def postsecondary_tables(con, specs: dict[str, dict]) -> list[SummaryTable]:
    fy = _latest(con, "SELECT max(fiscal_year) FROM marts.fct_ps_enrollment WHERE term_season = 'FA'")
    if fy is None:
        return []
    made = []
    fall = (
        "SELECT e.institution_code AS institution, e.institution_sector AS sector, {cat} AS category "
        f"FROM marts.fct_ps_enrollment e WHERE e.fiscal_year = {fy} AND e.term_season = 'FA' {{extra}}"
    )
    base = fall.format(cat="coalesce(e.sex, 'U')", extra="")
    levels, named = _institution_levels(con, "a.permit_institution_identification", base)
    cells = _with_named_institutions(_grid(con, base, levels, "sex", _categories(con, base), rate=False), named)
    made.append(_table(specs, "ps_fall_enrollment_by_sex", f"ps_FY{fy}_fall", cells, fiscal_year=fy))

    # gender identity: an institution is listed only if it permits both naming and
    # institution-level gender identity (clause 9(c)(i), 9(c)(v))
    base = fall.format(
        cat="coalesce(e.gender_identity_a, CASE WHEN e.gender_identity_a_not_applicable THEN 'Not collected' "
        "ELSE 'Not reported' END)",
        extra="",
    )
    both = "(coalesce(a.permit_gender_identity_institution_level, false) AND a.permit_institution_identification)"
    gi_levels, gi_named = _institution_levels(con, both, base)
    cells = _with_named_institutions(
        _grid(con, base, gi_levels, "gender_identity", _categories(con, base), False), gi_named
    )
    made.append(_table(specs, "ps_fall_enrollment_by_gender_identity", f"ps_FY{fy}_fall", cells, fiscal_year=fy))

    award_fy = _latest(con, "SELECT max(fiscal_year) FROM marts.fct_ps_awards")
    base = (
        "SELECT w.institution_code AS institution, w.institution_sector AS sector, "
        "coalesce(w.award_group, 'other') AS category FROM marts.fct_ps_awards w "
        f"WHERE w.fiscal_year = {award_fy}"
    )
    levels, named = _institution_levels(con, "a.permit_institution_identification", base)
    cells = _with_named_institutions(_grid(con, base, levels, "award_group", _categories(con, base), rate=False), named)
    made.append(_table(specs, "ps_awards_by_level", f"ps_awards_FY{award_fy}", cells, fiscal_year=award_fy))

    # WIOA ETPL: institution identification is a listed permission (9(c)(iii)), cell size 3
    base = (
        "SELECT w.institution_code AS institution, w.institution_sector AS sector, "
        "'CIP ' || substr(w.major_1_cip, 1, 2) AS category FROM marts.fct_ps_awards w "
        f"WHERE w.fiscal_year = {award_fy} AND w.award_group = 'certificate'"
    )
    levels, all_named = _institution_levels(con, "true", base)
    cells = _with_named_institutions(_grid(con, base, levels, "program", _categories(con, base), rate=False), all_named)
    made.append(_table(specs, "wioa_etpl_completers_by_program", f"etpl_FY{award_fy}", cells, fiscal_year=award_fy))
    return made


def _table(specs: dict[str, dict], table_id: str, population: str, cells: pd.DataFrame, outcome=None, **extra):
    if cells.empty:
        return None  # no students in this table's population: nothing to publish
    spec = specs[table_id]
    return SummaryTable(
        table_id=table_id,
        policy=spec["policy"],
        measure=spec["measure"],
        other_information=spec["other_information"] == "true",
        population=population,
        cells=cells,
        outcome=outcome,
        description=spec["description"],
        extra=extra,
    )


def table_specs() -> dict[str, dict]:
    return {row["table_id"]: row for row in read_seed("publish_tables")}


def build_summary_tables(con) -> list[SummaryTable]:
    specs = table_specs()
    tables = k12_tables(con, specs) + getting_prepared_tables(con, specs) + postsecondary_tables(con, specs)
    return [t for t in tables if t is not None and t.table_id in specs]
