"""An independent attacker on a public release folder: exact integer programs (MILPs).

It reads the folder as a reader downloads it (tables/*.csv as text) plus the two public
seeds the reader model assumes known (docs/suppression.md: the policies' minimum cell
sizes, the population relations), and nothing of the engine or of its audit: no import
of orchestration.lib.disclosure, no governance file, no true value. From
the folder's own columns it writes the integer program any reader can write:

- one whole number per count (population, unit, grouping, category) and per rate numerator
  (population, outcome, unit, grouping, category), all >= 0; a numerator at most its count;
- a shown count fixes its number; a shown percentage p% (or range lo-hi%, <=b%, >=t%)
  bounds the numerator by half-up rounding: 200 N >= (2 lo - 1) C, 200 N <= (2 hi + 1) C - 1;
- a unit's categories of one grouping sum to its 'all' group (at most it where
  partitions_total is false); a parent's cell is the sum of its children's (at least it where
  children_complete is false);
- seeds/publish_relations.csv: a subset's count is at most its superset's, equal ones are equal.

Then, for every hidden quantity, it minimises and maximises it over whole numbers
(HiGHS branch and bound) and reports what a reader recovers:
- a hidden count pinned to one value, or known to be 1..min_n-1 (a small group exists);
- a suppressed or recoded rate's numerator pinned while its group may be non-empty, or
  known to be >= 1 in a group known to be under min_n;
- the hidden parts of one published equation together known to be 1..min_n-1.

A quantity is shown safe by feasible whole-number tables alone (solutions found, whatever
the solver's proof status); a recovery is reported only on a proven optimum, and a solve
stopped by its limits before either is 'undecided' (a test treats that as a failure).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import highspy
import numpy as np

_WHOLE = re.compile(r"^(\d{1,3})%$")
_RANGE = re.compile(r"^(\d{1,3})-(\d{1,3})%$")
_BOTTOM = re.compile(r"^<=(\d{1,3})%$")
_TOP = re.compile(r">=(\d{1,3})%$")


def percent_range(text: str) -> tuple[int, int]:
    """The whole percentages a shown rate admits."""
    for pattern, read in (
        (_WHOLE, lambda m: (int(m[1]), int(m[1]))),
        (_RANGE, lambda m: (int(m[1]), int(m[2]))),
        (_BOTTOM, lambda m: (0, int(m[1]))),
        (_TOP, lambda m: (int(m[1]), 100)),
    ):
        match = pattern.fullmatch(text)
        if match:
            return read(match)
    raise ValueError(f"unreadable rate display {text!r}")


def read_folder(folder: Path, release: str = "0") -> list[dict[str, str]]:
    """Every table row of a public folder as text; `release` tells one kept folder from another
    (a reader who kept an earlier publication attacks both together)."""
    rows: list[dict[str, str]] = []
    for path in sorted((folder / "tables").glob("*.csv")):
        with path.open(newline="") as f:
            rows += [r | {"release": release} for r in csv.DictReader(f)]
    return rows


def read_seed(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class Target:
    name: str
    cols: list[int]
    kind: str  # 'count', 'numerator', 'recoded', 'sum'
    min_n: int
    group: int = -1  # a numerator's count variable


@dataclass
class Program:
    names: list[str] = field(default_factory=list)
    index: dict[tuple, int] = field(default_factory=dict)
    fixed: dict[int, int] = field(default_factory=dict)
    rows: list[tuple[dict[int, float], float, float]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def var(self, key: tuple) -> int:
        if key not in self.index:
            self.index[key] = len(self.names)
            self.names.append("/".join(key))
        return self.index[key]

    def fix(self, var: int, value: int, where: str) -> None:
        if self.fixed.get(var, value) != value:
            raise ValueError(f"{where}: shown {value}, elsewhere {self.fixed[var]}")
        self.fixed[var] = value

    def add(self, coefs: dict[int, float], lo: float, hi: float) -> None:
        self.rows.append((coefs, lo, hi))


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "t", "yes")


def build_program(rows: list[dict[str, str]], min_n: dict[str, int], relations: list[dict[str, str]]) -> Program:
    """The reader's integer program of one public folder."""
    p = Program()
    # one table of one release: a table of an earlier release states its own equations
    rows = [r | {"table_id": f"{r['table_id']}@{r.get('release', '0')}"} for r in rows]
    table_population = {r["table_id"]: r["population"] for r in rows}

    def count_var(r, unit=None, grouping=None, category=None):
        return p.var(("C", r["population"], unit or r["unit_id"], grouping or r["grouping"], category or r["category"]))

    def numerator_var(r, unit=None, grouping=None, category=None):
        key = ("N", r["population"], r["outcome"], unit or r["unit_id"], grouping or r["grouping"])
        return p.var(key + (category or r["category"],))

    for r in rows:
        where = f"{r['table_id']} {r['unit_id']} {r['grouping']}/{r['category']}"
        c = count_var(r)
        m = min_n[r["policy"]]
        if r["measure"] == "count":
            if r["display"] == "*":
                p.targets.append(Target(p.names[c], [c], "count", m))
            else:
                p.fix(c, int(r["display"]), where)
            continue
        n = numerator_var(r)
        p.add({n: 1.0, c: -1.0}, -np.inf, 0.0)
        if r["n_display"] == "*":
            p.targets.append(Target(p.names[c], [c], "count", m))
        elif r["n_display"] != "":
            p.fix(c, int(r["n_display"]), where)
        if r["display"] == "*":
            p.targets.append(Target(p.names[n], [n], "numerator", m, group=c))
            continue
        lo, hi = percent_range(r["display"])
        if lo > 0:
            p.add({n: 200.0, c: -(2 * lo - 1.0)}, 0.0, np.inf)
        p.add({n: 200.0, c: -(2 * hi + 1.0)}, -np.inf, -1.0)
        if lo != hi:
            p.targets.append(Target(p.names[n], [n], "recoded", m, group=c))

    _partitions(p, rows, count_var, numerator_var, min_n)
    _hierarchies(p, rows, count_var, numerator_var, min_n)
    by_table = defaultdict(list)
    for r in rows:
        by_table[r["table_id"]].append(r)
    releases = sorted({r.get("release", "0") for r in rows})
    for rel, release in ((rel, release) for rel in relations for release in releases):
        left, right = f"{rel['table_id']}@{release}", f"{rel['other_table_id']}@{release}"
        if left not in table_population or right not in table_population:
            continue
        right_rows = {(r["unit_id"], r["grouping"], r["category"]) for r in by_table[right]}
        for r in by_table[left]:
            if rel["grouping"] != "*" and (r["grouping"], r["category"]) != (rel["grouping"], rel["category"]):
                continue
            other = (
                (r["unit_id"], r["grouping"], r["category"])
                if rel["other_grouping"] == "*"
                else (r["unit_id"], rel["other_grouping"], rel["other_category"])
            )
            if other not in right_rows:
                continue
            a = count_var(r)
            b = p.var(("C", table_population[right], *other))
            if a != b:
                p.add({a: 1.0, b: -1.0}, 0.0 if rel["relation"] == "equal" else -np.inf, 0.0)
    return p


