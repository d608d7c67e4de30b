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
        cost = np.zeros(self.n)
        np.add.at(cost, cols, coefs)
        idx = np.flatnonzero(cost).astype(np.int32)
        h.changeColsCost(len(idx), idx, cost[idx])
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
        np.add.at(c, cols, coefs)
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

    def point(self, cols: np.ndarray, coefs: np.ndarray) -> np.ndarray | None:
        """A feasible point minimising the objective (None when unbounded)."""
        if self.backend == "highs":
            value = self._highs_min(cols, coefs)
            return None if np.isinf(value) else np.asarray(self.h.getSolution().col_value)
        c = np.zeros(self.n)
        np.add.at(c, cols, coefs)
        res = linprog(
            c, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=self.a_eq, b_eq=self.b_eq, bounds=self.bounds, method="highs"
        )
        if res.status == 2:
            raise AuditError("the published figures contradict each other (no table fits them)")
        return res.x if res.status == 0 else None

    def interval(self, cols: np.ndarray, coefs: np.ndarray) -> tuple[float, float]:
        solve = self._highs_min if self.backend == "highs" else self._linprog_min
        low = solve(cols, coefs)
        high = -solve(cols, -coefs)
        return low, high


@dataclass
class Need:
    """What would settle a target without computing its exact interval.

    unpinned: a feasible value other than the true one must exist; floor_at: some feasible
    value <= floor_at or >= ceiling_at must exist (outside the protected range);
    exact: always compute the exact interval."""

    unpinned: bool = True
    floor_at: float | None = None
    ceiling_at: float | None = None
    exact: bool = False


def intervals(
    matrix,
    row_lo,
    row_hi,
    col_lo,
    col_hi,
    targets: list[Target],
    backend: str = "auto",
    needs: list[Need] | None = None,
    truth: np.ndarray | None = None,
):
    """Integer (lower, upper) of every target, whether it is exact, and the presolved bounds.

    Without `needs` every interval is exact (two LPs a target). With `needs`, a component
    is first probed with a few aggregate objectives (and the true values, when given); a
    target whose probes already show what its need asks for keeps the range of values
    seen, an inner bound of its interval (the reader's interval is at least that wide),
    and only the others get the exact two LPs.
    """
    if backend == "auto":
        backend = "highs" if _highs_core is not None else "linprog"
    if backend not in ("highs", "linprog"):
        raise ValueError(f"backend must be 'auto', 'highs' or 'linprog', got {backend!r}")
    col_lo, col_hi, active = presolve(matrix, row_lo, row_hi, col_lo, col_hi)
    free = col_lo < col_hi
    labels = _components(matrix, active, free)
    n_t = len(targets)
    lower, upper = np.full(n_t, np.inf), np.full(n_t, -np.inf)  # exact bounds, or values seen so far
    exact = np.zeros(n_t, dtype=bool)
    consts = np.zeros(n_t)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for t, target in enumerate(targets):
        fixed = ~free[target.cols]
        consts[t] = float(np.dot(target.coefs[fixed], col_lo[target.cols[fixed]]))
        parts.append((target.cols[~fixed], target.coefs[~fixed]))
        comps = np.unique(labels[target.cols[~fixed]])
        if len(comps) > 1:  # a target spanning components: solve them as one (still exact)
            labels[np.isin(labels, comps)] = comps[0]
        if truth is not None and needs is not None:
            seen = float(np.dot(target.coefs, truth[target.cols]))
            if not np.isnan(seen):
                lower[t], upper[t] = math.ceil(seen - TOL), math.floor(seen + TOL)
    by_comp: dict[int, list[int]] = {}
    for t, (cols, _) in enumerate(parts):
        if len(cols) == 0:
            lower[t] = upper[t] = consts[t]
            exact[t] = True
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
                exact[t] = True
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
    rng = np.random.default_rng(0)
    kind = np.where(exact, "exact", "inner").astype(object)
    ctx = _Context(sub, sub_lo, sub_hi, fixed_value, col_lo, col_hi, backend)
    for batch in batches:
        cols = np.concatenate([col_order[slice(*np.searchsorted(sorted_labels, [c, c + 1]))] for c in batch])
        rows = np.concatenate([order[slice(*np.searchsorted(sorted_comp, [c, c + 1]))] for c in batch])
        ts = [t for comp in batch for t in by_comp[comp]]
        whole = _Block(ctx, cols, rows)
        if needs is None:
            open_ts = ts
        elif len(cols) > BIG_COMPONENT and truth is not None:
            graph = _Graph(sub, cols, truth)
            open_ts = _probe_balls(graph, ctx, ts, parts, needs, consts, lower, upper, rng)
            for grow in (4, 16, 64):  # wider balls, each target also on its own, before the whole component
                open_ts = _probe_balls(
                    graph,
                    ctx,
                    open_ts,
                    parts,
                    needs,
                    consts,
                    lower,
                    upper,
                    rng,
                    grow * BALL_COLUMNS,
                    grow * grow * ROW_FANOUT,
                    individual=True,
                )
            open_ts = _outer_proofs(graph, ctx, open_ts, parts, needs, consts, lower, upper, kind)
            if len(cols) > MAX_EXACT_COLUMNS:  # too large to solve target by target: not proven safe
                kind[open_ts] = "unproven"
                open_ts = []
        else:
            open_ts = _probe(whole.lp, ts, whole.localise(parts, ts), needs, consts, lower, upper, rng)
        local = whole.localise(parts, open_ts)
        if needs is not None:
            _settle_each(whole.lp, open_ts, local, needs, consts, lower, upper, kind)
            continue
        for t in open_ts:
            low, high = whole.lp.interval(*local[t])
            lower[t], upper[t] = consts[t] + low, consts[t] + high
            kind[t] = "exact"
    lower = np.ceil(lower - TOL) + 0.0
    upper = np.floor(upper + TOL) + 0.0
    return lower, upper, kind, col_lo, col_hi


