"""The input data model: a summary table of cells, one row per published cell.

A `SummaryTable` is what the publish stage builds from the marts. Its cells carry the
geographic / organisational hierarchy (`unit_id`, `parent_unit_id`), the grouping and
category of each group, the group size `n` and, for rates, the `numerator`.
Structure is public (a reader knows a district is the sum of its schools and that a
grouping's categories sum to All Students); the values are confidential.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

MEASURES = ("count", "rate")
ALL_GROUPING = "all"

# Columns every output row carries so that a release is self-describing: an auditor (or
# a later run differencing releases) needs nothing else to rebuild what a reader knows.
KEY_COLUMNS = [
    "table_id",
    "population",
    "policy",
    "measure",
    "outcome",
    "level",
    "unit_id",
    "parent_unit_id",
    "grouping",
    "category",
    "children_complete",
    "partitions_total",
]
RESULT_COLUMNS = ["status", "display", "reason", "rule_id", "n_published", "n_display", "n_reason"]
OUTPUT_COLUMNS = KEY_COLUMNS + RESULT_COLUMNS


class TableError(ValueError):
    """A summary table that cannot be suppressed as given (names the table and the problem)."""


@dataclass
class SummaryTable:
    """One table to publish.

    `outcome` names what the numerator counts (tables of the same population and outcome
    share numerators); it defaults to the table id.
    """

    table_id: str
    policy: str
    measure: str
    other_information: bool
    population: str
    cells: pd.DataFrame
    outcome: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome is None:
            self.outcome = self.table_id if self.measure == "rate" else ""


def normalised_cells(table: SummaryTable) -> pd.DataFrame:
    """The table's cells with optional columns filled in and types checked.

    Raises TableError naming the table and the first problem found.
    """
    where = f"table {table.table_id!r}"
    if table.measure not in MEASURES:
        raise TableError(f"{where}: measure must be one of {MEASURES}, got {table.measure!r}")
    cells = table.cells.copy()
    required = ["level", "unit_id", "parent_unit_id", "grouping", "category", "n"]
    if table.measure == "rate":
        required.append("numerator")
    missing = [c for c in required if c not in cells.columns]
    if missing:
        raise TableError(f"{where}: cells lack column(s) {missing}")
    if "children_complete" not in cells.columns:
        cells["children_complete"] = True
    if "partitions_total" not in cells.columns:
        cells["partitions_total"] = True
    if "numerator" not in cells.columns:
        cells["numerator"] = pd.NA
    cells["children_complete"] = cells["children_complete"].fillna(True).astype(bool)
    cells["partitions_total"] = cells["partitions_total"].fillna(True).astype(bool)
    for col in ("level", "unit_id", "grouping", "category"):
        cells[col] = cells[col].astype(str)
    cells["parent_unit_id"] = cells["parent_unit_id"].map(lambda v: None if v is None or pd.isna(v) else str(v))
    if cells["n"].isna().any() or (pd.to_numeric(cells["n"]) < 0).any():
        raise TableError(f"{where}: every cell needs a non-negative integer n")
    cells["n"] = pd.to_numeric(cells["n"]).astype("int64")
    if table.measure == "rate":
        num = pd.to_numeric(cells["numerator"])
        if num.isna().any():
            raise TableError(f"{where}: a rate table needs a numerator in every cell")
        if (num < 0).any() or (num > cells["n"]).any():
            raise TableError(f"{where}: numerators must lie between 0 and n")
        cells["numerator"] = num.astype("int64")
    dup = cells.duplicated(["unit_id", "grouping", "category"])
    if dup.any():
        row = cells[dup].iloc[0]
        raise TableError(f"{where}: cell ({row.unit_id}, {row.grouping}, {row.category}) appears twice")
    cells["table_id"] = table.table_id
    cells["population"] = table.population
    cells["policy"] = table.policy
    cells["measure"] = table.measure
    cells["outcome"] = table.outcome or ""
    return cells.reset_index(drop=True)