def _equation(p: Program, parts: list[int], total: int, exact: bool, hidden_min_n: int | None, label: str) -> None:
    coefs = defaultdict(float)
    for v in parts:
        coefs[v] += 1.0
    coefs[total] -= 1.0
    p.add(dict(coefs), 0.0 if exact else -np.inf, 0.0)
    hidden = sorted({v for v in parts if v not in p.fixed})
    if hidden_min_n is not None and exact and len(hidden) >= 2:
        p.targets.append(Target(label, hidden, "sum", hidden_min_n))


def _partitions(p, rows, count_var, numerator_var, min_n) -> None:
    groups = defaultdict(list)
    for r in rows:
        if r["grouping"] != "all":
            groups[(r["table_id"], r["unit_id"], r["grouping"])].append(r)
    totals = {(r["table_id"], r["unit_id"]): r for r in rows if r["grouping"] == "all"}
    for (table, unit, grouping), members in groups.items():
        total = totals.get((table, unit))
        if total is None:
            continue
        exact = all(_truthy(r["partitions_total"]) for r in members)
        m = min_n[total["policy"]]
        label = f"{table} {unit} {grouping}: hidden parts"
        _equation(p, [count_var(r) for r in members], count_var(total), exact, m, label)
        if total["measure"] == "rate":
            _equation(p, [numerator_var(r) for r in members], numerator_var(total), exact, None, label)