BIG_COMPONENT = 5000  # columns; larger components are probed in balls around the targets
MAX_EXACT_COLUMNS = 6000  # beyond this a target neither ball nor relaxation decides is reported 'unproven'
BALL_COLUMNS = 300
SMALL_ROW = 16  # rows this short join a ball whole; longer ones (a state total) add ROW_FANOUT members
ROW_FANOUT = 3


@dataclass
class _Context:
    sub: sp.csr_matrix  # the rows still linking unknowns
    row_lo: np.ndarray
    row_hi: np.ndarray
    fixed_value: np.ndarray  # known columns at their value, unknown ones at 0
    col_lo: np.ndarray
    col_hi: np.ndarray
    backend: str


class _Block:
    """The LP of some unknown columns over some rows; other unknowns held at `outside` values."""

    def __init__(self, ctx: _Context, cols: np.ndarray, rows: np.ndarray, outside: np.ndarray | None = None):
        self.position = {int(c): i for i, c in enumerate(cols)}
        block = ctx.sub[rows]
        shift = block @ (ctx.fixed_value if outside is None else ctx.fixed_value + outside)
        self._args = (
            block[:, cols].tocsr(),
            ctx.row_lo[rows] - shift,
            ctx.row_hi[rows] - shift,
            ctx.col_lo[cols],
            ctx.col_hi[cols],
            ctx.backend,
        )
        self._lp = None

    @property
    def lp(self) -> _Batch:
        if self._lp is None:
            self._lp = _Batch(*self._args)
        return self._lp

    def localise(self, parts, ts) -> dict:
        return {t: (np.array([self.position[int(c)] for c in parts[t][0]], dtype=np.int64), parts[t][1]) for t in ts}


