"""The public tables are defined as data: a row of seeds/publish_tables.csv and a dbt
model models/publish/pub_<table_id>.sql. Adding one needs no Python: the test copies
the dbt project and the seeds, adds a model and a seed row, builds them on a copy of
the tiny warehouse, and the publish stage picks the new table up. A row without its
model (or a model without its row) stops the publication naming what to add."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from orchestration.lib import paths
from orchestration.lib.publish.release import publish
from orchestration.lib.publish.summaries import (
    PublishLayerError,
    build_summary_tables,
    check_layer,
    in_engine_order,
    table_specs,
    upstream_relations,
)
from tests.conftest import copy_home, subprocess_env, venv_bin

PUBLISH_MODELS = paths.DBT_PROJECT_DIR / "models" / "publish"

NEW_TABLE = "k12_accountable_by_gender"
# a table of an existing population (the accountable students of k12_accountable_by_race):
# the two are suppressed together, so their shared All Students cells must agree
NEW_MODEL_SQL = """\
-- Students counted in fall accountability of the latest school year by gender.
with students as (
    select
        'k12_' || s.school_year || '_fall_accountable' as population,
        s.school_year,
        s.accountable_district_code as district,
        s.accountable_building_code as building,
        coalesce(s.gender, 'Not reported') as category
    from {{ ref('fct_k12_accountability_students') }} as s
    where
        s.school_year = {{ publish_latest(ref('fct_k12_accountability_students'), 'school_year') }}
        and s.testing_window = 'fall'
        and s.enrolled_at_window
        and s.included_in_accountability
),

