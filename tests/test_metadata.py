"""Complete metadata: every seed and seed column is described (seeds/_seeds.yml, read from
the dbt manifest; model columns are held to the same by tests/test_marts.py
test_every_model_column_has_a_description), every dbt asset materialization carries its
row count and dbt's timings, the institution release tables have the agreement checks
that concern them, and each release's data dictionary states the manifest's audience,
clauses and row counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.agreements import checks
from orchestration.lib.agreements.policy import clauses_for, policy, rule_clause
from orchestration.lib.dbt_prepare import ensure_manifest

SEED_PROPERTIES = paths.SEEDS_DIR / "_seeds.yml"


def _manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


def _seeds(manifest: dict) -> dict[str, dict]:
    """Every seed dbt knows, the disabled ones (the agreement registry) included."""
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "seed"]
    nodes += [n for versions in manifest.get("disabled", {}).values() for n in versions if n["resource_type"] == "seed"]
    return {n["name"]: n for n in nodes}


def _header(seed: str) -> list[str]:
    with (paths.SEEDS_DIR / f"{seed}.csv").open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


# ---------------------------------------------------------------- seed descriptions


def test_every_seed_and_every_seed_column_has_a_description():
    seeds = _seeds(_manifest())
    files = sorted(p.stem for p in paths.SEEDS_DIR.glob("*.csv"))
    assert sorted(seeds) == files, "every CSV in seeds/ is a dbt seed"
    for name, node in seeds.items():
        assert node.get("description", "").strip(), f"seed {name} has no description"
        columns = node.get("columns", {})
        header = _header(name)
        assert sorted(columns) == sorted(header), f"seed {name}: described columns {sorted(columns)} != CSV {header}"
        missing = [c for c, spec in columns.items() if not spec.get("description", "").strip()]
        assert not missing, f"seed {name}: columns without description {missing}"


def test_seed_descriptions_reach_the_dagster_reference_assets():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for name, node in _seeds(_manifest()).items():
        if not node["config"].get("enabled", True):
            continue
        spec = graph.get(dg.AssetKey(["reference", name]))
        assert spec.description and spec.description.strip() == node["description"].strip(), name


def test_seed_descriptions_cite_only_seeded_clauses():
    from tests.test_policy import CLAUSE_MENTION, seed_clauses

    known = seed_clauses()
    text = SEED_PROPERTIES.read_text(encoding="utf-8")
    cited = {m for line in text.splitlines() for m in CLAUSE_MENTION.findall(line)}
    assert cited and cited <= known, sorted(cited - known)


# ---------------------------------------------------------------- row counts on dbt assets


@pytest.fixture()
def small_warehouse(tmp_path, monkeypatch) -> Path:
    """A SLEDS_HOME whose warehouse holds one seed table and one staging view, as dbt names them."""
    monkeypatch.setenv("SLEDS_HOME", str(tmp_path))
    con = duckdb.connect(str(paths.warehouse_path()))
    con.execute("CREATE SCHEMA reference; CREATE SCHEMA staging; CREATE SCHEMA raw")
    con.execute("CREATE TABLE reference.code_sets AS SELECT range AS code FROM range(3)")
    con.execute("CREATE TABLE raw.msds AS SELECT range AS n FROM range(5)")
    con.execute("CREATE VIEW staging.stg_msds__records AS SELECT * FROM raw.msds WHERE n > 0")
    con.close()
    return tmp_path


def test_built_dbt_assets_carry_their_row_count_and_dbt_timings(small_warehouse):
    from orchestration.defs.marts import ROW_COUNT, with_build_metadata

    seed, view = "seed.sleds.code_sets", "model.sleds.stg_msds__records"
    check = dg.AssetCheckResult(asset_key=dg.AssetKey(["reference", "code_sets"]), check_name="c", passed=True)
    events = [
        dg.Output(None, output_name="code_sets", metadata={"unique_id": seed}),
        check,
        dg.AssetMaterialization(asset_key=dg.AssetKey(["staging", "stg_msds__records"]), metadata={"unique_id": view}),
    ]
    run_results = {
        "elapsed_time": 12.5,
        "results": [
            {"unique_id": seed, "execution_time": 0.25, "timing": [
                {"name": "compile", "started_at": "2026-01-01T00:00:00.000000Z",
                 "completed_at": "2026-01-01T00:00:00.100000Z"},
                {"name": "execute", "started_at": "2026-01-01T00:00:00.100000Z",
                 "completed_at": "2026-01-01T00:00:00.250000Z"}]},
        ],
    }  # fmt: skip
    out = list(with_build_metadata(events, run_results))
    assert out[1] is check  # a check result passes through as it came
    assert out[0].metadata[ROW_COUNT].value == 3
    assert out[2].metadata[ROW_COUNT].value == 4  # a view is counted too (the staging models are views)
    timing = {k: v.value for k, v in out[0].metadata.items() if k.startswith("dbt/")}
    assert timing == {"dbt/execution_seconds": 0.25, "dbt/compile_seconds": 0.1, "dbt/execute_seconds": 0.15,
                      "dbt/build_seconds": 12.5}  # fmt: skip
    assert out[0].metadata["unique_id"].value == seed  # dagster-dbt's own metadata is kept


def test_a_count_that_cannot_be_taken_leaves_the_events_and_says_so(small_warehouse):
    from orchestration.defs.marts import ROW_COUNT, with_build_metadata

    warned = []

    class Log:
        def warning(self, msg):
            warned.append(msg)

        def info(self, msg):
            pass

    paths.warehouse_path().unlink()  # nothing to count: the events still go out, without a count
    event = dg.Output(None, output_name="code_sets", metadata={"unique_id": "seed.sleds.code_sets"})
    out = list(with_build_metadata([event], {}, Log()))
    assert len(out) == 1 and ROW_COUNT not in out[0].metadata and warned


@pytest.mark.integration
def test_every_dbt_asset_materialized_by_the_tiny_build_has_its_exact_row_count(tiny_warehouse):
    from orchestration.defs.marts import ROW_COUNT, sleds_dbt_models
    from orchestration.runner import instance

    nodes = _manifest()["nodes"]
    dagster = instance(tiny_warehouse)
    con = duckdb.connect(str(paths.warehouse_path(tiny_warehouse)), read_only=True)
    try:
        for key in sleds_dbt_models.keys:
            event = dagster.get_latest_materialization_event(key)
            assert event is not None, key.to_user_string()
            metadata = event.asset_materialization.metadata
            assert ROW_COUNT in metadata, f"{key.to_user_string()} has no row count"
            assert "dbt/execution_seconds" in metadata, key.to_user_string()
            node = nodes[metadata["unique_id"].value]
            actual = con.execute(f'SELECT count(*) FROM "{node["schema"]}"."{node["alias"]}"').fetchone()[0]
            assert metadata[ROW_COUNT].value == actual, key.to_user_string()
    finally:
        con.close()


# ---------------------------------------------------------------- institution release checks


def _release_db(rows: list[tuple], *, extra_column: str | None = None, restriction: str | None = None):
    """An in-memory warehouse with the registry tables and one institution release table.
    `rows`: (agreement_id, academic_year, gender_identity_a); agreements A-1 (active, no
    gender identity permission) and A-2 (expired)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA governance; CREATE SCHEMA release_institution")
    con.execute(
        "CREATE TABLE governance.agreements AS SELECT * FROM (VALUES "
        "('A-1', '1000214', 'active', false, false, false), ('A-2', '1000297', 'expired', false, false, false)) "
        "t(agreement_id, institution_code, status, "
        "permit_institution_identification, permit_gender_identity_institution_level, honour_ferpa_block)"
    )
    con.execute(
        "CREATE TABLE governance.agreement_restrictions (agreement_id VARCHAR, element VARCHAR, audience VARCHAR, "
        "academic_year_from VARCHAR, academic_year_to VARCHAR, clause VARCHAR)"
    )
    if restriction:  # the registry withholds gender identity in 2021-22 from `restriction`
        con.execute(
            "INSERT INTO governance.agreement_restrictions VALUES ('A-1', 'gender_identity', ?, '2021-22', "
            "'2021-22', ?)",
            [restriction, rule_clause("release_restricted_elements_withheld")],
        )
    extra = f", '1' AS {extra_column}" if extra_column else ""
    con.execute(
        "CREATE TABLE release_institution.rel_institution__ps_awards AS SELECT a.institution_code, t.* "
        f"{extra} FROM (VALUES {', '.join('(?, ?, ?)' for _ in rows)}) t(agreement_id, academic_year, "
        "gender_identity_a) JOIN governance.agreements a USING (agreement_id)",
        [v for row in rows for v in row],
    )
    return con


