"""Primary rules: what each policy suppresses or recodes on its own, cell by cell."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.lib.disclosure.policy import Policy
from orchestration.lib.disclosure.tables import ALL_GROUPING, TableError


def count_primary(n: int, policy: Policy, other_information: bool, grouping: str) -> tuple[str, str] | None:
    """(reason, rule_id) when the policy will not publish a count of n for this group, else None."""
    if n >= policy.min_n or (n == 0 and not policy.zero_is_protected):
        return None
    if policy.small_counts == "always":
        return None
    if policy.small_counts == "unless_other_information" and (not other_information or grouping == ALL_GROUPING):
        return None
    return ("PRIMARY_ZERO" if n == 0 else "PRIMARY_MIN_N"), f"{policy.name}.min_n"


def rate_primary(n: int, policy: Policy) -> tuple[str, str] | None:
    """(reason, rule_id) when a rate over a group of n is not published, else None."""
    if n == 0:
        return "ZERO_DENOMINATOR", f"{policy.name}.min_n"
    if n < policy.min_n:
        return "PRIMARY_MIN_N", f"{policy.name}.min_n"
    return None


def smallest_related(cells: pd.DataFrame) -> np.ndarray:
    """For each cell, the size of the smallest related group (NCES 5a-5f).

    Related: the other categories of the same grouping in the same unit and table, and the
    unit's 'all' group; for the 'all' group, every group of the unit in the table.
    """
    by_grouping = cells.groupby(["table_id", "unit_id", "grouping"])["n"].transform("min")
    by_unit = cells.groupby(["table_id", "unit_id"])["n"].transform("min")
    all_n = cells[cells["grouping"] == ALL_GROUPING].groupby(["table_id", "unit_id"])["n"].min()
    unit_all = pd.Series(list(zip(cells["table_id"], cells["unit_id"], strict=True))).map(all_n.to_dict())
    related = np.minimum(by_grouping.to_numpy(), unit_all.fillna(np.inf).to_numpy())
    is_all = (cells["grouping"] == ALL_GROUPING).to_numpy()
    return np.where(is_all, by_unit.to_numpy(), related).astype(np.int64)


def band_or_fail(policy: Policy, n: int, smallest: int, table_id: str):
    band = policy.band_for(n, smallest)
    if band is None:
        raise TableError(f"table {table_id!r}: policy {policy.name!r} has no rate band for a group of {n}")
    return band