def _hierarchies(p, rows, count_var, numerator_var, min_n) -> None:
    children = defaultdict(list)
    units_under = defaultdict(set)
    for r in rows:
        if r["parent_unit_id"]:
            children[(r["table_id"], r["parent_unit_id"], r["grouping"], r["category"])].append(r)
            units_under[(r["table_id"], r["parent_unit_id"])].add(r["unit_id"])
    parents = {(r["table_id"], r["unit_id"], r["grouping"], r["category"]): r for r in rows}
    for (table, parent_unit, grouping, category), kids in children.items():
        parent = parents.get((table, parent_unit, grouping, category))
        if parent is None:
            continue
        listed = {r["unit_id"] for r in kids} == units_under[(table, parent_unit)]
        exact = _truthy(parent["children_complete"]) and listed
        label = f"{table} children of {parent_unit} {grouping}/{category}: hidden parts"
        _equation(p, [count_var(r) for r in kids], count_var(parent), exact, min_n[parent["policy"]], label)
        if parent["measure"] == "rate":
            _equation(p, [numerator_var(r) for r in kids], numerator_var(parent), exact, None, label)


@dataclass
class Finding:
    target: str
    kind: str
    lower: float
    upper: float
    verdict: str  # 'recovered' or 'undecided'


def components(p: Program) -> list[list[int]]:
    """Free variables linked by a row (fixed ones are constants)."""
    parent = list(range(len(p.names)))

    def find(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for coefs, _, _ in p.rows:
        free = [v for v in coefs if v not in p.fixed]
        for v in free[1:]:
            parent[find(v)] = find(free[0])
    out = defaultdict(list)
    for v in range(len(p.names)):
        if v not in p.fixed:
            out[find(v)].append(v)
    return sorted(out.values(), key=lambda c: (len(c), c[0]))


class ComponentMILP:
    """One component's integer program in HiGHS; objectives change, the model stays."""

    def __init__(self, p: Program, cols: list[int], seconds: float):
        self.position = {v: i for i, v in enumerate(cols)}
        rows = [(c, lo, hi) for c, lo, hi in p.rows if any(v in self.position for v in c)]
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(cols), len(rows)
        lp.col_cost_ = np.zeros(len(cols))
        lp.col_lower_ = np.zeros(len(cols))
        lp.col_upper_ = np.full(len(cols), highspy.kHighsInf)
        starts, index, value, row_lo, row_hi = [0], [], [], [], []
        for coefs, lo, hi in rows:
            shift = sum(a * p.fixed[v] for v, a in coefs.items() if v in p.fixed)
            for v, a in coefs.items():
                if v not in p.fixed:
                    index.append(self.position[v])
                    value.append(a)
            starts.append(len(index))
            row_lo.append(lo - shift if np.isfinite(lo) else -highspy.kHighsInf)
            row_hi.append(hi - shift if np.isfinite(hi) else highspy.kHighsInf)
        lp.row_lower_, lp.row_upper_ = np.array(row_lo), np.array(row_hi)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, index, value
        lp.integrality_ = [highspy.HighsVarType.kInteger] * len(cols)
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("mip_rel_gap", 0.0)
        self.h.setOptionValue("time_limit", seconds)
        self.h.passModel(lp)
        self.n = len(cols)

    def solve(self, cols: list[int], sense: int):
        """Minimise sense * sum(cols): (a whole-number solution or None, 'optimal' | 'unbounded'
        | 'limit', a bound: the optimum, or the proven bound when stopped by the time limit)."""
        cost = np.zeros(self.n)
        for v in cols:
            cost[self.position[v]] = sense
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), cost)
        self.h.run()
        status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            raise ValueError("the published figures admit no whole-number table (the attacker's model is wrong)")
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return None, "unbounded", sense * -np.inf
        info = self.h.getInfo()
        x = None
        if info.primal_solution_status == 2:  # a feasible point
            x = np.round(np.array(self.h.getSolution().col_value))
        if status == highspy.HighsModelStatus.kOptimal:
            return x, "optimal", sense * info.objective_function_value
        return x, "limit", sense * info.mip_dual_bound


