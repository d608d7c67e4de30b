"""Missing reference data fails loudly: never a silently dropped record or a district filled
in from another.

The models keep a loaded record whose calendar row or directory building/district the seeds
lack (int_k12__collection_pepe left-joins the calendar; the accountability fact takes the S2E2
district from seeds/k12_buildings.csv only); orchestration/lib/reference_completeness.py names
each missing seed row, and the blocking check `reference_data_complete` on
intermediate/int_msds__records fails with it and holds back every release of K-12 records.

On a copy of the built tiny warehouse: removing (a) a calendar row, (b) a building the records
are reported in, (c) an S2E2 building, (d) a district is each found with the seed file and the
row to add; the complete warehouse has no problem. A hand-built warehouse pins the message.
Then the check itself, run by Dagster beside the releases that wait for it: they run when it
passes and never start when it fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs import quality, reference_checks
from orchestration.lib import paths
from orchestration.lib.reference_completeness import missing_reference, row_to_add, seed_header
from tests.conftest import copy_home

RECORDS = "intermediate.int_msds__records"


@pytest.fixture(scope="module")
def warehouse(tiny_warehouse, tmp_path_factory) -> Path:
    """The built tiny warehouse file, copied: each test changes it inside a transaction it rolls back."""
    copy = tmp_path_factory.mktemp("reference") / "warehouse.duckdb"
    shutil.copyfile(paths.warehouse_path(tiny_warehouse), copy)
    return copy


@pytest.fixture()
def con(warehouse):
    con = duckdb.connect(str(warehouse))
    con.begin()
    yield con
    con.rollback()
    con.close()


def _only(problems, seed: str):
    (problem,) = [p for p in problems if p.seed == seed]
    return problem


def test_a_complete_build_has_every_seed_row_it_needs(con):
    assert con.execute(f"SELECT count(*) FROM {RECORDS}").fetchone()[0] > 100
    assert missing_reference(con) == []


def test_a_missing_calendar_row_names_the_seed_and_the_row_to_add(con):
    year, n = con.execute(
        f"SELECT school_year, count(*) FROM {RECORDS} WHERE collection = 'FALL' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    srm = con.execute(f"SELECT count(*) FROM {RECORDS} WHERE collection = 'SRM' AND school_year = ?", [year]).fetchone()
    con.execute("DELETE FROM reference.msds_collection_calendar WHERE school_year = ? AND collection = 'fall'", [year])
    problem = _only(missing_reference(con), "msds_collection_calendar")
    assert problem.key == (year, "fall") and problem.records == n + srm[0]
    assert seed_header("msds_collection_calendar") == [
        "school_year", "collection", "count_date", "testing_window_start", "as_of_start", "as_of_end",
        "certification_deadline",
    ]  # fmt: skip
    assert problem.message() == (
        f"seeds/msds_collection_calendar.csv has no row for school year {year}, collection fall "
        f"(needed by {problem.records} loaded records; add: {year},fall,<count_date>,<testing_window_start>,"
        "<as_of_start>,<as_of_end>,<certification_deadline>)"
    )


def test_a_missing_directory_building_names_the_seed_and_the_row_to_add(con):
    building, n = con.execute(
        f"SELECT building_code, count(*) FROM {RECORDS} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchone()
    con.execute("DELETE FROM reference.k12_buildings WHERE building_code = ?", [building])
    problem = _only(missing_reference(con), "k12_buildings")
    assert problem.key == (building,) and problem.uses[0].role == "building" and problem.uses[0].records == n
    message = problem.message()
    assert message.startswith(f"seeds/k12_buildings.csv has no building {building} (building of {n} records in ")
    assert message.endswith(
        f"; add: {building},<building_name>,<district_code>,<school_level>,<low_grade>,<high_grade>)"
    )
    district = problem.uses[0].district  # the district the records give it: what the steward checks
    assert f", reported with district {district}" in message and district


def test_a_missing_s2e2_building_names_the_seed_and_the_row_to_add(con):
    building, n, years = con.execute(
        f"SELECT s2e2_building_code, count(*), list(DISTINCT school_year ORDER BY school_year) FROM {RECORDS} "
        "WHERE s2e2_building_code IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchone()
    con.execute("DELETE FROM reference.k12_buildings WHERE building_code = ?", [building])
    problem = _only(missing_reference(con), "k12_buildings")
    s2e2 = [u for u in problem.uses if u.role == "S2E2 building"]
    assert s2e2 and s2e2[0].records == n and list(s2e2[0].school_years) == years
    message = problem.message()
    assert f"S2E2 building of {n} records in {years[0]}" in message
    assert message.startswith(f"seeds/k12_buildings.csv has no building {building} (")
    assert message.endswith(f"add: {row_to_add('k12_buildings', {'building_code': building})})")


def test_a_missing_district_names_the_seed_and_the_row_to_add(con):
    district, n = con.execute(
        f"SELECT district_code, count(*) FROM {RECORDS} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchone()
    con.execute("DELETE FROM reference.k12_districts WHERE district_code = ?", [district])
    problem = _only(missing_reference(con), "k12_districts")
    assert problem.message().startswith(f"seeds/k12_districts.csv has no district {district} (district of {n} records")
    assert problem.row == f"{district},<district_name>,<county_code>,<locale>,<size_weight>"


def test_srm_records_need_the_fall_and_spring_rows_and_a_code_is_named_once():
    """A hand-built warehouse: an SRM needs the fall and spring rows of its year; a building
    missing as both a record's building and an S2E2 building is one row to add."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA intermediate; CREATE SCHEMA reference")
    con.execute(
        "CREATE TABLE intermediate.int_msds__records AS SELECT * FROM (VALUES "
        "('2030-31', 'SRM', '10010', '10005', NULL), ('2012-13', 'FALL', '10010', '09999', NULL), "
        "('2012-13', 'SPRING', '10010', '10005', '09999')) "
        "AS t(school_year, collection, district_code, building_code, s2e2_building_code)"
    )
    for seed in ("msds_collection_calendar", "k12_buildings", "k12_districts"):
        con.execute(
            f"CREATE TABLE reference.{seed} AS SELECT * FROM read_csv(?, all_varchar = true)",
            [str(paths.SEEDS_DIR / f"{seed}.csv")],
        )
    con.execute("DELETE FROM reference.msds_collection_calendar WHERE school_year = '2030-31'")
    messages = [p.message() for p in missing_reference(con)]
    assert messages == [
        "seeds/msds_collection_calendar.csv has no row for school year 2030-31, collection fall (needed by 1 "
        "loaded record; add: 2030-31,fall,<count_date>,<testing_window_start>,<as_of_start>,<as_of_end>,"
        "<certification_deadline>)",
        "seeds/msds_collection_calendar.csv has no row for school year 2030-31, collection spring (needed by 1 "
        "loaded record; add: 2030-31,spring,<count_date>,<testing_window_start>,<as_of_start>,<as_of_end>,"
        "<certification_deadline>)",
        "seeds/k12_buildings.csv has no building 09999 (building of 1 record in 2012-13, reported with district "
        "10010; S2E2 building of 1 record in 2012-13; add: 09999,<building_name>,<district_code>,<school_level>,"
        "<low_grade>,<high_grade>)",
    ]