def _failed(con) -> set[str]:
    allowlist = checks.release_allowlist(ensure_manifest(), checks.INSTITUTION_SCHEMA)
    return {r.name for r in checks.check_institution_release(con, allowlist) if not r.passed}


def test_institution_release_checks_catch_each_violation_and_spare_the_institutions_own_data():
    assert checks.INSTITUTION_AUDIENCE == "institution_mart"
    # the institution's own gender identity, under an agreement that does not permit showing
    # it to others, is its own data: no check objects
    own = _release_db([("A-1", "2021-22", "A")])
    assert _failed(own) == set()
    assert checks.INSTITUTION_RULES == ("release_columns_match_allowlist", "release_restricted_elements_withheld")
    # rows of an institution whose agreement is no longer active are the export's to leave
    # out (no mart for it, its old one removed), not a block on every institution's mart
    assert _failed(_release_db([("A-1", "2021-22", "A"), ("A-2", "2021-22", None)])) == set()
    assert _failed(_release_db([("A-1", "2021-22", None)], extra_column="ssn")) == {"release_columns_match_allowlist"}
    restricted = _release_db([("A-1", "2021-22", "A")], restriction="institution_mart")
    assert _failed(restricted) == {"release_restricted_elements_withheld"}
    # a restriction for the SLEDS audience does not concern the institution marts
    assert _failed(_release_db([("A-1", "2021-22", "A")], restriction="sleds")) == set()


