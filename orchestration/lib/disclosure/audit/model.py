"""The reader's linear model of a release (and of earlier releases of the same population).

Variables are the inner cells: one count C per (population, unit, grouping, category) and,
for rate tables, one numerator N per (population, outcome, unit, grouping, category).
Every published cell is one of these or, for a parent unit, the sum of its children's.
Constraints: 0 <= N <= C; the categories of a grouping sum to the unit's 'all' group;
a parent's group is the sum of its listed children's (>= when children are incomplete);
published counts fix C; published percentages bound N against C:
    whole % in lo..hi  <=>  200 N >= (2 lo - 1) C  and  200 N <= (2 hi + 1) C - 1;
declared population relations (seeds/publish_relations.csv) tie counts of different
populations within one publication: C_subset <= C_superset, or C = C'.
One count or cross-classification per grouping is enough: a unit's groupings share only
their total, and with one-way margins (or margins sharing only the outcome) any consistent
margins have a non-negative integer cross-classification, so the margins' polytope is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from orchestration.lib.disclosure.audit.reader import AuditError, read_count, read_percent
from orchestration.lib.disclosure.relations import Relation, related_pairs

NEEDED = [
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
    "display",
    "n_display",
]


@dataclass
class Equation:
    eq_id: str
    layer: str  # 'count' or 'numerator'
    total: int
    parts: list[int]
    exact: bool  # equality (True) or total >= sum of parts (False)


@dataclass
class Model:
    items: pd.DataFrame  # one row per published cell of every release, with its variables
    var_key: list[str]
    var_layer: np.ndarray  # 0 count, 1 numerator
    col_lo: np.ndarray
    col_hi: np.ndarray
    matrix: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    equations: list[Equation] = field(default_factory=list)


class _Rows:
    def __init__(self) -> None:
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols, vals, lo: float, hi: float) -> None:
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=float))
        self.lo.append(lo)
        self.hi.append(hi)

    def matrix(self, n_vars: int) -> sp.csr_matrix:
        if not self.cols:
            return sp.csr_matrix((0, n_vars))
        indptr = np.concatenate([[0], np.cumsum([len(c) for c in self.cols])])
        m = sp.csr_matrix(
            (np.concatenate(self.vals), np.concatenate(self.cols), indptr), shape=(len(self.cols), n_vars)
        )
        m.sum_duplicates()
        return m


def _items(frames: list[pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for release, frame in enumerate(frames):
        missing = [c for c in NEEDED if c not in frame.columns]
        if missing:
            raise AuditError(f"release {release}: output lacks column(s) {missing}")
        part = frame.copy()
        part["release"] = release
        for col, default in (("children_complete", True), ("partitions_total", True)):
            part[col] = part[col].fillna(default).astype(bool) if col in part else default
        parts.append(part)
    items = pd.concat(parts, ignore_index=True)
    for col in ("population", "outcome", "unit_id", "grouping", "category", "display", "n_display", "table_id"):
        items[col] = items[col].fillna("").astype(str)
    items["parent_unit_id"] = items["parent_unit_id"].map(lambda v: "" if v is None or pd.isna(v) else str(v))
    sep = "\x1f"
    items["ckey"] = items["population"] + sep + items["unit_id"] + sep + items["grouping"] + sep + items["category"]
    rate = items["measure"] == "rate"
    items["nkey"] = np.where(
        rate,
        items["population"]
        + sep
        + items["outcome"]
        + sep
        + items["unit_id"]
        + sep
        + items["grouping"]
        + sep
        + items["category"],
        "",
    )
    return items


def build_model(frames: list[pd.DataFrame], relations: list[Relation] = ()) -> Model:
    """The reader's model of `frames` (the current release first, then earlier ones), with
    the population `relations` a reader knows."""
    items = _items(frames)
    ckeys, cinv = np.unique(items["ckey"].to_numpy(), return_inverse=True)
    items["cvar"] = cinv
    rate = (items["measure"] == "rate").to_numpy()
    nkeys, ninv = np.unique(items.loc[rate, "nkey"].to_numpy(), return_inverse=True)
    nvar = np.full(len(items), -1, dtype=np.int64)
    nvar[rate] = ninv + len(ckeys)
    items["nvar"] = nvar
    n_vars = len(ckeys) + len(nkeys)
    var_key = ["C" + k for k in ckeys] + ["N" + k for k in nkeys]
    var_layer = np.concatenate([np.zeros(len(ckeys), dtype=np.int8), np.ones(len(nkeys), dtype=np.int8)])
    col_lo = np.zeros(n_vars)
    col_hi = np.full(n_vars, np.inf)
    rows = _Rows()

    # published counts fix C (count tables' display, rate tables' n_display)
    count_text = np.where(rate, items["n_display"].to_numpy(), items["display"].to_numpy())
    shown = (count_text != "") & (count_text != "*")
    for i in np.flatnonzero(shown & ~pd.Series(count_text).str.fullmatch(r"\d+").to_numpy()):
        read_count(count_text[i], _where(items, i))  # raises with the cell named
    values = pd.Series(count_text[shown]).astype(np.int64).to_numpy()
    fixed = pd.DataFrame({"var": cinv[shown], "value": values, "row": np.flatnonzero(shown)})
    clash = fixed.groupby("var")["value"].nunique()
    if (clash > 1).any():
        var = int(clash[clash > 1].index[0])
        rows_ = fixed[fixed["var"] == var]
        raise AuditError(
            f"{_where(items, int(rows_['row'].iloc[0]))}: published count {int(rows_['value'].iloc[0])} "
            f"contradicts {int(rows_['value'].iloc[-1])} at {_where(items, int(rows_['row'].iloc[-1]))}"
        )
    col_lo[fixed["var"].to_numpy()] = values
    col_hi[fixed["var"].to_numpy()] = values

    # published percentages bound N against C
    rate_idx = np.flatnonzero(rate)
    shown_rate = rate_idx[items["display"].to_numpy()[rate_idx] != "*"]
    for i in shown_rate:
        lo, hi = _percent(items, i)
        n_var, c_var = int(nvar[i]), int(cinv[i])
        if lo > 0:
            rows.add([n_var, c_var], [200.0, -(2 * lo - 1)], 0.0, np.inf)
        rows.add([n_var, c_var], [200.0, -(2 * hi + 1)], -np.inf, -1.0)

    # 0 <= N <= C
    pairs = np.unique(np.stack([nvar[rate], cinv[rate]], axis=1), axis=0) if rate.any() else np.empty((0, 2), int)
    for n_var, c_var in pairs:
        rows.add([n_var, c_var], [1.0, -1.0], -np.inf, 0.0)

    # population relations: a subset's count is at most its superset's; equal counts are one
    pairs = related_pairs(items, list(relations), "cvar", "release")
    for left, right, kind in pairs.itertuples(index=False):
        rows.add([int(left), int(right)], [1.0, -1.0], 0.0 if kind == "equal" else -np.inf, 0.0)

    equations = _partitions(items, rate) + _hierarchies(items, rate)
    for eq in equations:
        if eq.exact:
            rows.add(eq.parts + [eq.total], [1.0] * len(eq.parts) + [-1.0], 0.0, 0.0)
        else:
            rows.add(eq.parts + [eq.total], [1.0] * len(eq.parts) + [-1.0], -np.inf, 0.0)
    return Model(
        items,
        var_key,
        var_layer,
        col_lo,
        col_hi,
        rows.matrix(n_vars),
        np.array(rows.lo, dtype=float),
        np.array(rows.hi, dtype=float),
        equations,
    )


def _where(items: pd.DataFrame, i: int) -> str:
    row = items.iloc[i]
    return f"release {row.release} table {row.table_id!r} cell ({row.unit_id}, {row.grouping}, {row.category})"


_PERCENT_CACHE: dict[str, tuple[int, int]] = {}


def _percent(items: pd.DataFrame, i: int) -> tuple[int, int]:
    text = items["display"].iat[i]
    got = _PERCENT_CACHE.get(text)
    if got is None:
        got = read_percent(text, _where(items, i))
        _PERCENT_CACHE[text] = got
    return got


def _layers(items: pd.DataFrame, rate: np.ndarray):
    """(layer name, rows of the layer, variable column) for counts and numerators."""
    yield "count", items, "cvar"
    if rate.any():
        yield "numerator", items[rate], "nvar"


def _groups(frame: pd.DataFrame, keys: list[str], sort_by: str):
    """(first row, positions) of each group of `frame` by `keys`, without a Python groupby."""
    codes = frame.groupby(keys, sort=False).ngroup().to_numpy()
    order = np.lexsort((frame[sort_by].to_numpy(), codes))
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds) if len(order) else []


def _partitions(items: pd.DataFrame, rate: np.ndarray) -> list[Equation]:
    out: list[Equation] = []
    for layer, rows, col in _layers(items, rate):
        scope = ["population", "outcome"] if layer == "numerator" else ["population"]
        unit_keys = scope + ["unit_id"]
        totals = rows[rows["grouping"] == "all"].drop_duplicates(unit_keys)[unit_keys + [col]]
        parts = rows[rows["grouping"] != "all"].merge(totals.rename(columns={col: "total_var"}), on=unit_keys)
        if parts.empty:
            continue
        var = parts[col].to_numpy()
        total = parts["total_var"].to_numpy()
        exact = parts["partitions_total"].to_numpy()
        label = (
            "partition:"
            + layer
            + ":"
            + parts["population"]
            + ":"
            + parts["unit_id"]
            + ":"
            + parts["grouping"]
            + ":"
            + parts["table_id"]
            + "@"
            + parts["release"].astype(str)
        ).to_numpy()
        seen: set[tuple] = set()
        # each table of each release states its own breakdown: one that lists only some categories
        # (partitions_total false) must not relax another release's complete one
        for idx in _groups(parts, unit_keys + ["grouping", "release", "table_id"], col):
            members = sorted(set(var[idx].tolist()))
            t = int(total[idx[0]])
            if exact[idx].all():
                key = (t, tuple(members), True)
                if key not in seen:
                    seen.add(key)
                    out.append(Equation(label[idx[0]], layer, t, members, True))
                continue
            for m in members:
                if (t, (m,), False) not in seen:
                    seen.add((t, (m,), False))
                    out.append(Equation(f"{label[idx[0]]}:{m}", layer, t, [m], False))
    return out


def _hierarchies(items: pd.DataFrame, rate: np.ndarray) -> list[Equation]:
    out: list[Equation] = []
    seen: set[tuple] = set()
    for layer, rows, col in _layers(items, rate):
        rows = rows[
            ["release", "table_id", "unit_id", "parent_unit_id", "grouping", "category", "children_complete", col]
        ]
        kids = rows[rows["parent_unit_id"] != ""]
        n_children = kids.groupby(["release", "table_id", "parent_unit_id"])["unit_id"].transform("nunique")
        kids = kids.assign(n_children=n_children.to_numpy())
        joined = kids.merge(
            rows.rename(
                columns={
                    "unit_id": "parent_unit_id",
                    col: "parent_var",
                    "children_complete": "parent_complete",
                    "parent_unit_id": "grand",
                }
            ),
            on=["release", "table_id", "parent_unit_id", "grouping", "category"],
        )
        if joined.empty:
            continue
        var = joined[col].to_numpy()
        parent_var = joined["parent_var"].to_numpy()
        complete_flag = joined["parent_complete"].to_numpy()
        units = joined["unit_id"].to_numpy()
        n_kids = joined["n_children"].to_numpy()
        label = (
            "hierarchy:"
            + layer
            + ":"
            + joined["parent_unit_id"]
            + ":"
            + joined["grouping"]
            + ":"
            + joined["category"]
            + ":"
            + joined["table_id"]
        ).to_numpy()
        for idx in _groups(joined, ["release", "table_id", "parent_unit_id", "grouping", "category"], col):
            members = tuple(sorted(set(var[idx].tolist())))
            complete = bool(complete_flag[idx].all()) and len(set(units[idx].tolist())) == n_kids[idx[0]]
            total = int(parent_var[idx[0]])
            key = (total, members, complete)
            if key in seen:
                continue
            seen.add(key)
            out.append(Equation(label[idx[0]], layer, total, list(members), complete))
    return out
