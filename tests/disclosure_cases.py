"""Known failure cases of naive suppression, as small hand-built releases.

Each case has the tables of a release, a naive way to suppress them (what a simple
script does) and, for differencing, an earlier release. The tests show that the audit
flags every naive output and passes the engine's; `python -m tests.disclosure_cases`
prints the same comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from orchestration.lib.disclosure.tables import SummaryTable

Groups = dict[str, dict[str, int | tuple[int, int]]]


def unit_rows(level: str, unit_id: str, parent: str | None, groups: Groups, **extra) -> list[dict]:
    """Cells of one unit: groups maps grouping -> category -> n, or (n, numerator) for rates."""
    rows = []
    for grouping, cats in groups.items():
        for category, value in cats.items():
            n, num = value if isinstance(value, tuple) else (value, None)
            rows.append(
                {
                    "level": level,
                    "unit_id": unit_id,
                    "parent_unit_id": parent,
                    "grouping": grouping,
                    "category": category,
                    "n": n,
                    "numerator": num,
                    **extra,
                }
            )
    return rows


def add_groups(*groups: Groups) -> Groups:
    """A parent's groups: the sum of its children's."""
    out: Groups = {}
    for g in groups:
        for grouping, cats in g.items():
            for category, value in cats.items():
                n, num = value if isinstance(value, tuple) else (value, None)
                old = out.setdefault(grouping, {}).get(category)
                if old is None:
                    out[grouping][category] = (n, num) if num is not None else n
                elif isinstance(old, tuple):
                    out[grouping][category] = (old[0] + n, old[1] + num)
                else:
                    out[grouping][category] = old + n
    return out


def race(h: int, w: int) -> Groups:
    return {"all": {"All Students": h + w}, "race_ethnicity": {"Hispanic or Latino": h, "White": w}}


def table(
    table_id: str,
    policy: str,
    measure: str,
    rows: list[dict],
    population: str = "k12_2022-23_fall",
    other_information: bool = True,
    outcome: str | None = None,
) -> SummaryTable:
    return SummaryTable(table_id, policy, measure, other_information, population, pd.DataFrame(rows), outcome=outcome)


def district(
    table_id: str,
    schools: dict[str, Groups],
    district_id: str = "D1",
    policy: str = "nces_2011_603",
    measure: str = "count",
    parent: str | None = None,
) -> SummaryTable:
    rows = []
    for unit, groups in schools.items():
        rows += unit_rows("school", unit, district_id, groups)
    rows += unit_rows("district", district_id, parent, add_groups(*schools.values()))
    return table(table_id, policy, measure, rows)


@dataclass
class Case:
    name: str
    description: str
    tables: list[SummaryTable]
    naive: Callable[[list[SummaryTable]], pd.DataFrame]
    prior_tables: list[SummaryTable] = field(default_factory=list)


def _mode(mode: str):
    def run(tables: list[SummaryTable]) -> pd.DataFrame:
        from orchestration.lib.disclosure.engine import run_suppression

        return run_suppression(tables, complementary=mode, audit=False).cells

    return run


def _each_table_alone(tables: list[SummaryTable]) -> pd.DataFrame:
    from orchestration.lib.disclosure.engine import suppress_tables

    return pd.concat([suppress_tables([t]) for t in tables], ignore_index=True)


SCHOOLS = {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)}


def row_only() -> Case:
    return Case(
        "a_row_only",
        "a complement only in the row: the district column still recovers both cells",
        [district("enrollment_by_race", SCHOOLS)],
        _mode("row"),
    )


def small_pair() -> Case:
    groups = {
        "all": {"All Students": 30},
        "race_ethnicity": {"Hispanic or Latino": 3, "Black or African American": 4, "White": 23},
    }
    return Case(
        "b_small_pair",
        "two small primaries protect each other but their sum (7) is a published small group",
        [table("enrollment_by_race", "nces_2011_603", "count", unit_rows("school", "S", None, groups))],
        _mode("row"),
    )


def suppressed_zeros() -> Case:
    groups = {"all": {"All Students": 25}, "grade": {"03": 0, "04": 0, "05": 25}}
    return Case(
        "c_suppressed_zeros",
        "two suppressed zeros under a published total are both pinned at 0",
        [table("enrollment_by_grade", "nces_2011_603", "count", unit_rows("school", "S", None, groups))],
        _mode("row"),
    )


def school_under_district() -> Case:
    schools = {"A": race(2, 4), "B": race(12, 28), "C": race(20, 30)}
    return Case(
        "d_school_under_district",
        "a small school fully suppressed while the district and the other schools are published",
        [district("enrollment_by_race", schools)],
        _mode("row"),
    )


def non_nesting() -> Case:
    schools = {"S1": race(3, 30), "S2": race(14, 22), "S3": race(11, 25), "S4": race(16, 35)}
    by_district = {"D1": ["S1", "S2"], "D2": ["S3", "S4"]}
    by_region = {"R1": ["S1", "S3"], "R2": ["S2", "S4"]}

    def rows(level: str, groups_of: dict[str, list[str]]) -> list[dict]:
        out = []
        for parent, members in groups_of.items():
            for s in members:
                out += unit_rows("school", s, parent, schools[s])
            out += unit_rows(level, parent, None, add_groups(*(schools[s] for s in members)))
        return out

    tables = [
        table("enrollment_by_district", "nces_2011_603", "count", rows("district", by_district)),
        table("enrollment_by_region", "nces_2011_603", "count", rows("region", by_region)),
    ]
    return Case(
        "e_non_nesting",
        "districts and regions group the same schools differently; each table protected "
        "alone, the two together recover the small cell",
        tables,
        _each_table_alone,
    )


def known_n() -> Case:
    groups = {"all": {"All Students": (40, 20)}, "sex": {"Female": (37, 18), "Male": (3, 2)}}
    rows = unit_rows("institution", "I1", None, groups)
    return Case(
        "f_known_n",
        "a suppressed rate whose group sizes are published: the other whole percentages turn back into counts",
        [table("completion_by_sex", "ohe", "rate", rows, other_information=False, population="ps_2023")],
        _mode("none"),
    )


def differencing() -> Case:
    first = district("enrollment_by_race", SCHOOLS)
    later_rows = []
    for unit in ("B", "C"):
        later_rows += unit_rows("school", unit, "D1", SCHOOLS[unit])
    later_rows += unit_rows("district", "D1", None, add_groups(*SCHOOLS.values()), children_complete=False)
    later = table("enrollment_by_race_secondary", "nces_2011_603", "count", later_rows)
    return Case(
        "g_differencing",
        "a later release publishes the complement an earlier one suppressed",
        [later],
        _mode("full"),
        prior_tables=[first],
    )


def _without_relations(tables: list[SummaryTable]) -> pd.DataFrame:
    """The engine as it was before population relations: each population protected alone."""
    from orchestration.lib.disclosure.engine import run_suppression

    return run_suppression(tables, relations=[]).cells


def race_groups(**counts: int) -> Groups:
    return {"all": {"All Students": sum(counts.values())}, "race_ethnicity": dict(counts)}


def subset_population() -> Case:
    """School A has 30 enrolled and 30 accountable students, so the two are the same students."""
    enrolled = {"A": race_groups(Asian=3, Black=9, White=18), "B": race_groups(Asian=20, Black=20, White=12)}
    accountable = {"A": race_groups(Asian=3, Black=9, White=18), "B": race_groups(Asian=20, Black=20, White=2)}
    tables = [
        _with_population(district("k12_enrollment_by_race", enrolled), "k12_2022-23_fall"),
        _with_population(district("k12_accountable_by_race", accountable), "k12_2022-23_fall_accountable"),
    ]
    return Case(
        "h_subset_population",
        "accountable students are enrolled students: at a school with 30 of each, the accountable "
        "White count hidden as a complement equals the published enrolled White 18",
        tables,
        _without_relations,
    )


def institutions(table_id: str, policy: str, population: str, units: dict[str, Groups]) -> SummaryTable:
    """state > sector > institution, as the postsecondary tables are published."""
    rows = []
    for unit, groups in units.items():
        rows += unit_rows("institution", f"INST:{unit}", "SECTOR:public", groups)
    sector = add_groups(*units.values())
    rows += unit_rows("sector", "SECTOR:public", "STATE", sector)
    rows += unit_rows("state", "STATE", None, sector)
    return table(table_id, policy, "count", rows, population=population, other_information=False)


def equal_population() -> Case:
    def programs(c11: int, c51: int) -> Groups:
        return {"all": {"All Students": c11 + c51}, "program": {"CIP 11": c11, "CIP 51": c51}}

    def awards(certificate: int, associate: int, bachelor: int) -> Groups:
        return {"all": {"All Students": certificate + associate + bachelor},
                "award_group": {"certificate": certificate, "associate": associate, "bachelor": bachelor}}  # fmt: skip

    tables = [
        institutions("wioa_etpl_completers_by_program", "wioa_etpl", "etpl_FY2024",
                     {"I1": programs(2, 10), "I2": programs(0, 2), "I3": programs(5, 6)}),
        institutions("ps_awards_by_level", "ohe", "ps_awards_FY2024",
                     {"I1": awards(12, 40, 100), "I2": awards(2, 30, 0), "I3": awards(11, 8, 60)}),
    ]  # fmt: skip
    return Case(
        "i_equal_population",
        "an institution's ETPL completers are its certificate awards: the awards table, publishable "
        "at any size, shows the ETPL totals the cell-size-3 rule hides",
        tables,
        _without_relations,
    )


def insider_singleton() -> Case:
    groups = {
        "all": {"All Students": 40},
        "race_ethnicity": {"Hispanic or Latino": 30, "White": 1, "Black or African American": 9},
    }
    return Case(
        "j_insider_singleton",
        "the two hidden cells sum to 10, so no outsider learns either; the one White student "
        "knows White is 1 and so that Black is 9",
        [table("enrollment_by_race", "nces_2011_603", "count", unit_rows("school", "S", None, groups))],
        _outsider_only,
    )


def _outsider_only(tables: list[SummaryTable]) -> pd.DataFrame:
    from orchestration.lib.disclosure.engine import run_suppression

    return run_suppression(tables, insiders=False).cells


def _with_population(t: SummaryTable, population: str) -> SummaryTable:
    t.population = population
    return t


def all_cases() -> list[Case]:
    return [
        row_only(),
        small_pair(),
        suppressed_zeros(),
        school_under_district(),
        non_nesting(),
        known_n(),
        differencing(),
        subset_population(),
        equal_population(),
        insider_singleton(),
    ]


def main() -> None:  # pragma: no cover - a printout for people
    from orchestration.lib.disclosure.audit import audit_release
    from orchestration.lib.disclosure.engine import run_suppression, suppress_tables

    for case in all_cases():
        prior = [suppress_tables(case.prior_tables)] if case.prior_tables else []
        naive = audit_release(case.naive(case.tables), prior, tables=case.tables + case.prior_tables)
        run = run_suppression(case.tables, prior_releases=prior)
        print(f"{case.name}: {case.description}")
        print(f"  naive:  {len(naive.disclosed)} disclosed ({', '.join(sorted(set(naive.disclosed['reason'])))})")
        print(
            f"  engine: {len(run.audit.disclosed)} disclosed, {int((run.cells['status'] == 'suppressed').sum())} "
            f"of {len(run.cells)} cells suppressed"
        )


if __name__ == "__main__":  # pragma: no cover
    main()