class _Graph:
    """Rows and columns of one large component, for growing balls around targets."""

    def __init__(self, sub: sp.csr_matrix, cols: np.ndarray, truth: np.ndarray):
        self.sub, self.csc = sub, sub.tocsc()
        self.member = np.zeros(sub.shape[1], dtype=bool)
        self.member[cols] = True
        self.truth = truth

    def rows_of(self, col: int) -> np.ndarray:
        return self.csc.indices[self.csc.indptr[col] : self.csc.indptr[col + 1]]

    def cols_of(self, row: int) -> np.ndarray:
        """The row's unknown columns, totals (negative coefficients) first."""
        span = slice(self.sub.indptr[row], self.sub.indptr[row + 1])
        cols, coefs = self.sub.indices[span], self.sub.data[span]
        keep = self.member[cols]
        cols, coefs = cols[keep], coefs[keep]
        return cols[np.argsort(coefs >= 0, kind="stable")]

    def ball(self, seeds: np.ndarray, size: int = BALL_COLUMNS, fanout: int = ROW_FANOUT):
        """Columns near the seeds (breadth first, a hop at a time) and every row touching them."""
        inside = np.zeros(self.sub.shape[1], dtype=bool)
        row_seen = np.zeros(self.sub.shape[0], dtype=bool)
        frontier = np.unique(np.asarray(seeds, dtype=np.int64))
        inside[frontier] = True
        count = len(frontier)
        while len(frontier) and count < size:
            rows = np.unique(np.concatenate([self.rows_of(c) for c in frontier.tolist()]))
            rows = rows[~row_seen[rows]]
            row_seen[rows] = True
            lengths = self.sub.indptr[rows + 1] - self.sub.indptr[rows]
            found = [self.sub.indices[self.sub.indptr[r] : self.sub.indptr[r + 1]] for r in rows[lengths <= SMALL_ROW]]
            for r in rows[lengths > SMALL_ROW].tolist():
                members = self.cols_of(r)
                members = members[~inside[members]]
                unknown = np.isnan(self.truth[members])
                found.append(np.concatenate([members[:fanout], members[fanout:][unknown[fanout:]]]))
            new = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
            new = new[self.member[new] & ~inside[new]]
            new = new[: max(0, size - count)] if count + len(new) > size else new
            inside[new] = True
            count += len(new)
            frontier = new
        cols = np.flatnonzero(inside)
        rows = np.unique(np.concatenate([self.rows_of(c) for c in cols.tolist()])) if len(cols) else np.empty(0, int)
        return cols, rows


def _probe_balls(
    graph: _Graph,
    ctx: _Context,
    ts,
    parts,
    needs,
    consts,
    lower,
    upper,
    rng,
    size: int = BALL_COLUMNS,
    fanout: int = ROW_FANOUT,
    individual: bool = False,
) -> list[int]:
    """Settle targets inside balls whose outside unknowns are held at their true values (an inner bound)."""
    open_ts = [t for t in ts if not _settled(needs[t], lower[t], upper[t])]
    tried: set[int] = set()
    free = ctx.col_lo < ctx.col_hi
    by_col: dict[int, list[int]] = {}
    for u in open_ts:
        by_col.setdefault(int(parts[u][0][0]), []).append(u)
    for t in list(open_ts):
        if t in tried or _settled(needs[t], lower[t], upper[t]):
            continue
        cols, rows = graph.ball(parts[t][0], size, fanout)
        neighbours = np.setdiff1d(graph.sub[rows].indices, cols)
        if np.isnan(graph.truth[neighbours[free[neighbours]]]).any():
            continue  # an unknown true value next to the ball: leave these targets to the exact LP
        outside = np.where(free, np.nan_to_num(graph.truth, nan=0.0), 0.0)
        outside[cols] = 0.0
        in_ball = set(cols.tolist())
        near = [u for c in cols.tolist() for u in by_col.get(c, ())]
        inside = [
            u
            for u in near
            if (u == t or u not in tried)
            and not _settled(needs[u], lower[u], upper[u])
            and set(parts[u][0].tolist()) <= in_ball
        ]
        # a target probed near the edge of another's ball still gets a ball of its own when probed one by one
        tried.update([t] if individual else inside)
        block = _Block(ctx, cols, rows, outside)
        _probe(block.lp, inside, block.localise(parts, inside), needs, consts, lower, upper, rng, individual)
    return [t for t in ts if not _settled(needs[t], lower[t], upper[t])]


def _outer_proofs(graph: _Graph, ctx: _Context, ts, parts, needs, consts, lower, upper, kind) -> list[int]:
    """A ball with its neighbours free and the farther rows dropped is a relaxation: when even
    its interval fails the need, the target is disclosed, no exact LP required."""
    left = []
    for t in ts:
        cols, rows = graph.ball(parts[t][0])
        wider = np.unique(np.concatenate([cols, *[graph.cols_of(r) for r in rows]]))
        block = _Block(ctx, wider, rows)
        low, high = block.lp.interval(*block.localise(parts, [t])[t])
        lo, hi = math.ceil(consts[t] + low - TOL), math.floor(consts[t] + high + TOL)
        if _settled(needs[t], lo, hi):
            left.append(t)
        else:
            lower[t], upper[t], kind[t] = consts[t] + low, consts[t] + high, "outer"
    return left