def test_an_unknown_code_is_quarantined_naming_its_code_set_and_the_seed_row_to_add():
    from orchestration.lib.contracts.suites import load_rules

    rules = load_rules("msds")
    (grade,) = [r for r in rules if r.type == "expect_column_values_to_be_in_set" and r.columns == ["grade"]]
    assert grade.rule == (
        "grade is not a code of msds_grade; if the code is valid, add it to seeds/code_sets.csv: "
        f"{row_to_add('code_sets', {'code_set': 'msds_grade'})}"
    )
    assert row_to_add("code_sets", {"code_set": "msds_grade"}).startswith("msds_grade,<code>")


def test_the_check_is_blocking_and_every_release_of_k12_records_waits_for_it():
    from dagster._core.execution.api import create_execution_plan

    from orchestration.definitions import defs

    key = reference_checks.check_key()
    assert defs.resolve_asset_graph().get_check_spec(key).blocking
    assert key.asset_key == quality.reconciled_key("msds")  # a release gate of the K-12 releases
    plan = create_execution_plan(defs.resolve_job_def("marts"))

    def waits_for(step_key: str) -> set[str]:
        step = plan.get_step_by_key(step_key)
        return {h.step_key for i in step.step_inputs for h in i.get_step_output_handle_dependencies()}

    check_step = "msds_reference_data_complete"
    assert "sleds_dbt_models" in waits_for(check_step)  # after the models and the seeds are built
    for release in (quality.SLEDS_RELEASE, quality.PUBLIC_SUMMARIES):
        assert check_step in waits_for("__".join(release.path)), release
    # the institution marts hold postsecondary records only
    assert check_step not in waits_for("release__institution_marts")


@pytest.mark.integration
def test_a_failed_reference_check_holds_the_releases_back(tiny_warehouse, tmp_path, monkeypatch):
    """Dagster runs the check and the releases that wait for it on a copy of the built home:
    complete, the releases run; once the calendar lacks a row, the check fails naming the row,
    the releases never start, and no release folder or disclosure log entry changes."""
    from orchestration.definitions import defs
    from orchestration.lib.governance.disclosure_log import disclosure_log_path
    from tests.test_release_content import _release_folders

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    releases = {quality.SLEDS_RELEASE, quality.PUBLIC_SUMMARIES}
    job = defs.resolve_job_def("marts").get_subset(
        asset_selection=releases, asset_check_selection={reference_checks.check_key()}
    )

    def run():
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
        materialized = {e.asset_key for e in result.all_events if e.is_step_materialization}
        return result, started, materialized

    complete, started, materialized = run()
    assert complete.success and materialized == releases, started  # the same run with nothing missing

    with duckdb.connect(str(paths.warehouse_path())) as con:
        year = con.execute(f"SELECT max(school_year) FROM {RECORDS} WHERE collection = 'SPRING'").fetchone()[0]
        con.execute("DELETE FROM reference.msds_collection_calendar WHERE school_year = ? AND collection = 'spring'",
                    [year])  # fmt: skip
    folders, logged = _release_folders(paths.releases_dir()), disclosure_log_path().read_bytes()
    result, started, materialized = run()
    assert not result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == reference_checks.REFERENCE_COMPLETE and not evaluation.passed
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    text = failure.step_failure_data.user_failure_data.description
    assert text.startswith(
        "releases blocked by check intermediate/int_msds__records:reference_data_complete: reference data missing "
        f"for loaded msds records: seeds/msds_collection_calendar.csv has no row for school year {year}, "
        "collection spring ("
    ), text
    assert f"add: {year},spring,<count_date>," in text
    assert "release/sleds_release" in text and "publish/public_summaries" in text
    assert started == {"msds_reference_data_complete"} and not materialized
    assert _release_folders(paths.releases_dir()) == folders and disclosure_log_path().read_bytes() == logged
