"""Insider mode: the reader is in the data.

An outside reader knows only what was published. A student knows more: their own cell.
A student who is the only one of their group at their school (a hidden cell of 1) knows
that cell exactly, and a coalition of up to k such students (k = `insider_coalition` of
the table's policy in seeds/suppression_policies.csv) knows any hidden cell of at most k.
Subtracting what they know from a published total can pin the cells next to theirs:
school total 12 shown, Hispanic 10 shown, White and Black hidden: the one White student
knows Black is 1.

Each insider is its own attacker: one hidden cell whose true value lies in 1..k is fixed
at that value, and the audit asks whether its siblings (the protected cells sharing an
equation with it) keep a feasible value outside their protection range. Tables already
found for the insider's component (a few aggregate optima, each sibling's own extremes, the
truth) answer it first: mixes of them with the insider's cell at its value are feasible
tables too (`_Pool`). The rest is asked of a ball of the model around the insider whose
outside unknowns are held at
their true values: that reader knows more than the insider, so a sibling it cannot pin is
safe from the insider too. A sibling that ball leaves pinned is asked of a relaxation (the
same rows, every unknown in them free, farther rows dropped): pinned there, it is pinned
for the insider. The few left are decided exactly on the insider's whole component (one
LP per component, kept; the insider's column bounds are changed and put back).

Out of scope: what an insider only narrows two equations away, and insiders of rate
numerators' complements beyond their own row (the same ball covers their siblings).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from orchestration.lib.disclosure.audit import lp
from orchestration.lib.disclosure.audit.lp import Need

SINGLE_QUANTITIES = ("count", "n", "numerator")


@dataclass(frozen=True)
class InsiderFinding:
    """A protected quantity (`spec`, an index into the audit's specs) that the insider
    holding variable `insider` pins or narrows into its protection range."""

    spec: int
    insider: int
    lower: float
    upper: float


def insider_findings(
    matrix: sp.csr_matrix,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    specs: list[dict],
    truth: np.ndarray,
    coalition: np.ndarray,
    backend: str = "auto",
    var_key: list[str] | None = None,
    safe: set[tuple[str, str]] | frozenset = frozenset(),
    contains: Callable[[int, int], str] = lambda insider, var: "",
) -> tuple[list[InsiderFinding], set[tuple[str, str]]]:
    """Every (protected quantity, insider) pair where the insider learns too much, and the
    (insider, sibling) pairs shown safe, keyed by `var_key`.

    `col_lo`/`col_hi` are the model's bounds; `coalition[v]` the coalition size of the
    policy governing variable v (0: no insiders); `specs` the audit's quantities
    (single-variable ones with a `need` are checked). Pairs in `safe` (shown safe against
    a release that has since only hidden more) are not checked again. `contains(i, v)`:
    'holds' when cell v holds cell i's records, 'inside' when v's records are all i's, ''
    when neither (audit/__init__.py `_containment`)."""
    key = var_key if var_key is not None else [str(v) for v in range(matrix.shape[1])]
    if backend == "auto":
        backend = "highs"
    col_lo, col_hi, active = lp.presolve(matrix, row_lo, row_hi, col_lo, col_hi)
    free = col_lo < col_hi
    value = np.nan_to_num(truth, nan=-1.0)
    insiders = np.flatnonzero(free & (value >= 1) & (value <= coalition))
    # protected: a hidden cell whose true value is under the policy's minimum (a complement of
    # a publishable size that an insider pins was publishable anyway)
    watched = {
        int(spec["cols"][0]): s
        for s, spec in enumerate(specs)
        if spec["quantity"] in SINGLE_QUANTITIES
        and _protects(spec["need"])
        and 0 <= value[int(spec["cols"][0])] < spec["min_n"]
        and free[int(spec["cols"][0])]
    }
    if len(insiders) == 0 or not watched:
        return [], set()
    sub = matrix[active]
    ctx = lp._Context(sub, row_lo[active], row_hi[active], np.where(free, 0.0, col_lo), col_lo, col_hi, backend)
    graph = lp._Graph(sub, np.flatnonzero(free), truth)
    siblings = _siblings(sub, free)
    exact = _ComponentLPs(ctx, lp._components(matrix, active, free), value)
    pool = _Pool(exact, np.array(sorted(watched)), value, specs, watched, graph)
    findings: list[InsiderFinding] = []
    shown_safe: set[tuple[str, str]] = set()
    for insider in insiders.tolist():
        near = siblings.indices[siblings.indptr[insider] : siblings.indptr[insider + 1]].tolist()
        # a cell inside the insider's (a part of it, a level down) holds only insiders: never checked
        checked = [
            v
            for v in near
            if v != insider and v in watched and (key[insider], key[v]) not in safe and contains(insider, v) != "inside"
        ]
        if not checked:
            continue
        # tables already found settle most siblings with no solve of their own
        left = pool.unsettled(insider, checked)
        unsafe = _unsettled(ctx, graph, insider, value, left, specs, watched) if left else []
        if unsafe:  # a relaxation that still pins them proves it; the rest the whole component decides
            proven = _relaxed(ctx, graph, insider, value, [v for v, _, _ in unsafe], specs, watched)
            rest = sorted({v for v, _, _ in unsafe} - {v for v, _, _ in proven})
            unsafe = proven + (exact.unsettled(insider, value[insider], rest, specs, watched) if rest else [])
        # a cell holding the insider's record (the same group a level up, the unit's total, a
        # related table's cell) tells about others only what it holds beyond the insider
        unsafe = [
            (var, low, high)
            for var, low, high in unsafe
            if contains(insider, var) != "holds"
            or _others_narrowed(low - value[insider], high - value[insider], specs[watched[var]])
        ]
        findings += [InsiderFinding(watched[var], insider, low, high) for var, low, high in unsafe]
        bad = {var for var, _, _ in unsafe}
        shown_safe.update((key[insider], key[v]) for v in checked if v not in bad)
    return findings, shown_safe


POOL_OBJECTIVES = 24


class _Pool:
    """A few feasible tables of each component of the outsider's model (checked LP points), for
    settling siblings without a solve of their own.

    The points of a component are its minimum and maximum of the protected cells' sum and the
    optima of random signed sums of them, plus the truth. The model is convex: a mix of a point
    with the insider's cell below the insider's value and one with it above is a table with
    the cell at its value, so the siblings' values in such mixes are values the insider's
    exact LP admits too. A sibling they already show outside its protection range (and away
    from its true value) is safe from that insider with no solve of its own."""

    def __init__(
        self, exact: _ComponentLPs, watched_cols: np.ndarray, value: np.ndarray, specs, watched, graph: lp._Graph
    ):
        self.exact, self.watched_cols, self.value = exact, watched_cols, value
        self.specs, self.watched, self.graph = specs, watched, graph
        self.points: dict[int, tuple[dict[int, int], np.ndarray]] = {}
        self.extremes: set[int] = set()
        self.ball_extremes: set[int] = set()

    def _points(self, comp: int):
        if comp not in self.points:
            block, cols, _ = self.exact.block(comp)
            position = {int(c): i for i, c in enumerate(cols)}
            mine = np.array([position[int(c)] for c in self.watched_cols if int(c) in position], dtype=np.int64)
            found = [self.value[cols]] if (self.value[cols] >= 0).all() else []  # the truth, when all known
            rng = np.random.default_rng(comp)
            for k in range(POOL_OBJECTIVES if len(mine) else 0):
                weights = rng.choice([-1.0, 1.0], len(mine)) if k >= 2 else np.full(len(mine), 1.0 - 2 * k)
                answer = block.lp.minimize(mine, weights)
                if answer.x is not None:
                    found.append(answer.x)
            self.points[comp] = (position, np.array(found).reshape(len(found), len(cols)))
        return self.points[comp]

    def _add_extremes(self, comp: int, variables: list[int], whole: bool) -> None:
        """Each sibling's own minimum and maximum, found once and kept: a sibling has as many
        insiders as row-mates of 1, and each reuses them. First (`whole` False) in a ball around
        the sibling whose outside unknowns are held at the truth (`_ball_extremes`): a table of
        the whole component found by an LP a fraction of its size; then, for the siblings those
        leave open, over the whole component."""
        block, cols, _ = self.exact.block(comp)
        position, points = self._points(comp)
        done = self.extremes if whole else self.ball_extremes
        truth_known = bool((self.value[cols] >= 0).all())
        found = []
        for v in variables:
            if v in done:
                continue
            done.add(v)
            if not whole:
                found += self._ball_extremes(v, position, self.value[cols]) if truth_known else []
                continue
            for sign in (1.0, -1.0):
                answer = block.lp.minimize(np.array([position[v]]), np.array([sign]))
                if answer.x is not None:
                    found.append(answer.x)
        if found:
            self.points[comp] = (position, np.vstack([points, np.array(found)]))

    def _ball_extremes(self, v: int, position: dict[int, int], truth: np.ndarray) -> list[np.ndarray]:
        """v's minimum and maximum over a ball around it, the outside at the truth, as tables of
        the whole component (the truth with the ball's columns replaced); none when the ball
        reaches beyond the component."""
        ctx = self.exact.ctx
        cols, rows = self.graph.ball(np.array([v]))
        at = np.array([position.get(int(c), -1) for c in cols], dtype=np.int64)
        if (at < 0).any():
            return []
        ball = lp._Block(ctx, cols, rows, self.graph.held_at_truth(ctx.col_lo < ctx.col_hi, cols))
        found = []
        for sign in (1.0, -1.0):
            answer = ball.lp.minimize(np.array([ball.position[v]]), np.array([sign]))
            if answer.x is not None:  # a checked table of the ball: with the truth outside, of the component
                point = truth.astype(float)
                point[at] = answer.x
                found.append(point)
        return found

    def unsettled(self, insider: int, variables: list[int]) -> list[int]:
        """The siblings these points do not show safe from `insider` (the aggregate points
        first, then with each open sibling's own extremes added: in a ball, then over the
        whole component)."""
        comp = int(self.exact.labels[insider])
        left = self._unsettled(comp, insider, variables)
        for whole in (False, True):
            if left:
                self._add_extremes(comp, left, whole)
                left = self._unsettled(comp, insider, left)
        return left

    def _unsettled(self, comp: int, insider: int, variables: list[int]) -> list[int]:
        """On the line where the insider's cell holds its value, the mixes of the points span
        an interval of each sibling (inside its exact interval there), rounded inward as every
        seen value is; the siblings whose need that interval does not meet. Only the points'
        (insider, sibling) values matter, and most are whole numbers repeated across points:
        each distinct pair is mixed once."""
        position, points = self._points(comp)
        at, held = points[:, position[insider]], self.value[insider]
        if not (at <= held + lp.TOL).any() or not (at >= held - lp.TOL).any():
            return variables
        left = []
        for v in variables:
            pairs = np.unique(at + 1j * points[:, position[v]])  # distinct (insider, sibling) values
            x, seen = pairs.real, pairs.imag
            below, above = np.flatnonzero(x <= held + lp.TOL), np.flatnonzero(x >= held - lp.TOL)
            span = x[above][None, :] - x[below][:, None]
            share = np.where(span > lp.TOL, (held - x[below][:, None]) / np.where(span > lp.TOL, span, 1.0), 0.0)
            mixed = seen[below][:, None] + share * (seen[above][None, :] - seen[below][:, None])
            low, high = math.ceil(mixed.min() - lp.TOL), math.floor(mixed.max() + lp.TOL)
            if not lp._settled(self.specs[self.watched[v]]["need"], low, high):
                left.append(v)
        return left


class _ComponentLPs:
    """One LP per component of the outsider's model, built on first use and kept: an
    insider's check changes one column's bounds, solves, and puts them back."""

    def __init__(self, ctx, labels: np.ndarray, truth: np.ndarray):
        self.ctx, self.labels, self.truth = ctx, labels, truth
        sub = ctx.sub
        row_comp = np.full(sub.shape[0], -1, dtype=np.int64)
        nonempty = np.diff(sub.indptr) > 0
        if sub.nnz:
            row_comp[nonempty] = np.maximum.reduceat(labels[sub.indices], sub.indptr[:-1][nonempty])
        self.row_comp = row_comp
        self.blocks: dict[int, lp._Block] = {}

    def block(self, comp: int):
        """(block, columns, rows) of one component, built on first use."""
        if comp not in self.blocks:
            cols, rows = np.flatnonzero(self.labels == comp), np.flatnonzero(self.row_comp == comp)
            self.blocks[comp] = (lp._Block(self.ctx, cols, rows), cols, rows)
        return self.blocks[comp]

    def unsettled(self, insider: int, value: float, variables: list[int], specs, watched):
        block, cols, rows = self.block(int(self.labels[insider]))
        batch, at = block.lp, block.position[insider]
        lo, hi = float(self.ctx.col_lo[insider]), float(self.ctx.col_hi[insider])
        if batch.backend == "highs":
            batch.h.changeColBounds(at, value, value)
            batch.col_lo[at] = batch.col_hi[at] = value  # what the batch checks its answers against
        else:  # the reference path: a fresh LP with the insider's column fixed
            fixed_lo, fixed_hi = self.ctx.col_lo.copy(), self.ctx.col_hi.copy()
            fixed_lo[insider] = fixed_hi[insider] = value
            block = lp._Block(replace(self.ctx, col_lo=fixed_lo, col_hi=fixed_hi), cols, rows)
            batch = block.lp
        try:
            return _settle(batch, block, variables, self.truth[variables], specs, watched)
        finally:
            if batch.backend == "highs":
                batch.h.changeColBounds(at, lo, hi)
                batch.col_lo[at], batch.col_hi[at] = lo, hi


def _settle(batch, block, variables: list[int], seen: np.ndarray, specs, watched):
    """(variable, lower, upper) of each variable whose need `batch` does not settle; `seen`
    holds a feasible value of each (the truth)."""
    n = len(variables)
    lower, upper = seen.astype(float), seen.astype(float)
    needs = [specs[watched[v]]["need"] for v in variables]
    local = block.localise({i: (np.array([v]), np.ones(1)) for i, v in enumerate(variables)}, range(n))
    # a few aggregate objectives first: one solution often settles several siblings at once
    left = lp._probe(batch, list(range(n)), local, needs, np.zeros(n), lower, upper, np.random.default_rng(0))
    lp._settle_each(batch, left, local, needs, np.zeros(n), lower, upper, np.empty(n, dtype=object))
    return [(v, float(lower[i]), float(upper[i])) for i, v in enumerate(variables)
            if not lp._settled(needs[i], lower[i], upper[i])]  # fmt: skip


def _unsettled(ctx, graph, insider: int, value, variables: list[int], specs, watched):
    """The siblings (with their seen ranges) a ball around `insider`, outside held at the
    truth and the insider's cell at its value, does not settle."""
    cols, rows = graph.ball(np.array([insider, *variables]))
    neighbours = np.setdiff1d(graph.sub[rows].indices, cols)
    free = ctx.col_lo < ctx.col_hi
    if np.isnan(graph.truth[neighbours[free[neighbours]]]).any():
        return [(v, -np.inf, np.inf) for v in variables]  # no truth to hold the outside at: cannot vouch
    outside = graph.held_at_truth(free, cols)
    lo, hi = ctx.col_lo.copy(), ctx.col_hi.copy()
    lo[insider] = hi[insider] = value[insider]
    block = lp._Block(replace(ctx, col_lo=lo, col_hi=hi), cols, rows, outside)
    return _settle(block.lp, block, variables, value[variables], specs, watched)


def _others_narrowed(low: float, high: float, spec: dict) -> bool:
    """Whether the members other than the insider are pinned or narrowed into 1..min_n-1.
    (Learning that nobody else is there, a zero, is out of this mode's scope.)"""
    return low >= 1 and high <= spec["min_n"] - 1


def _relaxed(ctx, graph, insider: int, value, variables: list[int], specs, watched):
    """The siblings even a relaxation leaves pinned (so truly disclosed): the rows around the
    insider with every unknown they hold free, the farther rows dropped."""
    cols, rows = graph.ball(np.array([insider, *variables]))
    wider = np.unique(np.concatenate([cols, *[graph.cols_of(r) for r in rows.tolist()]]))
    lo, hi = ctx.col_lo.copy(), ctx.col_hi.copy()
    lo[insider] = hi[insider] = value[insider]
    block = lp._Block(replace(ctx, col_lo=lo, col_hi=hi), wider, rows)
    return _settle(block.lp, block, variables, value[variables], specs, watched)


def _protects(need: Need) -> bool:
    """Whether the quantity has a protection range an insider could break."""
    return need.exact or need.unpinned or need.floor_at is not None


def _siblings(matrix: sp.csr_matrix, free: np.ndarray) -> sp.csr_matrix:
    """Variable x variable: nonzero where two free variables share a row."""
    pattern = matrix.copy().tocsc()
    pattern.data = np.ones_like(pattern.data)
    pattern = pattern[:, free].tocsr() if free.any() else pattern[:, :0].tocsr()
    pattern = pattern[np.diff(pattern.indptr) >= 2]
    share = (pattern.T @ pattern).tocsr()
    index = np.flatnonzero(free)
    coo = share.tocoo()
    return sp.csr_matrix((coo.data, (index[coo.row], index[coo.col])), shape=(matrix.shape[1], matrix.shape[1]))