{{ publish_grid('students', 'k12', 'gender', ['population', 'school_year']) }}
"""
NEW_SEED_ROW = {
    "table_id": NEW_TABLE,
    "policy": "nces_2011_603",
    "measure": "count",
    "other_information": "true",
    "outcome": "",
    "description": "Students counted in fall accountability by gender: state, district, school",
}


def _contract_columns(model: str) -> list[dict]:
    spec = yaml.safe_load((PUBLISH_MODELS / "_publish.yml").read_text())
    return next(m for m in spec["models"] if m["name"] == model)["columns"]


def test_every_seed_row_has_its_model_with_an_enforced_contract_and_every_model_its_row():
    specs = table_specs()
    models = {p.stem for p in PUBLISH_MODELS.glob("pub_*.sql")}
    assert models == {f"pub_{t}" for t in specs}
    spec = yaml.safe_load((PUBLISH_MODELS / "_publish.yml").read_text())
    documented = {m["name"]: m for m in spec["models"]}
    assert set(documented) == models
    for name, model in documented.items():
        assert model["config"]["contract"]["enforced"], name
        assert model.get("description"), name
        for column in model["columns"]:
            assert column.get("description") and column.get("data_type"), f"{name}.{column['name']}"
        rate = specs[name.removeprefix("pub_")]["measure"] == "rate"
        assert ("numerator" in {c["name"] for c in model["columns"]}) == rate, name


def test_the_publish_asset_reads_the_seed_and_every_model():
    assert upstream_relations() == [("reference", "publish_tables"), *(("publish", f"pub_{t}") for t in table_specs())]


def test_a_seed_row_without_its_model_and_a_model_without_its_row_name_what_to_add():
    specs = {"a": {}, "b": {}}
    check_layer(specs, {"pub_a", "pub_b"})
    missing_model = r"row 'b' has no table publish\.pub_b: add dbt_project/models/publish/pub_b\.sql"
    with pytest.raises(PublishLayerError, match=missing_model):
        check_layer(specs, {"pub_a"})
    missing_row = r"publish\.pub_c has no row in seeds/publish_tables\.csv: add a row with table_id 'c'"
    with pytest.raises(PublishLayerError, match=missing_row):
        check_layer(specs, {"pub_a", "pub_b", "pub_c"})


def test_cells_reach_the_engine_in_one_order_whatever_order_the_warehouse_returns():
    # the engine breaks ties between equally cheap complements by row order
    rows = [
        ("state", "STATE", None, "all", "All Students", 5),
        ("state", "STATE", None, "sex", "F", 3),
        ("state", "STATE", None, "sex", "M", 2),
        ("sector", "SECTOR:a", "STATE", "all", "All Students", 5),
        ("sector", "SECTOR:a", "STATE", "sex", "F", 3),
        ("sector", "SECTOR:a", "STATE", "sex", "M", 2),
        ("institution", "INST:1", "SECTOR:a", "all", "All Students", 4),
        ("institution", "INST:2", "SECTOR:a", "all", "All Students", 1),
        ("institution", "INST:1", "SECTOR:a", "sex", "F", 3),
        ("institution", "INST:1", "SECTOR:a", "sex", "M", 1),
        ("institution", "INST:2", "SECTOR:a", "sex", "F", 0),
        ("institution", "INST:2", "SECTOR:a", "sex", "M", 1),
    ]
    cells = pd.DataFrame(rows, columns=["level", "unit_id", "parent_unit_id", "grouping", "category", "n"])
    for seed in range(3):
        shuffled = cells.sample(frac=1, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(in_engine_order(shuffled), cells)


def _project_copy(root: Path) -> Path:
    """The dbt project and the seeds, side by side as in the repository (the project
    reads ../seeds), without dbt's build output."""
    shutil.copytree(paths.DBT_PROJECT_DIR, root / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(paths.SEEDS_DIR, root / "seeds")
    return root / "dbt_project"


def _add_table(project: Path) -> None:
    """What docs/suppression.md asks for: the model, its contract, its seed row."""
    models = project / "models" / "publish"
    (models / f"pub_{NEW_TABLE}.sql").write_text(NEW_MODEL_SQL)
    spec = yaml.safe_load((models / "_publish.yml").read_text())
    spec["models"].append(
        {
            "name": f"pub_{NEW_TABLE}",
            "description": NEW_SEED_ROW["description"],
            "config": {"contract": {"enforced": True}},
            "columns": _contract_columns("pub_k12_accountable_by_race"),
        }
    )
    (models / "_publish.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    seed = project.parent / "seeds" / "publish_tables.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    with seed.open("a", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, header, lineterminator="\n").writerow(NEW_SEED_ROW)


def _dbt(project: Path, warehouse: Path, *args: str) -> None:
    cmd = [venv_bin("dbt"), *args, "--project-dir", str(project), "--profiles-dir", str(project), "--no-use-colors"]
    env = subprocess_env(SLEDS_WAREHOUSE=str(warehouse), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


@pytest.mark.integration
def test_a_new_public_table_is_a_model_and_a_seed_row(tiny_warehouse, tmp_path, monkeypatch):
    home = copy_home(tiny_warehouse, tmp_path / "home")
    warehouse = home / "warehouse.duckdb"
    project = _project_copy(tmp_path / "repo")
    _add_table(project)
    # only what changed: the seed and the new model (the marts are already built)
    _dbt(project, warehouse, "build", "--select", "publish_tables", f"pub_{NEW_TABLE}")

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {t.table_id: t for t in build_summary_tables(con)}
        school_year, accountable, by_gender = con.execute(
            "SELECT school_year, count(*), count(DISTINCT coalesce(gender, 'Not reported')) "
            "FROM marts.fct_k12_accountability_students WHERE school_year = "
            "(SELECT max(school_year) FROM marts.fct_k12_accountability_students) "
            "AND testing_window = 'fall' AND enrolled_at_window AND included_in_accountability GROUP BY school_year"
        ).fetchone()
    finally:
        con.close()

    assert set(tables) == set(table_specs()) | {NEW_TABLE}
    new, sibling = tables[NEW_TABLE], tables["k12_accountable_by_race"]
    assert (new.policy, new.measure, new.other_information) == ("nces_2011_603", "count", True)
    assert new.population == sibling.population == f"k12_{school_year}_fall_accountable"
    assert new.extra == {"school_year": school_year}
    cells = new.cells
    state = cells[cells["unit_id"] == "STATE"]
    assert state.loc[state["grouping"] == "all", "n"].tolist() == [accountable]
    assert state.loc[state["grouping"] == "gender", "n"].sum() == accountable
    # every unit lists every gender (zeros included) and its All Students row
    per_unit = cells[cells["grouping"] == "gender"].groupby("unit_id")["category"].nunique()
    assert (per_unit == by_gender).all()
    assert set(cells.loc[cells["grouping"] == "all", "unit_id"]) == set(cells["unit_id"])
    # the shared population's All Students cells are the same counts in both tables
    totals = ["unit_id", "n"]
    assert (
        cells.loc[cells["grouping"] == "all", totals].sort_values("unit_id").values.tolist()
        == sibling.cells.loc[sibling.cells["grouping"] == "all", totals].sort_values("unit_id").values.tolist()
    )

    # the copied repository's seeds are the product's seeds here (the public folder's
    # reader checks its descriptions against them)
    monkeypatch.setattr(paths, "SEEDS_DIR", project.parent / "seeds")
    pub = publish(list(tables.values()), tmp_path / "public", run_id="new-table", as_of=dt.date(2026, 1, 1))
    assert pub.audit["passed"] and pub.tables[NEW_TABLE] == len(cells)
    assert (tmp_path / "public" / "tables" / f"{NEW_TABLE}.parquet").exists()
    assert pub.manifest["descriptions"][NEW_TABLE] == NEW_SEED_ROW["description"]


@pytest.mark.integration
def test_the_publication_stops_when_seed_and_models_disagree(tiny_warehouse, tmp_path):
    warehouse = copy_home(tiny_warehouse, tmp_path / "home") / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CREATE TABLE publish.pub_orphan AS SELECT * FROM publish.pub_k12_enrollment_by_race")
        with pytest.raises(PublishLayerError, match=r"publish\.pub_orphan has no row in seeds/publish_tables\.csv"):
            build_summary_tables(con)
        con.execute("DROP TABLE publish.pub_orphan")
        con.execute("DROP TABLE publish.pub_ps_awards_by_level")
        with pytest.raises(PublishLayerError, match=r"add dbt_project/models/publish/pub_ps_awards_by_level\.sql"):
            build_summary_tables(con)
    finally:
        con.close()
