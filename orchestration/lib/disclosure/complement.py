"""The engine's view of how published quantities are linked, and how it picks complements.

Quantities, not table cells, are suppressed: one count (population, unit, grouping,
category) or numerator (population, outcome, unit, grouping, category) may be shown by
several tables, and hiding it in one but not another hides nothing.

Links (the engine's own bookkeeping; the audit builds its LP separately):
- row: a unit's categories of one grouping sum to its 'all' group;
- hierarchy: a parent's group is the sum of its children's (per table, so two hierarchies
  over the same schools, e.g. districts and regions, are both kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.lib.disclosure.tables import ALL_GROUPING


@dataclass
class Link:
    kind: str  # 'row' or 'hierarchy'
    total: int
    parts: list[int]
    exact: bool


def build_links(cells: pd.DataFrame, qcol: str) -> list[Link]:
    """Row and hierarchy links over the quantity ids in column `qcol` (rows with qcol < 0 are skipped)."""
    cells = cells[cells[qcol] >= 0]
    links: list[Link] = []
    seen: set[tuple] = set()
    scope = ["population", "outcome"] if qcol == "nq" else ["population"]
    totals = (
        cells[cells["grouping"] == ALL_GROUPING]
        .drop_duplicates(scope + ["unit_id"])
        .set_index(scope + ["unit_id"])[qcol]
        .to_dict()
    )
    parts = cells[cells["grouping"] != ALL_GROUPING]
    for key, grp in parts.groupby(scope + ["unit_id", "grouping"], sort=False):
        total = totals.get(key[:-1])
        if total is None:
            continue
        members = sorted(set(grp[qcol].tolist()))
        sig = (int(total), tuple(members))
        if sig not in seen:
            seen.add(sig)
            links.append(Link("row", int(total), members, bool(grp["partitions_total"].all())))
    kids = cells[cells["parent_unit_id"].notna()]
    n_children = kids.groupby(["table_id", "parent_unit_id"])["unit_id"].nunique().to_dict()
    parents = cells[["table_id", "unit_id", "parent_unit_id", "grouping", "category", "children_complete", qcol]]
    joined = kids[["table_id", "unit_id", "parent_unit_id", "grouping", "category", qcol]].merge(
        parents.rename(
            columns={
                "unit_id": "parent_unit_id",
                "parent_unit_id": "grand",
                qcol: "parent_q",
                "children_complete": "parent_complete",
            }
        ),
        on=["table_id", "parent_unit_id", "grouping", "category"],
    )
    for (table_id, parent, _g, _c), grp in joined.groupby(
        ["table_id", "parent_unit_id", "grouping", "category"], sort=False
    ):
        members = sorted(set(grp[qcol].tolist()))
        exact = bool(grp["parent_complete"].all()) and grp["unit_id"].nunique() == n_children[(table_id, parent)]
        sig = (int(grp["parent_q"].iloc[0]), tuple(members))
        if sig in seen:
            continue
        seen.add(sig)
        links.append(Link("hierarchy", int(grp["parent_q"].iloc[0]), members, exact))
    return links


def index_links(links: list[Link], n_quantities: int) -> list[list[int]]:
    """For each quantity, the links it belongs to."""
    where: list[list[int]] = [[] for _ in range(n_quantities)]
    for i, link in enumerate(links):
        where[link.total].append(i)
        for q in link.parts:
            where[q].append(i)
    return where


def choose(candidates: list[int], cost_of) -> int | None:
    """The candidate with the lowest cost (ties broken by quantity id for determinism)."""
    if not candidates:
        return None
    return min(candidates, key=lambda q: (cost_of(q), q))


def cost_function(size: np.ndarray, prior_suppressed: set[int], totals: set[int], lone_links):
    """Information loss of suppressing a quantity, lowest first:
    already hidden in an earlier release; a part rather than a total; closes another link
    that holds a single hidden cell (so one cell protects two primaries); non-zero (a zero
    complement adds no uncertainty); the fewest students."""

    def cost(q: int) -> tuple:
        return (q not in prior_suppressed, q in totals, -lone_links(q), int(size[q]) == 0, int(size[q]))

    return cost
