"""dbt marts: contracts and descriptions everywhere, research IDs only, and the
accountability and pathway definitions hold on the tiny data set. The rule-by-rule
checks are dbt unit tests (models/**/_*_unit_tests.yml), run by every `dbt build`."""

import json

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.dbt_prepare import ensure_manifest
from orchestration.lib.reference import FEEDS, feed_layout
from tests.conftest import open_vault

PII = sorted({c.name for feed in FEEDS for c in feed_layout(feed) if c.pii})


def _models(manifest):
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_mart_and_release_model_has_an_enforced_contract_and_typed_columns():
    manifest = json.loads(ensure_manifest().read_text())
    governed = [m for m in _models(manifest) if m["fqn"][1] in ("marts", "release")]
    assert len(governed) >= 12
    for model in governed:
        assert model["config"]["contract"]["enforced"], f"{model['name']} has no enforced contract"
        untyped = [c for c, spec in model["columns"].items() if not spec.get("data_type")]
        assert not untyped, f"{model['name']}: columns without data_type {untyped}"


def test_every_model_column_has_a_description():
    manifest = json.loads(ensure_manifest().read_text())
    for model in _models(manifest):
        assert model["description"].strip(), f"{model['name']} has no description"
        missing = [c for c, spec in model["columns"].items() if not spec.get("description", "").strip()]
        assert not missing, f"{model['name']}: columns without description {missing}"


def test_every_accountability_rule_has_a_unit_test():
    manifest = json.loads(ensure_manifest().read_text())
    tested = {u["model"] if isinstance(u["model"], str) else u["model"] for u in manifest["unit_tests"].values()}
    names = {u["name"] for u in manifest["unit_tests"].values()}
    for model in ("int_msds__srm_decisions", "int_msds__effective_records", "int_k12__collection_pepe",
                  "int_k12__student_characteristics", "int_k12__fay_districts", "fct_k12_accountability_students",
                  "fct_k12_record_dispositions", "fct_assessment_participation", "fct_assessment_results",
                  "fct_assessment_results_by_subgroup"):  # fmt: skip
        assert model in tested, f"no unit test for {model}"
    assert len(names) >= 5


@pytest.fixture(scope="module")
def wh(tiny_warehouse, monkeypatch_module):
    monkeypatch_module.setenv("SLEDS_HOME", str(tiny_warehouse))
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _tables(con, schemas):
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
        f"({', '.join('?' for _ in schemas)})",
        list(schemas),
    ).fetchall()


@pytest.mark.integration
def test_marts_and_releases_carry_no_identifier_columns_or_values(wh, tiny_warehouse, tmp_path):
    schemas = ("intermediate", "marts", "release_sleds", "release_institution")
    tables = _tables(wh, schemas)
    assert len(tables) >= 15
    vault = open_vault(tiny_warehouse, tmp_path / "vault")
    identifiers = {
        v
        for q in (
            "SELECT uic FROM landing.msds_identity",
            "SELECT ssn FROM landing.ps_enrollment_identity",
            "SELECT marss_number FROM landing.ps_enrollment_identity",
            "SELECT institution_student_number FROM landing.ps_enrollment_identity",
        )
        for (v,) in vault.execute(q).fetchall()
        if v and len(v) >= 5
    }
    vault.close()
    assert len(identifiers) > 100
    wh.execute("CREATE TEMP TABLE ids (v VARCHAR)")
    wh.executemany("INSERT INTO ids VALUES (?)", [(v,) for v in identifiers])
    for schema, table in tables:
        cols = wh.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
        assert not [c for c, _ in cols if c in PII], f"{schema}.{table} has a PII column"
        for col, dtype in cols:
            if dtype == "VARCHAR":
                hits = wh.execute(f'SELECT count(*) FROM {schema}.{table} t JOIN ids ON ids.v = t."{col}"').fetchall()
                assert hits[0][0] == 0, f"{schema}.{table}.{col} holds official identifiers"


@pytest.mark.integration
def test_one_accountability_row_per_student_window_with_exactly_one_race_group(wh):
    rows, students, race = wh.execute(
        "SELECT count(*), count(DISTINCT (research_id, school_year, testing_window)), "
        "count(*) FILTER (WHERE race_ethnicity_subgroup IS NULL) FROM marts.fct_k12_accountability_students"
    ).fetchall()[0]
    assert rows == students > 0 and race == 0
    # every student x window is in the bridge as All Students and in exactly one race group
    bad = wh.execute(
        "SELECT count(*) FROM (SELECT research_id, school_year, testing_window, "
        "count(*) FILTER (WHERE subgroup_code = 'all_students') a, "
        "count(*) FILTER (WHERE subgroup_code = 'race_ethnicity') r "
        "FROM marts.fct_k12_accountability_subgroups GROUP BY ALL) WHERE a <> 1 OR r <> 1"
    ).fetchall()[0][0]
    assert bad == 0


@pytest.mark.integration
def test_pathway_outcomes_are_null_until_observable(wh):
    last = wh.execute("SELECT max(term_end_date) FROM marts.fct_ps_enrollment").fetchall()[0][0]
    rows = wh.execute(
        "SELECT graduation_cohort, count(*) FILTER (WHERE completed_any_award_within_4_years IS NULL), count(*) "
        "FROM marts.fct_pathways_hs_to_college GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows
    for cohort, nulls, n in rows:
        observable = cohort + 4 < last.year or (cohort + 4 == last.year and last.month >= 7)
        if observable:
            assert nulls == 0, f"cohort {cohort}: 4-year completion observable yet null"
        elif cohort + 4 > last.year:
            assert nulls == n, f"cohort {cohort}: 4-year completion reported before it can be observed"
