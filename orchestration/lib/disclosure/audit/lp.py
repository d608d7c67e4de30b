"""Feasible intervals of linear functions over {x : row_lo <= A x <= row_hi, col_lo <= x <= col_hi}.

1. Presolve: substitute known variables and turn one-variable rows into bounds, rounded to
   integers (every variable counts students), until nothing changes.
2. Decompose: connected components of the remaining variables (two variables are linked
   when a row holds both); only components holding a target are solved.
3. Solve: min and max of each target over its component with HiGHS (the public `highspy`
   package). The default backend keeps one HiGHS model per batch of components and re-solves
   from the previous basis after changing the objective; `linprog` calls scipy's linprog and
   milp for every bound and is the reference path.

Whole numbers: with only sums, hierarchies and relations (unit coefficients) the LP's integer
rounding is the reader's interval. Percentage rows (200 N against 119 C, say) are not: the LP
admits 0.03 of a student. A component holding one, up to MILP_COLUMNS unknowns, is solved as a
MILP (every column whole); a larger one keeps the LP bound, an outer bound of the whole-number
interval, and its targets' kind is 'lp_relaxed'.

Checks: every answer is checked before it is used. A point must satisfy the block's rows and
bounds within tolerance (and be whole in a MILP) and attain the reported optimum; an unbounded
answer needs a feasible point and a valid ray. An answer that fails is solved again with
presolve off; if neither passes, the tighter of the two claims is kept, and only checked points
ever widen an interval (an audit may report an interval narrower than the truth, never wider).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse.csgraph import connected_components

from orchestration.lib.disclosure.audit.reader import AuditError

TOL = 1e-6
BATCH_COLUMNS = 400
# A component with percentage rows up to this many unknowns gets whole-number (MILP) intervals.
# The demo's rate components without published counts (1,200-1,300 unknowns, ~1,500 targets,
# 50-500 ms a MILP) stay LP: solving them so would multiply the audit's time.
MILP_COLUMNS = 400
# Even small MILPs of percentage rows can spend seconds in the root node (cut separation): a
# 370-unknown state of 180 schools shown in ranges takes ~10 s a MILP. So each MILP has a node
# limit and a time limit, and one intervals() call a MILP budget; a MILP stopped by either keeps
# the bound it proved (at least the LP's) and its targets' kind is 'lp_relaxed', like a large
# component's. The time limits are a safety net: they make a result depend on the machine only
# when it is hit.
MILP_NODES = 2000
MILP_SECONDS = 2.0
MILP_BUDGET = 20.0
FEAS_TOL = 1e-6  # a point's violation of a row or bound, relative to the row's magnitude at that point
INT_TOL = 1e-6  # distance from a whole number of a MILP column
RAY_TOL = 1e-9

try:
    import highspy
except ImportError:  # pragma: no cover - a broken install; intervals() says what is missing
    highspy = None

MISSING_HIGHSPY = (
    "the disclosure audit needs the 'highspy' package (HiGHS 1.16.0, a dependency of this project: "
    "pip install highspy==1.16.0); backend='linprog' is the slow reference path"
)

if highspy is not None:

    class _QuietHighs(highspy.Highs):
        """highspy.Highs without HiGHS's banner on stdout."""

        def enableCallbacks(self):  # Highs.__init__ calls it, and it would print the banner
            self.setOptionValue("output_flag", False)
            super().enableCallbacks()


def _within(value: np.ndarray, lo: np.ndarray, hi: np.ndarray, size) -> bool:
    """lo <= value <= hi within FEAS_TOL * size (`size()` is computed only if an absolute
    FEAS_TOL does not already settle it: most answers are exact to 1e-9)."""
    excess = np.maximum(lo - value, value - hi)
    if not (excess > FEAS_TOL).any():
        return True
    return not (excess > FEAS_TOL * size()).any()


def _highs():
    if highspy is None:  # pragma: no cover - intervals() checks first
        raise ImportError(MISSING_HIGHSPY)
    return _QuietHighs()


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


