"""Feasible intervals of linear functions over {x : row_lo <= A x <= row_hi, col_lo <= x <= col_hi}.

1. Presolve: substitute known variables and turn one-variable rows into bounds, rounded to
   integers (every variable counts students), until nothing changes.
2. Decompose: connected components of the remaining variables (two variables are linked
   when a row holds both); only components holding a target are solved.
3. Solve: min and max of each target over its component with HiGHS. The default backend
   keeps one HiGHS model per batch of components and re-solves from the previous basis
   after changing the objective (scipy's bundled HiGHS bindings); `linprog` calls
   scipy.optimize.linprog(method='highs') for every bound and is the reference path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from orchestration.lib.disclosure.audit.reader import AuditError

TOL = 1e-6
BATCH_COLUMNS = 400

try:  # scipy's own HiGHS bindings (not a public scipy API; the linprog path is the fallback)
    from scipy.optimize._highspy import _core as _highs_core
except ImportError:  # pragma: no cover - depends on the scipy build
    _highs_core = None


@dataclass
class Target:
    cols: np.ndarray
    coefs: np.ndarray


def presolve(matrix: sp.csr_matrix, row_lo, row_hi, col_lo, col_hi, max_passes: int = 20):
    """Tightened integer column bounds and the rows still linking two or more unknowns."""
    col_lo, col_hi = col_lo.astype(float).copy(), col_hi.astype(float).copy()
    active = np.ones(matrix.shape[0], dtype=bool)
    csc = matrix.tocsc()
    for _ in range(max_passes):
        fixed = col_lo == col_hi
        value = np.where(fixed, col_lo, 0.0)
        shift = matrix @ value
        free_matrix = (csc[:, ~fixed] if (~fixed).any() else sp.csc_matrix((matrix.shape[0], 0))).tocsr()
        free_cols = np.flatnonzero(~fixed)
        n_free = np.diff(free_matrix.indptr)
        lo, hi = row_lo - shift, row_hi - shift
        empty = active & (n_free == 0)
        if ((lo[empty] > TOL) | (hi[empty] < -TOL)).any():
            bad = np.flatnonzero(empty & ((lo > TOL) | (hi < -TOL)))[0]
            raise AuditError(f"the published figures contradict each other (constraint {bad} cannot hold)")
        active &= n_free > 0
        single = np.flatnonzero(active & (n_free == 1))
        if len(single) == 0:
            break
        starts = free_matrix.indptr[single]
        cols = free_cols[free_matrix.indices[starts]]
        a = free_matrix.data[starts]
        with np.errstate(divide="ignore", invalid="ignore"):
            b1, b2 = lo[single] / a, hi[single] / a
        new_lo = np.where(a > 0, b1, b2)
        new_hi = np.where(a > 0, b2, b1)
        new_lo = np.ceil(np.nan_to_num(new_lo, nan=-np.inf) - TOL)
        new_hi = np.floor(np.nan_to_num(new_hi, nan=np.inf) + TOL)
        before_lo, before_hi = col_lo.copy(), col_hi.copy()
        np.maximum.at(col_lo, cols, new_lo)
        np.minimum.at(col_hi, cols, new_hi)
        active[single] = False
        if (col_lo > col_hi + TOL).any():
            bad = int(np.flatnonzero(col_lo > col_hi + TOL)[0])
            raise AuditError(f"the published figures contradict each other (variable {bad} has no feasible value)")
        col_hi = np.maximum(col_hi, col_lo)
        if np.array_equal(before_lo, col_lo) and np.array_equal(before_hi, col_hi):
            break
    return col_lo, col_hi, active


def _components(matrix: sp.csr_matrix, active: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Component label of every column (fixed columns get -1)."""
    n_rows, n_cols = matrix.shape
    sub = matrix[active][:, free] if free.any() and active.any() else sp.csr_matrix((0, int(free.sum())))
    k = sub.shape[1]
    coo = sub.tocoo()
    size = k + sub.shape[0]
    graph = sp.coo_matrix((np.ones(coo.nnz), (coo.col, coo.row + k)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    out = np.full(n_cols, -1, dtype=np.int64)
    out[np.flatnonzero(free)] = labels[:k]
    return out


class _Batch:
    """One LP over a set of components (block diagonal) answering many objectives."""

    def __init__(self, matrix: sp.csr_matrix, row_lo, row_hi, col_lo, col_hi, backend: str):
        self.matrix, self.row_lo, self.row_hi = matrix, row_lo, row_hi
        self.col_lo, self.col_hi = col_lo, col_hi
        self.backend = backend
        self.n = matrix.shape[1]
        if backend == "highs":
            self._init_highs()
        else:
            eq = row_lo == row_hi
            up = ~eq & np.isfinite(row_hi)
            down = ~eq & np.isfinite(row_lo)
            self.a_eq = matrix[eq] if eq.any() else None
            self.b_eq = row_lo[eq] if eq.any() else None
            a_ub = sp.vstack([matrix[up], -matrix[down]]) if (up.any() or down.any()) else None
            self.a_ub = a_ub
            self.b_ub = np.concatenate([row_hi[up], -row_lo[down]]) if a_ub is not None else None
            self.bounds = list(zip(col_lo, [None if math.isinf(h) else h for h in col_hi], strict=True))

    def _init_highs(self) -> None:
        core = _highs_core
        h = core._Highs()
        h.setOptionValue("output_flag", False)
        lp = core.HighsLp()
        csc = self.matrix.tocsc()
        lp.num_col_, lp.num_row_ = self.n, self.matrix.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_, lp.col_upper_ = self.col_lo, self.col_hi
        lp.row_lower_, lp.row_upper_ = self.row_lo, self.row_hi
        lp.a_matrix_.format_ = core.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        h.passModel(lp)
        self.h, self.core = h, core
        self.last = np.empty(0, dtype=np.int32)
        self.status = core.HighsModelStatus

    def _highs_min(self, cols: np.ndarray, coefs: np.ndarray) -> float:
        h = self.h
        if len(self.last):
            h.changeColsCost(len(self.last), self.last, np.zeros(len(self.last)))
        idx = cols.astype(np.int32)
        h.changeColsCost(len(idx), idx, coefs.astype(float))
        self.last = idx
        h.run()
        status = h.getModelStatus()
        if status == self.status.kOptimal:
            return h.getInfo().objective_function_value
        if status in (self.status.kUnbounded, self.status.kUnboundedOrInfeasible):
            return -np.inf
        if status == self.status.kInfeasible:
            raise AuditError("the published figures contradict each other (no table fits them)")
        raise AuditError(f"HiGHS stopped with status {h.modelStatusToString(status)}")

    def _linprog_min(self, cols: np.ndarray, coefs: np.ndarray) -> float:
        c = np.zeros(self.n)
        c[cols] = coefs
        res = linprog(
            c, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=self.a_eq, b_eq=self.b_eq, bounds=self.bounds, method="highs"
        )
        if res.status == 0:
            return float(res.fun)
        if res.status == 3:
            return -np.inf
        if res.status == 2:
            raise AuditError("the published figures contradict each other (no table fits them)")
        raise AuditError(f"linprog stopped: {res.message}")

    def interval(self, cols: np.ndarray, coefs: np.ndarray) -> tuple[float, float]:
        solve = self._highs_min if self.backend == "highs" else self._linprog_min
        low = solve(cols, coefs)
        high = -solve(cols, -coefs)
        return low, high


def intervals(matrix, row_lo, row_hi, col_lo, col_hi, targets: list[Target], backend: str = "auto"):
    """Integer (lower, upper) of every target; also the presolved column bounds."""
    if backend == "auto":
        backend = "highs" if _highs_core is not None else "linprog"
    if backend not in ("highs", "linprog"):
        raise ValueError(f"backend must be 'auto', 'highs' or 'linprog', got {backend!r}")
    col_lo, col_hi, active = presolve(matrix, row_lo, row_hi, col_lo, col_hi)
    free = col_lo < col_hi
    labels = _components(matrix, active, free)
    lower = np.zeros(len(targets))
    upper = np.zeros(len(targets))
    # targets whose free part lies in one component; trivial ones are answered at once
    consts = np.zeros(len(targets))
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for t, target in enumerate(targets):
        fixed = ~free[target.cols]
        consts[t] = float(np.dot(target.coefs[fixed], col_lo[target.cols[fixed]]))
        parts.append((target.cols[~fixed], target.coefs[~fixed]))
        comps = np.unique(labels[target.cols[~fixed]])
        if len(comps) > 1:  # a target spanning components: solve them as one (still exact)
            labels[np.isin(labels, comps)] = comps[0]
    by_comp: dict[int, list[int]] = {}
    for t, (cols, _) in enumerate(parts):
        if len(cols) == 0:
            lower[t] = upper[t] = consts[t]
        else:
            by_comp.setdefault(int(labels[cols[0]]), []).append(t)
    sub = matrix[active]
    sub_lo, sub_hi = row_lo[active], row_hi[active]
    row_comp = np.full(sub.shape[0], -1, dtype=np.int64)
    if sub.nnz:
        nnz_labels = labels[sub.indices]
        nonempty = np.diff(sub.indptr) > 0
        row_comp[nonempty] = np.maximum.reduceat(nnz_labels, sub.indptr[:-1][nonempty])
    order = np.argsort(row_comp, kind="stable")
    sorted_comp = row_comp[order]
    col_order = np.argsort(labels, kind="stable")
    sorted_labels = labels[col_order]
    pending: list[int] = []
    for comp, ts in by_comp.items():
        r0, r1 = np.searchsorted(sorted_comp, [comp, comp + 1])
        c0, c1 = np.searchsorted(sorted_labels, [comp, comp + 1])
        if r1 == r0 and c1 - c0 == 1:  # one variable, no linking row: its bounds are the interval
            for t in ts:
                col, coef = int(parts[t][0][0]), float(parts[t][1][0])
                a, b = coef * col_lo[col], coef * col_hi[col]
                lower[t], upper[t] = consts[t] + min(a, b), consts[t] + max(a, b)
        else:
            pending.append(comp)
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for comp in pending:
        c0, c1 = np.searchsorted(sorted_labels, [comp, comp + 1])
        if current and size + (c1 - c0) > BATCH_COLUMNS:
            batches.append(current)
            current, size = [], 0
        current.append(comp)
        size += c1 - c0
    if current:
        batches.append(current)
    fixed_value = np.where(col_lo == col_hi, col_lo, 0.0)
    position = np.full(matrix.shape[1], -1, dtype=np.int64)
    for batch in batches:
        cols = np.concatenate([col_order[slice(*np.searchsorted(sorted_labels, [c, c + 1]))] for c in batch])
        rows = np.concatenate([order[slice(*np.searchsorted(sorted_comp, [c, c + 1]))] for c in batch])
        block = sub[rows]
        shift = block @ fixed_value
        position[cols] = np.arange(len(cols))
        lp = _Batch(
            block[:, cols].tocsr(), sub_lo[rows] - shift, sub_hi[rows] - shift, col_lo[cols], col_hi[cols], backend
        )
        for comp in batch:
            for t in by_comp[comp]:
                low, high = lp.interval(position[parts[t][0]], parts[t][1])
                lower[t], upper[t] = consts[t] + low, consts[t] + high
    lower = np.ceil(lower - TOL) + 0.0
    upper = np.floor(upper + TOL) + 0.0
    return lower, upper, col_lo, col_hi