def test_the_institution_mart_export_refuses_tables_that_fail_a_check(monkeypatch):
    from orchestration.lib.releases import stage

    rule = "release_columns_match_allowlist"
    failing = [checks.RuleCheck(rule, rule_clause(rule), False, 3, "rel_institution__ps_awards: 3 rows")]
    monkeypatch.setattr(stage, "check_institution_tables", lambda: failing)
    monkeypatch.setattr(stage, "export_institution_marts", lambda *a, **k: pytest.fail("a blocked mart was written"))
    with pytest.raises(stage.ReleaseBlocked, match="release_columns_match_allowlist"):
        stage.release_institution_marts(run_id="r", clauses=clauses_for("institution_mart"))


# ---------------------------------------------------------------- data dictionary


def test_the_data_dictionary_states_the_manifests_audience_clauses_and_rows(tmp_path):
    from orchestration.lib.governance.data_dictionary import build_data_dictionary, render_markdown
    from orchestration.lib.releases.content import content_sha256

    clauses = clauses_for("institution_mart")
    facts = {"release": "institution_mart", "audience": "institution:1000214", "clauses": clauses,
             "tables": {"rel_institution__ps_awards": 1234, "rel_institution__ps_enrollment": 0}}  # fmt: skip
    first = build_data_dictionary(tmp_path, checks.INSTITUTION_SCHEMA, release=facts)
    md = render_markdown(first)
    assert "Audience: institution:1000214." in md
    assert "## `rel_institution__ps_awards` (1,234 rows)" in md and "## `rel_institution__ps_enrollment` (0 rows)" in md
    titles = {c.clause: c.title for c in policy().clauses.values()}
    assert first["clauses"] == [{"clause": c, "title": titles[c]} for c in clauses]
    for c in clauses:
        assert f"- {c}: {titles[c]}" in md
    # equal facts, equal dictionary but for its timestamp: the release's content hash is equal
    again = build_data_dictionary(tmp_path, checks.INSTITUTION_SCHEMA, release=json.loads(json.dumps(facts)))
    again["generated_at"] = "another time"
    assert content_sha256(facts, {}, first) == content_sha256(facts, {}, again)
    assert render_markdown({**first, "generated_at": "t"}) == render_markdown({**again, "generated_at": "t"})


@pytest.mark.integration
def test_every_release_dictionary_of_the_tiny_build_has_its_manifests_facts(tiny_warehouse):
    releases = paths.releases_dir(tiny_warehouse)
    folders = [releases / "sleds", *sorted(p for p in (releases / "institutions").iterdir() if p.is_dir())]
    assert len(folders) > 1
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        dictionary = json.loads((folder / "data_dictionary.json").read_text())
        assert dictionary["audience"] == manifest["audience"] and dictionary["audience"]
        assert [c["clause"] for c in dictionary["clauses"]] == manifest["clauses"]
        assert {t: d["rows"] for t, d in dictionary["tables"].items()} == manifest["tables"]
        md = (folder / "data_dictionary.md").read_text()
        assert f"Audience: {manifest['audience']}." in md and "Audience: -." not in md
        for table, rows in manifest["tables"].items():
            assert f"## `{table}` ({rows:,} rows)" in md