@dataclass
class _Raw:
    """One solver call's answer, unchecked. status: 'optimal', 'unbounded', 'infeasible',
    'limit' (a MILP stopped at MILP_NODES: value is its proven bound) or the solver's word."""

    status: str
    value: float = math.nan
    x: np.ndarray | None = None
    ray: np.ndarray | None = None  # an unbounded direction, when the solver gives one


@dataclass
class Answer:
    """A checked minimum: `value` (-inf when unbounded; after two answers that both failed their
    check, the tighter claim) and `x`, a feasible point that passed the check (whole numbers in
    a MILP), or None. `proven` is False when a MILP stopped at its node limit: `value` is then
    only a bound (an outer one, like the LP's)."""

    value: float
    x: np.ndarray | None
    proven: bool = True


@dataclass
class _Budget:
    """Seconds of MILP left to one intervals() call."""

    left: float = field(default_factory=lambda: MILP_BUDGET)


class _Batch:
    """One model over a set of components (block diagonal) answering many objectives.

    `integer`: the columns are whole numbers (a MILP), for components with percentage rows,
    whose LP relaxation admits tables no whole-number release allows; `known` is a whole-number
    table believed to fit (the true values), `budget` the MILP time left."""

    def __init__(
        self,
        matrix: sp.csr_matrix,
        row_lo,
        row_hi,
        col_lo,
        col_hi,
        backend: str,
        integer: bool = False,
        known: np.ndarray | None = None,
        budget: _Budget | None = None,
    ):
        self.matrix, self.row_lo, self.row_hi = matrix, row_lo, row_hi
        self.col_lo, self.col_hi = col_lo, col_hi
        self.backend, self.integer = backend, integer
        self.budget = budget or _Budget()
        self.n = matrix.shape[1]
        self.abs_matrix = abs(matrix)
        self.resolves = 0  # answers that failed their check and were solved again without presolve
        # a whole-number point of this block is known (checked, like any witness)
        self._whole_table = known is not None and self._feasible(known, integer=True)
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
            self.col_bounds = list(zip(col_lo, [None if math.isinf(h) else h for h in col_hi], strict=True))

    def _init_highs(self) -> None:
        h = _highs()
        lp = highspy.HighsLp()
        csc = self.matrix.tocsc()
        lp.num_col_, lp.num_row_ = self.n, self.matrix.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_, lp.col_upper_ = self.col_lo, self.col_hi
        lp.row_lower_, lp.row_upper_ = self.row_lo, self.row_hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        if self.integer:
            lp.integrality_ = [highspy.HighsVarType.kInteger] * self.n
        h.passModel(lp)
        if self.integer:
            h.setOptionValue("mip_rel_gap", 0.0)  # a proven optimum, not one within 0.01%
            h.setOptionValue("mip_max_nodes", MILP_NODES)
        self.h = h
        self.cost = np.zeros(self.n)
        self.options: dict[str, object] = {}

    def _option(self, name: str, value) -> None:
        if self.options.get(name) != value:
            self.h.setOptionValue(name, value)
            self.options[name] = value

    # ---- one solver call (the seam tests replace to feed the checks a wrong answer) ----------
    def _run(self, cost: np.ndarray, presolve: bool, integer: bool) -> _Raw:
        if not integer:
            return (
                self._run_highs(cost, presolve, False) if self.backend == "highs" else self._run_scipy(cost, presolve)
            )
        seconds = min(MILP_SECONDS, max(self.budget.left, 0.0))
        began = time.perf_counter()
        try:
            if self.backend == "highs":
                return self._run_highs(cost, presolve, True, seconds)
            return self._run_scipy(cost, presolve, seconds)
        finally:
            self.budget.left -= time.perf_counter() - began

    def _run_highs(self, cost: np.ndarray, presolve: bool, integer: bool, seconds: float = np.inf) -> _Raw:
        h, status_of = self.h, highspy.HighsModelStatus
        self._option("presolve", "choose" if presolve else "off")
        if self.integer:
            self._option("solve_relaxation", not integer)
            self._option("time_limit", float(seconds))
        if not presolve:
            h.clearSolver()  # an independent solve, not a restart from the basis that gave the doubtful answer
        changed = np.flatnonzero(cost != self.cost).astype(np.int32)
        if len(changed):
            h.changeColsCost(len(changed), changed, cost[changed])
            self.cost = cost.copy()
        h.run()
        status = h.getModelStatus()
        solution = h.getSolution()
        x = np.array(solution.col_value) if solution.value_valid else None
        if status == status_of.kOptimal:
            return _Raw("optimal", h.getInfo().objective_function_value, x)
        if status == status_of.kUnbounded:
            _, has_ray, ray = h.getPrimalRay()
            return _Raw("unbounded", -np.inf, x, np.array(ray) if has_ray else None)
        if status == status_of.kUnboundedOrInfeasible:
            return _Raw("unbounded", -np.inf)
        if status == status_of.kInfeasible:
            return _Raw("infeasible")
        if integer and status in (status_of.kSolutionLimit, status_of.kIterationLimit, status_of.kTimeLimit):
            return _Raw("limit", h.getInfo().mip_dual_bound, x)
        return _Raw(h.modelStatusToString(status))

    def _run_scipy(self, cost: np.ndarray, presolve: bool, seconds: float | None = None) -> _Raw:
        """linprog, or (with `seconds`) milp."""
        if seconds is not None:
            res = milp(
                cost,
                integrality=np.ones(self.n),
                bounds=Bounds(self.col_lo, self.col_hi),
                constraints=LinearConstraint(self.matrix, self.row_lo, self.row_hi) if self.matrix.shape[0] else None,
                options={"presolve": presolve, "node_limit": MILP_NODES, "time_limit": seconds, "mip_rel_gap": 0.0},
            )
            statuses = {0: "optimal", 1: "limit", 2: "infeasible", 3: "unbounded"}
        else:
            res = linprog(
                cost,
                A_ub=self.a_ub,
                b_ub=self.b_ub,
                A_eq=self.a_eq,
                b_eq=self.b_eq,
                bounds=self.col_bounds,
                method="highs",
                options={"presolve": presolve},
            )
            statuses = {0: "optimal", 2: "infeasible", 3: "unbounded"}
        status = statuses.get(res.status, res.message)
        x = None if res.x is None else np.asarray(res.x, dtype=float)
        if status == "optimal":
            return _Raw(status, float(res.fun), x)
        if status == "unbounded":
            return _Raw(status, -np.inf, x)  # linprog gives no ray: a second solve must agree
        if status == "limit":
            return _Raw(status, float(res.mip_dual_bound), x)
        return _Raw(status)

    # ---- checks --------------------------------------------------------------------------------
    def _feasible(self, x: np.ndarray | None, integer: bool) -> bool:
        """x satisfies the block's bounds and rows within tolerance (and is whole when `integer`)."""
        if x is None or len(x) != self.n or not np.isfinite(x).all():
            return False
        if not _within(x, self.col_lo, self.col_hi, lambda: 1.0 + np.abs(x)):
            return False
        if not _within(self.matrix @ x, self.row_lo, self.row_hi, lambda: 1.0 + self.abs_matrix @ np.abs(x)):
            return False
        return not integer or bool((np.abs(x - np.round(x)) <= INT_TOL).all())

    def _ray(self, ray: np.ndarray | None, cost: np.ndarray) -> bool:
        """`ray` is a direction of unbounded descent: it keeps every row and bound and lowers the cost."""
        if ray is None or len(ray) != self.n or not np.isfinite(ray).all():
            return False
        size = 1.0 + np.abs(cost) @ np.abs(ray)
        if not cost @ ray < -RAY_TOL * size:
            return False
        move = self.matrix @ ray
        slack = RAY_TOL * (1.0 + self.abs_matrix @ np.abs(ray))
        rows_ok = not (
            (np.isfinite(self.row_hi) & (move > slack)).any() or (np.isfinite(self.row_lo) & (move < -slack)).any()
        )
        tiny = RAY_TOL * (1.0 + np.abs(ray))
        cols_ok = not (
            (np.isfinite(self.col_hi) & (ray > tiny)).any() or (np.isfinite(self.col_lo) & (ray < -tiny)).any()
        )
        return rows_ok and cols_ok

    def _checked(self, raw: _Raw, cost: np.ndarray, integer: bool) -> bool:
        """An optimum whose point is feasible and attains it; an unbounded answer with a feasible
        point and a valid ray (integer runs are never unbounded here: the LP decides that)."""
        if raw.status == "optimal":
            if not self._feasible(raw.x, integer):
                return False
            return abs(float(cost @ raw.x) - raw.value) <= FEAS_TOL * (1.0 + np.abs(cost) @ np.abs(raw.x))
        if raw.status == "unbounded" and not integer:
            return self._feasible(raw.x, False) and self._ray(raw.ray, cost)
        return False

    def _solve(self, cost: np.ndarray, integer: bool) -> Answer:
        """The minimum of cost @ x, checked; an answer that fails its check is solved again with
        presolve off, and when neither passes the tighter of the two claims is kept (an interval
        narrower than the truth can only flag more, never fewer, cells)."""
        first = self._run(cost, True, integer)
        if first.status == "limit":  # the node budget is spent either way: keep its bound and its point
            return Answer(first.value, first.x if self._feasible(first.x, integer) else None, proven=False)
        if self._checked(first, cost, integer):
            return Answer(first.value, first.x)
        self.resolves += 1
        second = self._run(cost, False, integer)
        answers = (first, second)
        witness = next((a.x for a in (second, first) if self._feasible(a.x, integer)), None)
        claims = [a.value for a in answers if a.status in ("optimal", "unbounded", "limit")]
        if not self._checked(second, cost, integer):
            if "infeasible" in (first.status, second.status) and witness is None:
                raise AuditError("the published figures contradict each other (no table fits them)")
            if len(claims) < 2:
                raise AuditError(f"HiGHS gave no usable answer ({first.status}, then {second.status} without presolve)")
        return Answer(max(claims), witness, proven=second.status != "limit")

    # ---- what the audit asks -------------------------------------------------------------------
    def minimize(self, cols: np.ndarray, coefs: np.ndarray) -> Answer:
        """The checked minimum of sum(coefs * x[cols]) (whole numbers in an integer block)."""
        cost = np.zeros(self.n)
        np.add.at(cost, cols, coefs)
        relaxed = self._solve(cost, integer=False)
        if not self.integer:
            return relaxed
        if math.isinf(relaxed.value):
            # unbounded over the reals is unbounded over whole numbers once one whole table fits (Meyer:
            # the integer hull of a rational polyhedron has the same recession cone); an LP point is no witness
            return Answer(-np.inf, None, proven=self._has_whole_table())
        if self.budget.left <= 0:  # no MILP time left: the LP's bound, no whole-number witness
            return Answer(relaxed.value, None, proven=False)
        whole = self._solve(cost, integer=True)
        self._whole_table |= whole.x is not None
        return Answer(max(whole.value, relaxed.value), whole.x, whole.proven)

    def _has_whole_table(self) -> bool:
        """Whether a whole-number table of this block is known (else a MILP for any one, budget allowing;
        one that no whole-number table fits is an AuditError)."""
        if not self._whole_table and self.budget.left > 0:
            self._whole_table = self._solve(np.zeros(self.n), integer=True).x is not None
        return self._whole_table

    def bounds(self, cols: np.ndarray, coefs: np.ndarray) -> tuple[float, float, bool]:
        """(min, max, proven) of sum(coefs * x[cols])."""
        low, high = self.minimize(cols, coefs), self.minimize(cols, -coefs)
        return low.value, -high.value, low.proven and high.proven


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
    """Integer (lower, upper) of every target, how it was found (`kind`), and the presolved bounds.

    Without `needs` every interval is exact (two LPs a target, MILPs in a small component with
    percentage rows). With `needs`, a component is first probed with a few aggregate objectives
    (and the true values, when given); a target whose probes already show what its need asks
    for keeps the range of values seen, an inner bound of its interval (the reader's interval
    is at least that wide), and only the others get the exact two solves.

    kind: 'exact'; 'inner' (probed); 'outer' (a relaxation that already fails the need);
    'unproven' (a very large component, undecided); 'lp_relaxed' (a component with percentage
    rows too large for MILPs, or a MILP stopped by its limits: a bound from the LP or the MILP,
    which the whole-number interval may be narrower than).
    """
    if backend == "auto":
        backend = "highs"
    if backend not in ("highs", "linprog"):
        raise ValueError(f"backend must be 'auto', 'highs' or 'linprog', got {backend!r}")
    if backend == "highs" and highspy is None:
        raise ImportError(MISSING_HIGHSPY)
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
    sizes = {comp: int(np.diff(np.searchsorted(sorted_labels, [comp, comp + 1]))[0]) for comp in pending}
    percent = _percentage_rows(sub)
    with_percent = {c for c in pending if percent[order[slice(*np.searchsorted(sorted_comp, [c, c + 1]))]].any()}
    whole_comps = {c for c in with_percent if sizes[c] <= MILP_COLUMNS}
    batches = [[c] for c in pending if c in whole_comps] + _batches([c for c in pending if c not in whole_comps], sizes)
    fixed_value = np.where(col_lo == col_hi, col_lo, 0.0)
    rng = np.random.default_rng(0)
    kind = np.where(exact, "exact", "inner").astype(object)
    ctx = _Context(sub, sub_lo, sub_hi, fixed_value, col_lo, col_hi, backend, truth)
    for batch in batches:
        cols = np.concatenate([col_order[slice(*np.searchsorted(sorted_labels, [c, c + 1]))] for c in batch])
        rows = np.concatenate([order[slice(*np.searchsorted(sorted_comp, [c, c + 1]))] for c in batch])
        ts = [t for comp in batch for t in by_comp[comp]]
        whole = _Block(ctx, cols, rows, integer=batch[0] in whole_comps)
        if needs is None:
            open_ts = ts
        elif len(cols) > BIG_COMPONENT and truth is not None:
            graph = _Graph(sub, cols, truth)
            open_ts = _probe_balls(graph, ctx, ts, parts, needs, consts, lower, upper, rng)
            # what the balls leave open is most often a small count whose counterweight is far away
            # (a ball moves it by a few students): aggregate probes over one model of the whole
            # component settle most of them, where a grown ball cost seconds per target
            open_ts = _probe_whole(whole.lp, open_ts, whole.localise(parts, open_ts), needs, consts, lower, upper, rng)
            # most of the rest are disclosed: a relaxation of one ball proves that at once
            open_ts = _outer_proofs(graph, ctx, open_ts, parts, needs, consts, lower, upper, kind)
            if len(cols) > MAX_EXACT_COLUMNS:  # too large to solve target by target
                for grow in (4, 16, 64):  # wider balls, each target also on its own
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
                kind[open_ts] = "unproven"  # neither a proof of safety nor of disclosure
                open_ts = []
            # the rest below: each target's exact interval on the same model, warm-started
        else:
            open_ts = _probe(whole.lp, ts, whole.localise(parts, ts), needs, consts, lower, upper, rng)
        local = whole.localise(parts, open_ts)
        if needs is not None:
            _settle_each(whole.lp, open_ts, local, needs, consts, lower, upper, kind)
        else:
            for t in open_ts:
                low, high, proven = whole.lp.bounds(*local[t])
                lower[t], upper[t] = consts[t] + low, consts[t] + high
                kind[t] = "exact" if proven else "lp_relaxed"
        relaxed = [t for c in batch if c in with_percent - whole_comps for t in by_comp[c]]
        # the LP decided these over fractions of students: an outer bound of the whole-number interval
        kind[[t for t in relaxed if kind[t] in ("exact", "inner")]] = "lp_relaxed"
    lower = np.ceil(lower - TOL) + 0.0
    upper = np.floor(upper + TOL) + 0.0
    return lower, upper, kind, col_lo, col_hi


