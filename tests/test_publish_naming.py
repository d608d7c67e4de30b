"""Which institutions the WIOA ETPL table names (DOMAIN.md section 3): an institution is
named with its own permission, or under the agreements' listed permission ("WIOA ETPL
programs at cell size 3 or more") when one of its programs reaches the cell size of the
table's policy; the others stay in their sector's unnamed part, which is never a single
institution. The cell size is the seed's (seeds/suppression_policies.csv), not the SQL's:
the test builds the model with dbt on a small DuckDB holding only its inputs, in a copy of
the project, and changes the seed there."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import paths
from tests.test_publish_layer import _dbt, _project_copy

TABLE = "wioa_etpl_completers_by_program"
MODEL = f"pub_{TABLE}"
NO_UNIT_TESTS = ("--exclude", "test_type:unit")

# institution: (sector, permits naming, size weight, certificate completers per 2-digit CIP)
INSTITUTIONS = {
    # sector two_year: P1 permits naming; L3 does not, but has a program of 3; S4 has 4
    # completers, 2 per program (All Students is not a program), S1 a single one
    "P1": ("two_year", True, 3, {"11": 1}),
    "L3": ("two_year", False, 4, {"51": 3}),
    "S4": ("two_year", False, 2, {"11": 2, "51": 2}),
    "S1": ("two_year", False, 1, {"11": 1}),
    # sector tribal: TL has a program of 3 and TP permits naming, but TS would be the
    # sector's only unnamed institution, so the smaller named one (TL) stays unnamed too
    "TL": ("tribal", False, 5, {"11": 3}),
    "TP": ("tribal", True, 9, {"51": 1}),
    "TS": ("tribal", False, 1, {"51": 1}),
    # two sectors of one unnamed institution each: each sector row would be that institution
    "LA": ("lone_a", False, 1, {"11": 2}),
    "LB": ("lone_b", False, 1, {"51": 2}),
    # a sector of five institutions, none named: holding it back loses no named institution
    **{f"O{i}": ("open", False, 1, {"11": 1}) for i in range(1, 6)},
}
LONE = {"lone_a", "lone_b"}
FISCAL_YEAR = 2026


def _inputs(warehouse: Path) -> None:
    """The model's inputs and nothing else: certificate awards, agreements, institutions."""
    tables = {
        "marts.fct_ps_awards (fiscal_year INTEGER, award_group VARCHAR, institution_sector VARCHAR, "
        "institution_code VARCHAR, major_1_cip VARCHAR)": [
            (FISCAL_YEAR, "certificate", sector, code, f"{cip}.0101")
            for code, (sector, _, _, programs) in INSTITUTIONS.items()
            for cip, completers in programs.items()
            for _ in range(completers)
        ],
        "governance.agreements (institution_code VARCHAR, permit_institution_identification BOOLEAN)": [
            (code, permits) for code, (_, permits, _, _) in INSTITUTIONS.items()
        ],
        "reference.institutions (institution_code VARCHAR, sector VARCHAR, size_weight INTEGER)": [
            (code, sector, weight) for code, (sector, _, weight, _) in INSTITUTIONS.items()
        ],
    }
    con = duckdb.connect(str(warehouse))
    try:
        for schema in ("marts", "governance", "reference"):
            con.execute(f"CREATE SCHEMA {schema}")
        for table, rows in tables.items():
            con.execute(f"CREATE TABLE {table}")
            con.executemany(f"INSERT INTO {table.split()[0]} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    finally:
        con.close()


def _institution_rows(warehouse: Path) -> list[tuple[str, str, bool]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            f"SELECT DISTINCT unit_id, parent_unit_id, children_complete FROM publish.{MODEL} WHERE level <> 'state'"
        ).fetchall()
    finally:
        con.close()


def _named(warehouse: Path) -> set[str]:
    return {unit.removeprefix("INST:") for unit, _, _ in _institution_rows(warehouse) if unit.startswith("INST:")}


def _set_cell_size(seeds: Path, min_n: int) -> None:
    """A steward's edit: the cell size of the table's policy, in its seed row."""
    with (seeds / "publish_tables.csv").open(newline="", encoding="utf-8") as handle:
        policy = next(r["policy"] for r in csv.DictReader(handle) if r["table_id"] == TABLE)
    path = seeds / "suppression_policies.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    assert policy in {r["policy"] for r in rows}
    for row in rows:
        if row["policy"] == policy:
            row["min_n"] = str(min_n)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The ETPL model built on the small warehouse with the shipped seeds. Its dbt unit
    test (models/publish/_publish_unit_tests.yml, the same rule on other rows) runs in
    every full build; left out here so each case below fails on its own."""
    root = tmp_path_factory.mktemp("naming")
    project = _project_copy(root / "repo")
    warehouse = root / "warehouse.duckdb"
    _inputs(warehouse)
    _dbt(project, warehouse, "build", "--select", "publish_tables", "suppression_policies", MODEL, *NO_UNIT_TESTS)
    return project, warehouse


def test_the_shipped_cell_size_of_the_etpl_policy_is_3():
    # the cases below are written for it (DOMAIN.md: WIOA ETPL programs at cell size 3 or more)
    with (paths.SEEDS_DIR / "suppression_policies.csv").open(newline="", encoding="utf-8") as handle:
        assert {r["policy"]: r["min_n"] for r in csv.DictReader(handle)}["wioa_etpl"] == "3"


def test_an_institution_is_named_with_permission_or_with_a_program_at_the_cell_size(built):
    _, warehouse = built
    named = _named(warehouse)
    assert "P1" in named  # its own permission
    assert "L3" in named  # no permission, a program of 3: the listed permission
    assert "TP" in named
    # no permission and every program under 3 (S4's 4 completers are not one program)
    assert not named & {"S1", "S4", "TS"}
    # TL has a program of 3, but naming it would leave TS alone in the tribal sector
    assert "TL" not in named
    assert named == {"P1", "L3", "TP"}


def _state_complete(warehouse: Path) -> bool:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"SELECT DISTINCT children_complete FROM publish.{MODEL} WHERE level = 'state'").fetchone()[
            0
        ]
    finally:
        con.close()


def test_no_sector_has_exactly_one_unnamed_institution_and_partial_sectors_say_so(built):
    _, warehouse = built
    rows = _institution_rows(warehouse)
    named = _named(warehouse)
    complete = {unit.removeprefix("SECTOR:"): c for unit, _, c in rows if unit.startswith("SECTOR:")}
    # a sector of one unnamed institution is not published; two of them leave the state two
    # institutions beyond its published sectors
    assert not LONE & set(complete) and _state_complete(warehouse) is False
    for sector in {s for s, _, _, _ in INSTITUTIONS.values()} - LONE:
        unnamed = {c for c, (s, _, _, _) in INSTITUTIONS.items() if s == sector} - named
        assert len(unnamed) != 1, f"sector {sector}: {unnamed} alone unnamed is sector minus the named"
        assert complete[sector] == (not unnamed)
    parents = {unit.removeprefix("INST:"): parent for unit, parent, _ in rows if unit.startswith("INST:")}
    assert parents == {c: f"SECTOR:{INSTITUTIONS[c][0]}" for c in named}


def test_the_cell_size_comes_from_the_policy_seed(built, tmp_path):
    # a copy of the built project and warehouse, so the other tests keep the shipped seed
    project = _project_copy(tmp_path / "repo")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built[1], warehouse)
    _set_cell_size(project.parent / "seeds", 4)
    _dbt(project, warehouse, "build", "--select", "suppression_policies", MODEL, *NO_UNIT_TESTS)
    # L3's program of 3 is now under the cell size; TL's too, so TS is no longer alone
    assert _named(warehouse) == {"P1", "TP"}


def test_a_single_lone_sector_is_held_back_with_the_sector_losing_fewest_named(built, tmp_path):
    """One sector of one unnamed institution: state minus the published sectors would be that
    institution, so another sector is held back with it: 'open', which names nobody, rather
    than the smaller tribal sector, which would lose a named institution."""
    project = _project_copy(tmp_path / "repo")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built[1], warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        for table in ("marts.fct_ps_awards", "governance.agreements", "reference.institutions"):
            con.execute(f"DELETE FROM {table} WHERE institution_code = 'LB'")
    finally:
        con.close()
    _dbt(project, warehouse, "build", "--select", MODEL, *NO_UNIT_TESTS)
    units = {unit for unit, _, _ in _institution_rows(warehouse)}
    assert {u for u in units if u.startswith("SECTOR:")} == {"SECTOR:two_year", "SECTOR:tribal"}
    assert _named(warehouse) == {"P1", "L3", "TP"}  # no named institution lost
    assert _state_complete(warehouse) is False