PROBES = 6


def _settle_each(lp: _Batch, ts, local, needs, consts, lower, upper, kind) -> None:
    """Each open target's own minimum, then its maximum only if the minimum did not settle it.

    Every solution is a feasible table, so it is also a probe of every other open target:
    the values it shows widen their seen ranges, which often settles them with no solve of
    their own. A target solved both ways has its exact interval."""
    if not ts:
        return
    ts_arr = np.asarray(ts, dtype=np.int64)
    lengths = [len(local[t][0]) for t in ts]
    values = sp.csr_matrix(
        (
            np.concatenate([local[t][1] for t in ts]),
            (np.repeat(np.arange(len(ts)), lengths), np.concatenate([local[t][0] for t in ts])),
        ),
        shape=(len(ts), lp.n),
    )
    base = consts[ts_arr]

    def see(x: np.ndarray) -> None:
        v = values @ x + base
        lower[ts_arr] = np.minimum(lower[ts_arr], np.ceil(v - TOL))
        upper[ts_arr] = np.maximum(upper[ts_arr], np.floor(v + TOL))

    for t in ts:
        if _settled(needs[t], lower[t], upper[t]):
            continue
        cols, coefs = local[t]
        for sign in (1.0, -1.0):
            x = lp.point(cols, sign * coefs)
            if x is None:  # unbounded that way (a parent whose children are not all listed)
                if sign > 0:
                    lower[t] = -np.inf
                else:
                    upper[t] = np.inf
            else:
                see(x)
            if sign > 0 and _settled(needs[t], lower[t], upper[t]):
                break
        else:
            kind[t] = "exact"


def _settled(need: Need, lo: float, hi: float) -> bool:
    if not need.exact and not need.unpinned and need.floor_at is None:
        return True
    if need.exact or lo > hi:
        return False
    if need.unpinned and not lo < hi:
        return False
    if need.floor_at is not None and not (lo <= need.floor_at or hi >= need.ceiling_at):
        return False
    return True


def _probe(lp: _Batch, ts, local, needs, consts, lower, upper, rng, individual: bool = False) -> list[int]:
    """Aggregate objectives over the block (then, if `individual`, each target's own min and max);
    returns the targets not settled."""
    open_ts = [t for t in ts if not _settled(needs[t], lower[t], upper[t])]
    stale = 0
    for round_ in range(PROBES):
        if not open_ts or stale >= 2:
            break
        if round_ == 0:
            weights = np.ones(len(open_ts))
        elif round_ == 1:
            weights = -np.ones(len(open_ts))
        else:
            weights = rng.choice([-1.0, 1.0], len(open_ts))
        cols = np.concatenate([local[t][0] for t in open_ts])
        coefs = np.concatenate([local[t][1] * w for t, w in zip(open_ts, weights, strict=True)])
        x = lp.point(cols, coefs)
        if x is None:
            stale += 1
            continue
        for t in open_ts:
            value = consts[t] + float(np.dot(local[t][1], x[local[t][0]]))
            lower[t] = min(lower[t], math.ceil(value - TOL))
            upper[t] = max(upper[t], math.floor(value + TOL))
        still = [t for t in open_ts if not _settled(needs[t], lower[t], upper[t])]
        stale = stale + 1 if len(still) == len(open_ts) else 0
        open_ts = still
    if individual:
        for t in open_ts:
            low, high = lp.interval(*local[t])
            # an unbounded direction (a parent whose children are not all listed) stays infinite
            lower[t] = min(lower[t], _int_ceil(consts[t] + low - TOL))
            upper[t] = max(upper[t], _int_floor(consts[t] + high + TOL))
        open_ts = [t for t in open_ts if not _settled(needs[t], lower[t], upper[t])]
    return open_ts


def _int_ceil(value: float) -> float:
    return value if math.isinf(value) else math.ceil(value)


def _int_floor(value: float) -> float:
    return value if math.isinf(value) else math.floor(value)
