"""Restricted elements through the column lineage: gender identity and cumulative debt
reach the SLEDS release only through the registry's restriction, and no restricted-year
value is in the release file (structure from the compiled dbt SQL, plus the data)."""

import json
import shutil

import duckdb
import pytest

from orchestration.lib.governance import lineage as L
from tests.conftest import copy_home
from tests.test_query_access import build_releases

SOURCES = ["raw.ps_awards", "raw.ps_enrollment"]


@pytest.fixture(scope="module")
def home(tiny_warehouse, tmp_path_factory):
    return build_releases(copy_home(tiny_warehouse, tmp_path_factory.mktemp("lineage") / "home"))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    # shared with test_governance_report (same tiny warehouse, same catalog): compiled once
    return tmp_path_factory.getbasetemp() / "governance-lineage"


@pytest.fixture(scope="module")
def lin(home, work):
    return L.column_lineage(home / "warehouse.duckdb", work, only_downstream_of=SOURCES)


@pytest.mark.parametrize("element", ["gender_identity", "cumulative_debt"])
def test_restricted_element_reaches_the_sleds_release_only_through_the_registry(lin, element):
    assert not lin.errors
    reached = {r.column: r for r in L.element_trace(lin, element)}
    columns = L.RESTRICTED_ELEMENTS[element]
    # from the feed through every layer (the committee's trace) ...
    table = "ps_awards" if element == "cumulative_debt" else "ps_enrollment"
    for col in columns:
        for layer in (
            f"staging.stg_ps__{table[3:]}",
            f"intermediate.int_ps__{table[3:]}_identified",
            f"marts.fct_{table}",
        ):
            assert f"{layer}.{col}" in reached, (layer, col)
    path = reached[f"release_sleds.rel_sleds__{table}.{columns[0]}"].path
    assert path[0] == f"raw.{table}.{columns[0]}" and [p.split(".")[0] for p in path] == [
        "raw", "staging", "intermediate", "marts", "release_sleds"]  # fmt: skip
    # ... and every SLEDS release column it reaches is guarded by the registry restriction
    in_release = {c: r for c, r in reached.items() if c.startswith("release_sleds.")}
    assert in_release, "the element should reach the SLEDS release (guarded), or the test proves nothing"
    for column, reach in in_release.items():
        assert column.rsplit(".", 1)[1] in columns
        assert L.Guard(f"{element}_withheld", element, "sleds") in reach.guards, column
    # the institution marts carry the institution's own values (no restriction for that audience)
    assert any(c.startswith("release_institution.") for c in reached)
    # K-12 and pathway releases get nothing of it
    assert not [c for c in in_release if "k12" in c or "pathways" in c]


def test_no_restricted_year_value_in_the_release_file(home):
    counts = L.restricted_values_in_release(home / "releases/sleds/sleds_release.duckdb", home / "warehouse.duckdb")
    assert set(counts) >= {"rel_sleds__ps_awards.cumulative_debt", "rel_sleds__ps_enrollment.gender_identity_a",
                           "rel_sleds__ps_awards.gender_identity_d"}  # fmt: skip
    assert all(n == 0 for n in counts.values()), counts
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:  # the mart does hold such values: the release withheld them
        held = con.execute(
            "select count(*) from marts.fct_ps_awards where cumulative_debt is not null and fiscal_year between 2022 "
            "and 2026"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert held > 0


def test_the_data_check_sees_a_leak(home, tmp_path):
    leaked = tmp_path / "leaked.duckdb"
    shutil.copy(home / "releases/sleds/sleds_release.duckdb", leaked)
    con = duckdb.connect(str(leaked))
    try:
        con.execute("update rel_sleds__ps_awards set cumulative_debt = 1234 where academic_year = '2023-24'")
        changed = con.execute("select count(*) from rel_sleds__ps_awards where academic_year = '2023-24'").fetchall()
    finally:
        con.close()
    assert changed[0][0] > 0
    counts = L.restricted_values_in_release(leaked, home / "warehouse.duckdb")
    assert counts["rel_sleds__ps_awards.cumulative_debt"] == changed[0][0]


def test_the_structural_check_sees_an_unguarded_column(home, work):
    manifest = L.compiled_manifest(work)
    node = manifest["nodes"]["model.sleds.rel_sleds__ps_awards"]
    sql = node["compiled_code"]
    guarded = "case when not cumulative_debt_withheld then cumulative_debt end as cumulative_debt"
    assert guarded in sql
    node["compiled_code"] = sql.replace(guarded, "cumulative_debt as cumulative_debt")
    schema = L.warehouse_schema(home / "warehouse.duckdb")
    lin = L.build_column_lineage(manifest, schema, ["stg_ps__awards", "int_ps__awards_identified", "fct_ps_awards",
                                                    "rel_sleds__ps_awards"])  # fmt: skip
    reach = {r.column: r for r in L.element_trace(lin, "cumulative_debt")}
    assert reach["release_sleds.rel_sleds__ps_awards.cumulative_debt"].guards == []
    json.dumps(lin.as_dict())  # serialisable for the report