def _safe(t: Target, lo: float, hi: float, group_hi: float) -> bool:
    """Whether feasible values spanning lo..hi already show the reader cannot recover `t`."""
    if t.kind == "count":
        return lo < hi and (lo <= 0 or hi >= t.min_n)
    if t.kind == "sum":
        return lo <= 0 or hi >= t.min_n
    spread = lo < hi or group_hi <= 0  # an empty group's numerator is 0 and tells nothing
    if t.kind == "numerator" and group_hi < t.min_n:  # a small group: 'nobody' must stay possible
        return spread and lo <= 0
    return spread


def attack(
    p: Program, cols_of: list[list[int]], seconds: float = 10.0, sample: int | None = None, seed: int = 0
) -> tuple[list[Finding], int]:
    """Findings on the targets lying in the components `cols_of`, and the targets checked:
    all of them, or `sample` drawn at random (seeded) in each component holding more. Every
    MILP is over the whole component, so a sampled target's verdict is as exact as any."""
    in_component = {v: k for k, comp in enumerate(cols_of) for v in comp}
    targets = defaultdict(list)
    for t in p.targets:
        homes = {in_component.get(v) for v in t.cols if v not in p.fixed}
        if len(homes) == 1 and None not in homes:
            targets[homes.pop()].append(t)
    rng = np.random.default_rng(seed)
    if sample is not None:
        for k, ts in targets.items():
            if len(ts) > sample:
                targets[k] = [ts[i] for i in sorted(rng.choice(len(ts), sample, replace=False))]
    findings, checked = [], 0
    for k, ts in sorted(targets.items()):
        findings += _ComponentAttack(p, ComponentMILP(p, cols_of[k], seconds), ts).run()
        checked += len(ts)
    return findings, checked


class _ComponentAttack:
    """The targets of one component, each minimised and maximised until it is shown safe;
    every solution found widens every target's range of values seen."""

    def __init__(self, p: Program, milp: ComponentMILP, targets: list[Target]):
        self.p, self.milp, self.targets = p, milp, targets
        self.seen = [[np.inf, -np.inf] for _ in targets]
        self.group_hi: dict[int, float] = {}

    def note(self, x) -> None:
        for i, t in enumerate(self.targets):
            got = sum(x[self.milp.position[v]] if v in self.milp.position else self.p.fixed[v] for v in t.cols)
            self.seen[i][0], self.seen[i][1] = min(self.seen[i][0], got), max(self.seen[i][1], got)

    def largest_group(self, t: Target) -> float:
        """An upper bound of a numerator's group: the optimum, or the proven bound."""
        if t.kind not in ("numerator", "recoded"):
            return np.inf
        if t.group in self.p.fixed:
            return self.p.fixed[t.group]
        if t.group not in self.group_hi:
            x, _, bound = self.milp.solve([t.group], -1)
            if x is not None:
                self.note(x)
            self.group_hi[t.group] = bound
        return self.group_hi[t.group]

    def run(self) -> list[Finding]:
        findings = []
        for i, t in enumerate(self.targets):
            status = {}
            for sense in (1, -1):
                if _safe(t, *self.seen[i], self.largest_group(t)):
                    break
                x, status[sense], _ = self.milp.solve(t.cols, sense)
                if x is not None:
                    self.note(x)
                if status[sense] == "unbounded":
                    self.seen[i][1] = np.inf
            if _safe(t, *self.seen[i], self.largest_group(t)):
                continue
            decided = all(status.get(s) in ("optimal", "unbounded") for s in (1, -1))
            findings.append(Finding(t.name, t.kind, *self.seen[i], "recovered" if decided else "undecided"))
        return findings