def _percentage_rows(sub: sp.csr_matrix) -> np.ndarray:
    """Rows with a coefficient other than +-1: percentage bounds, whose LP relaxation is not whole."""
    row_of = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
    return np.bincount(row_of[np.abs(sub.data) != 1], minlength=sub.shape[0]) > 0


def _batches(comps: list[int], sizes: dict[int, int]) -> list[list[int]]:
    """Components grouped into LPs of about BATCH_COLUMNS unknowns (a larger one alone)."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for comp in comps:
        if current and size + sizes[comp] > BATCH_COLUMNS:
            batches.append(current)
            current, size = [], 0
        current.append(comp)
        size += sizes[comp]
    if current:
        batches.append(current)
    return batches


BIG_COMPONENT = 5000  # columns; larger components are probed in balls around the targets
MAX_EXACT_COLUMNS = 40_000  # beyond this a target neither ball nor relaxation decides is reported 'unproven'
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
    truth: np.ndarray | None = None
    budget: _Budget = field(default_factory=_Budget)


class _Block:
    """The LP (or, `integer`, the MILP) of some unknown columns over some rows; other unknowns held
    at `outside` values."""

    def __init__(
        self,
        ctx: _Context,
        cols: np.ndarray,
        rows: np.ndarray,
        outside: np.ndarray | None = None,
        integer: bool = False,
    ):
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
            integer,
            ctx.truth[cols] if integer and outside is None and ctx.truth is not None else None,
            ctx.budget,
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

    def held_at_truth(self, free: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """`_Block`'s `outside` for a ball over `cols`: the other unknowns at their true values
        (known columns, and the ball's own, at 0)."""
        outside = np.where(free, np.nan_to_num(self.truth, nan=0.0), 0.0)
        outside[cols] = 0.0
        return outside

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
        outside = graph.held_at_truth(free, cols)
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
        low, high, _ = block.lp.bounds(*block.localise(parts, [t])[t])
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
    their own (only checked points count: in a MILP block they are whole-number tables). A
    target solved both ways has its exact interval."""
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
        proven = True
        for sign in (1.0, -1.0):
            before = lower[t] if sign > 0 else upper[t]
            answer = lp.minimize(cols, sign * coefs)
            if answer.x is not None:
                see(answer.x)
            # the target's own bound is the optimum (-inf when unbounded: a parent whose children are
            # not all listed); after a dispute the tighter claim, but never narrower than a table seen
            if sign > 0:
                lower[t] = min(before, _int_ceil(consts[t] + answer.value - TOL))
            else:
                upper[t] = max(before, _int_floor(consts[t] - answer.value + TOL))
            proven &= answer.proven
            if sign > 0 and proven and _settled(needs[t], lower[t], upper[t]):
                break
        else:  # a MILP stopped at its node limit leaves a bound, not the exact interval
            kind[t] = "exact" if proven else "lp_relaxed"


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
        x = lp.minimize(cols, coefs).x  # a checked table, or None (unbounded: nothing seen)
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
            low, high, _ = lp.bounds(*local[t])  # a ball is an LP: its optimum is proven
            # an unbounded direction (a parent whose children are not all listed) stays infinite
            lower[t] = min(lower[t], _int_ceil(consts[t] + low - TOL))
            upper[t] = max(upper[t], _int_floor(consts[t] + high + TOL))
        open_ts = [t for t in open_ts if not _settled(needs[t], lower[t], upper[t])]
    return open_ts


WHOLE_ROUND_GAIN = 0.1  # probe the whole component again while a round settles this share of the rest
WHOLE_GROUP = 64  # then the rest in groups this small: fewer targets in an objective move each further


def _probe_whole(lp: _Batch, ts, local, needs, consts, lower, upper, rng) -> list[int]:
    """Rounds of aggregate probes over one model of a whole component, each on the targets the last
    left open, while a round still settles WHOLE_ROUND_GAIN of them; then the rest in groups of
    WHOLE_GROUP. Returns the targets not settled."""
    open_ts = list(ts)
    while open_ts:
        left = _probe(lp, open_ts, local, needs, consts, lower, upper, rng)
        settled, open_ts = len(open_ts) - len(left), left
        if settled < WHOLE_ROUND_GAIN * (settled + len(left)):
            break
    if len(open_ts) <= WHOLE_GROUP:
        return open_ts
    return [t for i in range(0, len(open_ts), WHOLE_GROUP)
            for t in _probe(lp, open_ts[i : i + WHOLE_GROUP], local, needs, consts, lower, upper, rng)]  # fmt: skip


def _int_ceil(value: float) -> float:
    return value if math.isinf(value) else math.ceil(value)


def _int_floor(value: float) -> float:
    return value if math.isinf(value) else math.floor(value)
