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


def split_groups(frame: pd.DataFrame, keys: list[str]) -> list[np.ndarray]:
    """Row positions of each group of `frame` by `keys` (vectorised; groups in first-seen order)."""
    if frame.empty:
        return []
    codes = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)


def build_links(cells: pd.DataFrame, qcol: str) -> list[Link]:
    """Row and hierarchy links over the quantity ids in column `qcol` (rows with qcol < 0 are skipped)."""
    cells = cells[cells[qcol] >= 0]
    links: list[Link] = []
    seen: set[tuple] = set()
    scope = ["population", "outcome"] if qcol == "nq" else ["population"]
    totals = cells[cells["grouping"] == ALL_GROUPING].drop_duplicates(scope + ["unit_id"])[scope + ["unit_id", qcol]]
    parts = cells[cells["grouping"] != ALL_GROUPING].merge(
        totals.rename(columns={qcol: "total_q"}), on=scope + ["unit_id"]
    )
    q, total_q, exact = parts[qcol].to_numpy(), parts["total_q"].to_numpy(), parts["partitions_total"].to_numpy()
    for idx in split_groups(parts, scope + ["unit_id", "grouping"]):
        members = sorted(set(q[idx].tolist()))
        sig = (int(total_q[idx[0]]), tuple(members))
        if sig not in seen:
            seen.add(sig)
            links.append(Link("row", sig[0], members, bool(exact[idx].all())))
    kids = cells[cells["parent_unit_id"].notna()]
    kids = kids.assign(n_children=kids.groupby(["table_id", "parent_unit_id"])["unit_id"].transform("nunique"))
    parents = cells[["table_id", "unit_id", "grouping", "category", "children_complete", qcol]]
    joined = kids[["table_id", "unit_id", "parent_unit_id", "grouping", "category", qcol, "n_children"]].merge(
        parents.rename(columns={"unit_id": "parent_unit_id", qcol: "parent_q", "children_complete": "parent_complete"}),
        on=["table_id", "parent_unit_id", "grouping", "category"],
    )
    q, parent_q = joined[qcol].to_numpy(), joined["parent_q"].to_numpy()
    complete, units, n_kids = (
        joined["parent_complete"].to_numpy(),
        joined["unit_id"].to_numpy(),
        joined["n_children"].to_numpy(),
    )
    for idx in split_groups(joined, ["table_id", "parent_unit_id", "grouping", "category"]):
        members = sorted(set(q[idx].tolist()))
        sig = (int(parent_q[idx[0]]), tuple(members))
        if sig in seen:
            continue
        seen.add(sig)
        exact = bool(complete[idx].all()) and len(set(units[idx].tolist())) == n_kids[idx[0]]
        links.append(Link("hierarchy", sig[0], members, exact))
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
