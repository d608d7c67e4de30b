"""Independent disclosure audit of a release.

A separate code path from the engine: it reads only what a reader sees (the published
`display` and `n_display` strings and the public structure columns of each output row),
plus the policies' thresholds, and never imports the engine. See docs/suppression.md.

    result = audit_release(current_output, prior_releases=[earlier_output], tables=tables)
    result.passed, result.disclosed, result.cells
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestration.lib.disclosure.audit.insider import InsiderFinding, insider_findings
from orchestration.lib.disclosure.audit.lp import Need, Target, intervals
from orchestration.lib.disclosure.audit.model import build_model
from orchestration.lib.disclosure.audit.reader import AuditError, is_coded
from orchestration.lib.disclosure.policy import Policy, load_policies
from orchestration.lib.disclosure.relations import Relation, load_relations, related_pairs
from orchestration.lib.disclosure.tables import SummaryTable

__all__ = ["AuditError", "AuditResult", "audit_release", "related_populations", "target_key"]

SEP = "\x1f"

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
    "interval",
    "exact",
    "disclosed",
    "reason",
    "true_value",
    "equation",
    "members",
    "attacker",
]
OUTSIDER = "outsider"


@dataclass
class AuditResult:
    """Per-cell audit results; `passed` is True when no cell is disclosed."""

    cells: pd.DataFrame
    insider_safe: set[tuple[str, str]] = field(default_factory=set)  # (insider, sibling) variable keys

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


def _truth(tables: list[SummaryTable] | None) -> dict[str, int]:
    """Variable key (as the model spells it) -> true count or numerator, from the confidential tables."""
    truth: dict[str, int] = {}
    for table in tables or []:
        c = table.cells
        keys = (
            table.population
            + SEP
            + c["unit_id"].astype(str)
            + SEP
            + c["grouping"].astype(str)
            + SEP
            + c["category"].astype(str)
        )
        truth.update(zip("C" + keys, c["n"].astype(int), strict=True))
        if table.measure == "rate":
            nkeys = "N" + table.population + SEP + (table.outcome or "") + SEP + keys.str.split(SEP, n=1).str[1]
            truth.update(zip(nkeys, c["numerator"].astype(int), strict=True))
    return truth


def audit_release(
    outputs: pd.DataFrame | list[pd.DataFrame],
    prior_releases: list[pd.DataFrame] | tuple = (),
    tables: list[SummaryTable] | None = None,
    policies: dict[str, Policy] | None = None,
    backend: str = "auto",
    only_populations: set[str] | None = None,
    exact_intervals: bool = False,
    skip: set[tuple] | None = None,
    relations: list[Relation] | None = None,
    insiders: bool = True,
    insider_safe: set[tuple[str, str]] | frozenset = frozenset(),
    progress: Callable[[str], None] = lambda message: None,
) -> AuditResult:
    """Audit `outputs` (the current release) together with what earlier releases published.

    `tables` (the confidential inputs) are optional: they let the audit report true values
    and judge whether a suppressed rate's group is small; without them the audit decides
    from the interval of the group's size. `only_populations` restricts the work (the
    engine's fixpoint re-audits only what changed). By default a cell whose safety is shown
    by probing keeps that inner interval (`interval` = 'inner'); `exact_intervals` computes
    every interval exactly (two LPs a cell: slower, for reports on small releases).
    `skip` holds `target_key`s not to recompute: cells shown safe by an earlier audit of a
    release that has since only hidden more (knowledge only shrank, so they stay safe).
    `relations` (default seeds/publish_relations.csv) are the population relations a reader
    knows: they tie tables of different populations that share students.
    `insiders` adds the insider reader (audit/insider.py): each hidden cell of 1..k (k the
    policy's `insider_coalition`) known to its own members; it needs `tables` (the truth).
    `insider_safe` holds (insider, sibling) pairs an earlier audit showed safe.
    """
    current = pd.concat(outputs, ignore_index=True) if isinstance(outputs, list) else outputs
    frames = [current, *prior_releases]
    relations = load_relations() if relations is None else relations
    if only_populations is not None:
        only_populations = related_populations(frames, only_populations, relations)
        frames = [f[f["population"].isin(only_populations)] for f in frames]
    policies = policies or load_policies()
    model = build_model(frames, relations)
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
    true_value = np.array([truth.get(k, np.nan) for k in model.var_key], dtype=float)
    specs: list[dict] = []
    rows = list(items.itertuples(index=False))
    for i in np.flatnonzero(suppressed | (rate & (n_display == "*")) | (rate & ~suppressed)):
        row = rows[i]
        m = int(min_n[i])
        base = {"i": i, "min_n": m}
        if not rate[i]:
            specs.append(base | {"quantity": "count", "cols": [row.cvar], "need": Need(True, 0, m)})
            continue
        if n_display[i] == "*":
            specs.append(base | {"quantity": "n", "cols": [row.cvar], "need": Need(True, 0, m)})
        if suppressed[i]:
            group = true_value[row.cvar]
            if np.isnan(group):  # no truth: the interval of the group's size decides whether it is small
                need = Need(exact=True)
                specs.append(base | {"quantity": "size", "cols": [row.cvar], "need": Need(exact=True)})
            elif group == 0:
                need = Need(unpinned=False)
            else:
                need = Need(True, 0, m) if group < m else Need(True)
            specs.append(base | {"quantity": "numerator", "cols": [row.nvar], "need": need, "group": group})
        elif is_coded(display[i]):
            specs.append(base | {"quantity": "recoded", "cols": [row.nvar], "need": Need(True)})
    # implied groups: the suppressed parts of one equation taken together
    hidden_vars = (
        set(items.loc[suppressed & ~rate, "cvar"])
        | set(items.loc[suppressed & rate, "nvar"])
        | set(items.loc[rate & (n_display == "*"), "cvar"])
    )
    policy_of_var = pd.Series(min_n, index=items["cvar"]).groupby(level=0).max().to_dict()
    policy_of_var |= pd.Series(min_n[rate], index=items.loc[rate, "nvar"]).groupby(level=0).max().to_dict()
    count_of = dict(zip(items.loc[rate, "nvar"], items.loc[rate, "cvar"], strict=True))
    for eq in model.equations:
        members = [m for m in eq.parts if m in hidden_vars]
        if len(members) < 2:
            continue
        m = max(policy_of_var.get(v, 1) for v in members)
        spec = {"i": -1, "min_n": m, "quantity": f"sum_{eq.layer}", "cols": members, "equation": eq.eq_id}
        if eq.layer == "count":
            spec["need"] = Need(False, 0, m)
        else:
            group = float(sum(true_value[count_of[v]] for v in members))
            spec["group"] = group
            spec["need"] = Need(True, 0, m) if 1 <= group <= m - 1 else Need(False)
        specs.append(spec)
    every_spec = specs  # the insider reader checks cells the outsider showed safe before, too
    if skip:
        specs = [s for s in specs if _spec_key(s, rows, model) not in skip or s["quantity"] == "size"]
    targets = [Target(np.array(s["cols"], dtype=np.int64), np.ones(len(s["cols"]))) for s in specs]
    progress(f"outsider reader: bounding {len(targets):,} hidden quantities")
    lower, upper, kind, known_lo, known_hi = intervals(
        model.matrix,
        model.row_lo,
        model.row_hi,
        model.col_lo,
        model.col_hi,
        targets,
        backend=backend,
        needs=None if exact_intervals else [s["need"] for s in specs],
        truth=true_value,
    )
    for spec, how in zip(specs, kind, strict=True):
        spec["interval"] = how
    cells = _classify(rows, model, specs, lower, upper, true_value)
    shown_safe: set[tuple[str, str]] = set()
    if insiders and tables:
        progress("insider reader: what each small cell's own members learn")
        coalition = np.zeros(len(model.var_key))
        size = items["policy"].map({k: p.insider_coalition for k, p in policies.items()}).to_numpy()
        np.maximum.at(coalition, items["cvar"].to_numpy(), size)
        np.maximum.at(coalition, items.loc[rate, "nvar"].to_numpy().astype(np.int64), size[rate])
        found, shown_safe = insider_findings(model.matrix, model.row_lo, model.row_hi, known_lo, known_hi,
                                             every_spec, true_value, coalition, backend, model.var_key,
                                             insider_safe, _containment(model, relations))  # fmt: skip
        if found:
            cells = pd.concat([cells, _insider_rows(found, every_spec, rows, model, true_value)], ignore_index=True)
    return AuditResult(cells, shown_safe)


def _containment(model, relations: list[Relation]) -> Callable[[int, int], str]:
    """contains(a, b): 'holds' when cell b holds every record of cell a (the same group at an
    ancestor unit, the total of a's unit, the superset side of a declared relation), 'inside'
    when b's records are all a's (a descendant, a part of a's total, the subset side, either
    side of an equality), '' otherwise."""
    items = model.items
    tied: dict[tuple[int, int], str] = {}
    for left, right, kind in related_pairs(items, list(relations), "cvar", "release").itertuples(index=False):
        tied[(int(left), int(right))] = "inside" if kind == "equal" else "holds"
        tied[(int(right), int(left))] = "inside"
    parent = dict(zip(items["unit_id"].astype(str), items["parent_unit_id"].astype(str), strict=True))

    def chain(unit: str) -> set[str]:
        seen = set()
        while unit in parent and unit not in seen and parent[unit] not in ("None", "nan", "<NA>", ""):
            seen.add(unit)
            unit = parent[unit]
        return seen | {unit}

    def where(var: int) -> tuple[str, str, str]:
        fields = _member(model, var)
        return fields[-3], fields[-2], fields[-1]  # unit, grouping, category

    def contains(a: int, b: int) -> str:
        if (a, b) in tied:
            return tied[(a, b)]
        (ua, ga, ca), (ub, gb, cb) = where(a), where(b)
        if ua == ub:
            return "holds" if gb == "all" else "inside" if ga == "all" else ""
        if (ga, ca) != (gb, cb):
            return ""
        return "holds" if ub in chain(ua) else "inside" if ua in chain(ub) else ""

    return contains


def _insider_rows(found: list[InsiderFinding], specs, rows, model, true_value) -> pd.DataFrame:
    """One disclosed row per (protected quantity, insider) pair: the insider named by its cell."""
    records = []
    for f in found:
        spec = specs[f.spec]
        row = rows[spec["i"]]
        exact = f.lower == f.upper
        records.append(
            {
                "release": int(row.release), "table_id": row.table_id, "population": row.population,
                "outcome": row.outcome, "unit_id": row.unit_id, "grouping": row.grouping, "category": row.category,
                "quantity": spec["quantity"], "display": row.n_display if spec["quantity"] == "n" else row.display,
                "lower": f.lower, "upper": f.upper, "interval": "insider", "exact": exact, "disclosed": True,
                "reason": "INSIDER_EXACT" if exact else "INSIDER_WITHIN_PROTECTED_RANGE",
                "true_value": int(true_value[spec["cols"][0]]), "equation": "", "members": (),
                "attacker": "insider:" + SEP.join(_member(model, f.insider)[1:]),
            }
        )  # fmt: skip
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def related_populations(frames: list[pd.DataFrame], scope: set[str], relations: list[Relation]) -> set[str]:
    """`scope` with every population a relation ties to it: a reader combines them."""
    population_of: dict[str, set[str]] = {}
    for frame in frames:
        for table_id, population in frame[["table_id", "population"]].drop_duplicates().itertuples(index=False):
            population_of.setdefault(str(table_id), set()).add(str(population))
    scope = set(scope)
    while True:
        grown = set(scope)
        for rel in relations:
            mine, theirs = population_of.get(rel.table_id, set()), population_of.get(rel.other_table_id, set())
            if mine & grown or theirs & grown:
                grown |= mine | theirs
        if grown == scope:
            return scope
        scope = grown


def _classify(rows, model, specs, lower, upper, true_value: np.ndarray) -> pd.DataFrame:
    """One result row per audited quantity: its interval and whether a reader learns too much."""
    size_of = {spec["i"]: hi for spec, hi in zip(specs, upper, strict=True) if spec["quantity"] == "size"}
    records = []
    for spec, lo, hi in zip(specs, lower, upper, strict=True):
        quantity, m = spec["quantity"], spec["min_n"]
        if quantity == "size":
            continue
        exact = bool(lo == hi)
        within = bool(lo >= 1 and hi <= m - 1)
        truth = float(sum(true_value[v] for v in spec["cols"]))
        reason, disclosed = "PROTECTED", False
        if spec["interval"] == "unproven":  # neither shown safe nor shown disclosed: treated as disclosed
            reason, disclosed = "UNPROVEN", True
        elif quantity in ("count", "n"):
            if exact:
                reason, disclosed = "EXACT", True
            elif within:
                reason, disclosed = "WITHIN_PROTECTED_RANGE", True
        elif quantity == "numerator":
            group = spec.get("group", np.nan)
            if np.isnan(group):
                group = size_of.get(spec["i"], np.inf)
            if group == 0:
                reason = "EMPTY_GROUP"
            elif exact:
                reason, disclosed = "EXACT", True
            elif within and group <= m - 1:
                reason, disclosed = "WITHIN_PROTECTED_RANGE", True
        elif quantity == "recoded":
            reason, disclosed = ("RECODE_REVEALS_COUNT", True) if exact else ("RECODED", False)
        elif quantity == "sum_count":
            if within:
                reason, disclosed = "SMALL_GROUP_SUM", True
        elif quantity == "sum_numerator":
            group = spec.get("group", np.nan)
            if 1 <= group <= m - 1 and (exact or within):
                reason, disclosed = "SMALL_GROUP_SUM", True
        row = rows[spec["i"]] if spec["i"] >= 0 else None
        member_keys = tuple(_member(model, v) for v in spec["cols"])
        records.append(
            {
                "release": int(row.release) if row is not None else 0,
                "table_id": row.table_id if row is not None else "",
                "population": row.population if row is not None else member_keys[0][1],
                "outcome": row.outcome if row is not None else "",
                "unit_id": row.unit_id if row is not None else "",
                "grouping": row.grouping if row is not None else "",
                "category": row.category if row is not None else "",
                "quantity": quantity,
                "display": (row.n_display if quantity == "n" else row.display) if row is not None else "",
                "lower": lo,
                "upper": hi,
                "interval": spec["interval"],
                "exact": exact,
                "disclosed": disclosed,
                "reason": reason,
                "true_value": None if np.isnan(truth) else int(truth),
                "equation": spec.get("equation", ""),
                "members": member_keys if row is None else (),
                "attacker": OUTSIDER,
            }
        )
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def target_key(row) -> tuple:
    """Identity of an audited quantity across audits of successive versions of a release."""
    return (
        row.release,
        row.table_id,
        row.unit_id,
        row.grouping,
        row.category,
        row.quantity,
        row.equation,
        tuple(row.members),
    )


def _spec_key(spec: dict, rows, model) -> tuple:
    if spec["i"] < 0:
        members = tuple(_member(model, v) for v in spec["cols"])
        return (0, "", "", "", "", spec["quantity"], spec["equation"], members)
    row = rows[spec["i"]]
    return (row.release, row.table_id, row.unit_id, row.grouping, row.category, spec["quantity"], "", ())


def _member(model, var: int) -> tuple:
    """('C', population, unit, grouping, category) or ('N', population, outcome, unit, grouping, category)."""
    key = model.var_key[var]
    return (key[0], *key[1:].split(SEP))
