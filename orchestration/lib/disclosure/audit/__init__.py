"""Independent disclosure audit of a release.

A separate code path from the engine: it reads only what a reader sees (the published
`display` and `n_display` strings and the public structure columns of each output row),
plus the policies' thresholds, and never imports the engine. See docs/suppression.md.

    result = audit_release(current_output, prior_releases=[earlier_output], tables=tables)
    result.passed, result.disclosed, result.cells
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.lib.disclosure.audit.lp import Target, intervals
from orchestration.lib.disclosure.audit.model import build_model
from orchestration.lib.disclosure.audit.reader import AuditError, is_coded
from orchestration.lib.disclosure.policy import Policy, load_policies
from orchestration.lib.disclosure.tables import SummaryTable

__all__ = ["AuditError", "AuditResult", "audit_release"]

RESULT_COLUMNS = [
    "release",
    "table_id",
    "population",
    "outcome",
    "unit_id",
    "grouping",
    "category",
    "quantity",
    "display",
    "lower",
    "upper",
    "exact",
    "disclosed",
    "reason",
    "true_value",
    "equation",
    "members",
]


@dataclass
class AuditResult:
    """Per-cell audit results; `passed` is True when no cell is disclosed."""

    cells: pd.DataFrame

    @property
    def disclosed(self) -> pd.DataFrame:
        return self.cells[self.cells["disclosed"]]

    @property
    def passed(self) -> bool:
        return not bool(self.cells["disclosed"].any())

    def summary(self) -> str:
        counts = self.cells.groupby(["quantity", "reason"]).size()
        lines = [f"{'PASS' if self.passed else 'FAIL'}: {int(self.cells['disclosed'].sum())} disclosed"]
        lines += [f"  {q:9} {r:28} {c}" for (q, r), c in counts.items()]
        return "\n".join(lines)


def _truth(tables: list[SummaryTable] | None) -> dict[tuple, int]:
    """(population, unit, grouping, category) -> n and (population, outcome, ...) -> numerator."""
    truth: dict[tuple, int] = {}
    for table in tables or []:
        c = table.cells
        for unit, grouping, category, n in zip(c["unit_id"], c["grouping"], c["category"], c["n"], strict=True):
            truth[("C", table.population, str(unit), str(grouping), str(category))] = int(n)
        if table.measure == "rate":
            for unit, grouping, category, k in zip(
                c["unit_id"], c["grouping"], c["category"], c["numerator"], strict=True
            ):
                truth[("N", table.population, table.outcome, str(unit), str(grouping), str(category))] = int(k)
    return truth


def audit_release(
    outputs: pd.DataFrame | list[pd.DataFrame],
    prior_releases: list[pd.DataFrame] | tuple = (),
    tables: list[SummaryTable] | None = None,
    policies: dict[str, Policy] | None = None,
    backend: str = "auto",
    only_populations: set[str] | None = None,
) -> AuditResult:
    """Audit `outputs` (the current release) together with what earlier releases published.

    `tables` (the confidential inputs) are optional: they let the audit report true values
    and judge whether a suppressed rate's group is small; without them the audit decides
    from the interval of the group's size. `only_populations` restricts the work (the
    engine's fixpoint re-audits only what changed).
    """
    current = pd.concat(outputs, ignore_index=True) if isinstance(outputs, list) else outputs
    frames = [current, *prior_releases]
    if only_populations is not None:
        frames = [f[f["population"].isin(only_populations)] for f in frames]
    policies = policies or load_policies()
    model = build_model(frames)
    items = model.items
    unknown = set(items["policy"]) - set(policies)
    if unknown:
        raise AuditError(f"release names policy(ies) {sorted(unknown)} that seeds/suppression_policies.csv lacks")
    min_n = items["policy"].map({k: p.min_n for k, p in policies.items()}).to_numpy()
    truth = _truth(tables)
    rate = (items["measure"] == "rate").to_numpy()
    display = items["display"].to_numpy()
    n_display = items["n_display"].to_numpy()
    suppressed = display == "*"

    # what to bound: suppressed counts and numerators, suppressed n, recoded rates, sizes of suppressed rate groups
    specs: list[dict] = []
    rows = list(items.itertuples(index=False))
    for i in np.flatnonzero(suppressed | (rate & (n_display == "*")) | (rate & ~suppressed)):
        row = rows[i]
        base = {"i": i, "min_n": int(min_n[i])}
        if not rate[i]:
            specs.append(base | {"quantity": "count", "cols": [row.cvar]})
            continue
        if n_display[i] == "*":
            specs.append(base | {"quantity": "n", "cols": [row.cvar]})
        if suppressed[i]:
            specs.append(base | {"quantity": "numerator", "cols": [row.nvar]})
            specs.append(base | {"quantity": "size", "cols": [row.cvar]})
        elif is_coded(display[i]):
            specs.append(base | {"quantity": "recoded", "cols": [row.nvar]})
    # implied groups: the suppressed parts of one equation taken together
    hidden_vars = (
        set(items.loc[suppressed & ~rate, "cvar"])
        | set(items.loc[suppressed & rate, "nvar"])
        | set(items.loc[rate & (n_display == "*"), "cvar"])
    )
    policy_of_var = pd.Series(min_n, index=items["cvar"]).groupby(level=0).max().to_dict()
    policy_of_var |= pd.Series(min_n[rate], index=items.loc[rate, "nvar"]).groupby(level=0).max().to_dict()
    for eq in model.equations:
        members = [m for m in eq.parts if m in hidden_vars]
        if len(members) >= 2:
            specs.append(
                {
                    "i": -1,
                    "min_n": max(policy_of_var.get(m, 1) for m in members),
                    "quantity": f"sum_{eq.layer}",
                    "cols": members,
                    "equation": eq.eq_id,
                }
            )
    targets = [Target(np.array(s["cols"], dtype=np.int64), np.ones(len(s["cols"]))) for s in specs]
    lower, upper, col_lo, col_hi = intervals(
        model.matrix, model.row_lo, model.row_hi, model.col_lo, model.col_hi, targets, backend=backend
    )
    return AuditResult(_classify(rows, model, specs, lower, upper, truth))


def _true(truth: dict, model, var: int):
    key = model.var_key[var]
    parts = key[1:].split("\x1f")
    return truth.get((key[0], *parts))


def _classify(rows, model, specs, lower, upper, truth) -> pd.DataFrame:
    size_of: dict[int, tuple[float, float]] = {}
    for spec, lo, hi in zip(specs, lower, upper, strict=True):
        if spec["quantity"] == "size":
            size_of[spec["i"]] = (lo, hi)
    records = []
    for spec, lo, hi in zip(specs, lower, upper, strict=True):
        quantity, m = spec["quantity"], spec["min_n"]
        if quantity == "size":
            continue
        exact = bool(lo == hi)
        within = bool(lo >= 1 and hi <= m - 1)
        true_values = [_true(truth, model, v) for v in spec["cols"]]
        true_value = None if any(v is None for v in true_values) else sum(true_values)
        reason, disclosed = "PROTECTED", False
        if quantity in ("count", "n"):
            if exact:
                reason, disclosed = "EXACT", True
            elif within:
                reason, disclosed = "WITHIN_PROTECTED_RANGE", True
        elif quantity in ("numerator", "recoded"):
            group = _true(truth, model, int(rows[spec["i"]].cvar))
            size_lo, size_hi = size_of.get(spec["i"], (np.nan, np.nan))
            if group is None:
                group = size_hi if quantity == "numerator" else np.inf
            if quantity == "numerator" and size_hi == 0:
                reason = "EMPTY_GROUP"
            elif exact:
                reason, disclosed = ("EXACT", True) if quantity == "numerator" else ("RECODE_REVEALS_COUNT", True)
            elif quantity == "numerator" and within and group <= m - 1:
                reason, disclosed = "WITHIN_PROTECTED_RANGE", True
            elif quantity == "recoded":
                reason = "RECODED"
        elif quantity == "sum_count":
            if within:
                reason, disclosed = "SMALL_GROUP_SUM", True
        elif quantity == "sum_numerator":
            sizes = [_true(truth, model, _count_var_of(model, v)) for v in spec["cols"]]
            group = None if any(s is None for s in sizes) else sum(sizes)
            if group is not None and 1 <= group <= m - 1 and (exact or within):
                reason, disclosed = "SMALL_GROUP_SUM", True
        row = rows[spec["i"]] if spec["i"] >= 0 else None
        records.append(
            {
                "release": int(row.release) if row is not None else 0,
                "table_id": row.table_id if row is not None else "",
                "population": row.population
                if row is not None
                else model.var_key[spec["cols"][0]][1:].split("\x1f")[0],
                "outcome": row.outcome if row is not None else "",
                "unit_id": row.unit_id if row is not None else "",
                "grouping": row.grouping if row is not None else "",
                "category": row.category if row is not None else "",
                "quantity": quantity,
                "display": (row.n_display if quantity == "n" else row.display) if row is not None else "",
                "lower": lo,
                "upper": hi,
                "exact": exact,
                "disclosed": disclosed,
                "reason": reason,
                "true_value": true_value,
                "equation": spec.get("equation", ""),
                "members": tuple(_member(model, v) for v in spec["cols"]) if row is None else (),
            }
        )
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def _member(model, var: int) -> tuple:
    """('C', population, unit, grouping, category) or ('N', population, outcome, unit, grouping, category)."""
    key = model.var_key[var]
    return (key[0], *key[1:].split("\x1f"))


_COUNT_VAR: dict[int, dict[int, int]] = {}


def _count_var_of(model, nvar: int) -> int:
    mapping = _COUNT_VAR.get(id(model))
    if mapping is None:
        rate = model.items[model.items["nvar"] >= 0]
        mapping = dict(zip(rate["nvar"], rate["cvar"], strict=True))
        _COUNT_VAR.clear()
        _COUNT_VAR[id(model)] = mapping
    return mapping[nvar]
