"""The public summary tables, read from the warehouse in the shape the suppression
engine takes (orchestration/lib/disclosure/tables.py).

A public table is two things, both data:
  - a row of seeds/publish_tables.csv (loaded by dbt as reference.publish_tables): its
    policy, measure, other information, outcome and description;
  - a dbt model dbt_project/models/publish/pub_<table_id>.sql (built as
    publish.pub_<table_id>): its cell grid, one row per published cell, with the
    population it counts and the year it describes.

This module only pairs them; counting, the latest year and which institutions may be
named are SQL (macros/publish_grid.sql). A row without its model, or a model without
its row, stops the publication with what to add."""

from __future__ import annotations

import pandas as pd

from orchestration.lib.disclosure.tables import SummaryTable
from orchestration.lib.reference import read_seed

SCHEMA = "publish"
PREFIX = "pub_"
SEED = "reference.publish_tables"
# what the engine takes as cells; every other column of a pub_ model except the
# population labels the table (its year, cohort) and goes to SummaryTable.extra
CELL_COLUMNS = ["level", "unit_id", "parent_unit_id", "grouping", "category", "n", "numerator", "children_complete"]


class PublishLayerError(RuntimeError):
    """The seed and the publish models disagree: names what to add."""


def model_name(table_id: str) -> str:
    return f"{PREFIX}{table_id}"


def table_specs() -> dict[str, dict]:
    """seeds/publish_tables.csv as shipped, by table id."""
    return {row["table_id"]: row for row in read_seed("publish_tables")}


def upstream_relations() -> list[tuple[str, str]]:
    """(schema, name) of what the publish stage reads: the seed and every table's model
    (dbt's asset keys for them, so lineage runs from the marts to the release)."""
    return [tuple(SEED.split(".")), *((SCHEMA, model_name(t)) for t in table_specs())]


def _warehouse_specs(con) -> dict[str, dict]:
    # in the seed's row order (dbt loads the file in order): the engine attributes a cell
    # shared by two tables of one population to the first, so the order is kept
    rows = con.execute(f"SELECT * FROM {SEED} ORDER BY rowid").df()
    return {r["table_id"]: r for r in rows.to_dict("records")}


def _built_models(con) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND starts_with(table_name, ?)",
        [SCHEMA, PREFIX],
    ).fetchall()
    return {r[0] for r in rows}


def check_layer(specs: dict[str, dict], models: set[str]) -> None:
    """Every seed row has its built model and every model its seed row."""
    problems = []
    for table_id in sorted(specs):
        if model_name(table_id) not in models:
            problems.append(
                f"seeds/publish_tables.csv row {table_id!r} has no table {SCHEMA}.{model_name(table_id)}: add "
                f"dbt_project/models/publish/{model_name(table_id)}.sql (with its contract in _publish.yml) and "
                "run dbt build"
            )
    for name in sorted(models - {model_name(t) for t in specs}):
        problems.append(
            f"{SCHEMA}.{name} has no row in seeds/publish_tables.csv: add a row with table_id "
            f"{name.removeprefix(PREFIX)!r} (policy, measure, other_information, outcome, description), or drop "
            "the table if its model was removed"
        )
    if problems:
        raise PublishLayerError("the public tables are not all defined:\n- " + "\n- ".join(problems))


def _depth(cells: pd.DataFrame) -> pd.Series:
    """How far each cell's unit is below the top of its hierarchy (state = 0)."""
    parent = {
        u: (None if p is None or pd.isna(p) else p)
        for u, p in zip(cells["unit_id"], cells["parent_unit_id"], strict=True)
    }

    def depth(unit: str) -> int:
        d = 0
        while parent.get(unit) is not None and d <= len(parent):
            unit, d = parent[unit], d + 1
        return d

    return cells["unit_id"].map({u: depth(u) for u in parent})


def in_engine_order(cells: pd.DataFrame) -> pd.DataFrame:
    """Top level first, each unit's All Students row before its grid, then units and
    categories by name. The engine breaks ties between equally cheap complementary
    cells by row order, so a fixed order makes a publication reproducible."""
    key = cells.assign(_depth=_depth(cells), _grid=cells["grouping"] != "all")
    key = key.sort_values(["_depth", "_grid", "unit_id", "category"], kind="stable")
    return key.drop(columns=["_depth", "_grid"]).reset_index(drop=True)


def _scalar(value):
    return value.item() if hasattr(value, "item") else value


def _table(spec: dict, frame: pd.DataFrame) -> SummaryTable:
    table_id = spec["table_id"]
    where = f"{SCHEMA}.{model_name(table_id)}"
    if "population" not in frame.columns:
        raise PublishLayerError(f"{where} has no population column")
    populations = frame["population"].unique()
    if len(populations) != 1:
        raise PublishLayerError(f"{where}: one population per table, got {sorted(map(str, populations))}")
    labels = [c for c in frame.columns if c not in CELL_COLUMNS and c != "population"]
    extra = {}
    for col in labels:
        values = frame[col].unique()
        if len(values) != 1:
            raise PublishLayerError(f"{where}: {col} must be constant over the table, got {len(values)} values")
        extra[col] = _scalar(values[0])
    cells = in_engine_order(frame[[c for c in CELL_COLUMNS if c in frame.columns]])
    outcome = spec.get("outcome")
    return SummaryTable(
        table_id=table_id,
        policy=spec["policy"],
        measure=spec["measure"],
        other_information=bool(spec["other_information"]),
        population=str(populations[0]),
        cells=cells,
        outcome=None if outcome is None or pd.isna(outcome) or outcome == "" else str(outcome),
        description=spec["description"] or "",
        extra=extra,
    )


def build_summary_tables(con) -> list[SummaryTable]:
    """One SummaryTable per row of reference.publish_tables, cells from its pub_ model.
    A table with no students in its population (an empty model) is not published."""
    specs = _warehouse_specs(con)
    check_layer(specs, _built_models(con))
    tables = []
    for table_id, spec in specs.items():
        frame = con.execute(f"SELECT * FROM {SCHEMA}.{model_name(table_id)}").df()
        if not frame.empty:
            tables.append(_table(spec, frame))
    return tables
