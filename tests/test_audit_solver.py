"""The audit's solver layer: the public highspy package, every answer checked before it is
used (a wrong one is solved again without presolve, and the safer bound wins), and
whole-number (MILP) intervals where percentage rows make the LP relaxation too weak."""

from __future__ import annotations

import ast
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import orchestration.lib.disclosure.audit.lp as lp
from orchestration.lib.disclosure import AuditError, audit_release
from orchestration.lib.disclosure.audit.lp import Need, Target, intervals

# x0 + x1 = 10, x1 + x2 = 4, all >= 0: x0 in [6, 10], x1 in [0, 4], x2 in [0, 4]
CHAIN = (
    sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])),
    np.array([10.0, 4.0]),
    np.array([10.0, 4.0]),
    np.zeros(3),
    np.full(3, np.inf),
)
X0 = [Target(np.array([0]), np.array([1.0]))]


def _lie(monkeypatch, lies: dict[bool, lp._Raw], objective: float) -> list[bool]:
    """Replace the solver's answer (per presolve flag) whenever the objective's first cost is
    `objective` (so min x0 is 1.0, max x0 is -1.0); returns the presolve flag of every call."""
    calls: list[bool] = []
    real = lp._Batch._run

    def run(self, cost, presolve, integer):
        calls.append(presolve)
        if cost[0] == objective and presolve in lies:
            return lies[presolve]
        return real(self, cost, presolve, integer)

    monkeypatch.setattr(lp._Batch, "_run", run)
    return calls


@pytest.mark.parametrize("backend", ["highs", "linprog"])
def test_an_infeasible_point_is_caught_and_solved_again_without_presolve(monkeypatch, backend):
    # presolve "finds" x0 = 0 at a point that breaks both rows: the check rejects it
    calls = _lie(monkeypatch, {True: lp._Raw("optimal", 0.0, np.zeros(3))}, objective=1.0)
    lo, hi, kind, _, _ = intervals(*CHAIN, X0, backend=backend)
    assert (lo[0], hi[0], kind[0]) == (6, 10, "exact")
    assert calls.count(False) == 1  # exactly the doubtful answer was solved again, with presolve off


def test_a_wrong_witness_cannot_settle_a_target(monkeypatch):
    # x0 is truly in 6..10 (pinned within 1..10 for a need ceiling of 11). A fake point showing
    # x0 = 0 would "prove" a value <= 0 feasible and pass the cell; the check throws it away.
    fake = lp._Raw("optimal", 0.0, np.array([0.0, 10.0, 0.0]))  # breaks x1 + x2 = 4
    _lie(monkeypatch, {True: fake}, objective=1.0)
    needs = [Need(True, 0, 11)]
    lo, hi, kind, _, _ = intervals(*CHAIN, X0, needs=needs, truth=np.array([8.0, 2.0, 2.0]))
    assert (lo[0], hi[0], kind[0]) == (6, 10, "exact")


def test_a_value_its_point_does_not_attain_is_caught(monkeypatch):
    # a feasible point (x0 = 8) reported with the optimum 3: inconsistent, so solved again
    calls = _lie(monkeypatch, {True: lp._Raw("optimal", 3.0, np.array([8.0, 2.0, 2.0]))}, objective=1.0)
    lo, _, _, _, _ = intervals(*CHAIN, X0)
    assert lo[0] == 6 and calls.count(False) == 1


def test_an_unbounded_claim_without_a_certificate_is_checked_and_the_finite_bound_wins(monkeypatch):
    calls = _lie(monkeypatch, {True: lp._Raw("unbounded", -np.inf)}, objective=-1.0)
    _, hi, kind, _, _ = intervals(*CHAIN, X0)
    assert hi[0] == 10 and kind[0] == "exact" and calls.count(False) == 1


def test_when_both_answers_fail_their_check_the_tighter_bound_is_kept(monkeypatch):
    bad = np.array([1.0, 1.0, 1.0])  # breaks both rows
    _lie(monkeypatch, {True: lp._Raw("optimal", 7.0, bad), False: lp._Raw("optimal", 5.0, bad)}, objective=1.0)
    lo, hi, _, _, _ = intervals(*CHAIN, X0)
    assert (lo[0], hi[0]) == (7, 10)  # 7, not 5: an interval narrower than the truth only flags more
    monkeypatch.undo()
    _lie(monkeypatch, {True: lp._Raw("optimal", -11.0, bad), False: lp._Raw("unbounded", -np.inf)}, objective=-1.0)
    _, hi, _, _, _ = intervals(*CHAIN, X0)
    assert hi[0] == 11  # the finite claim, not the unbounded one


def test_two_infeasible_answers_are_a_contradiction(monkeypatch):
    _lie(monkeypatch, {True: lp._Raw("infeasible"), False: lp._Raw("infeasible")}, objective=1.0)
    with pytest.raises(AuditError, match="contradict"):
        intervals(*CHAIN, X0)


def test_a_fractional_milp_point_is_caught(monkeypatch):
    # the school shown 60-69% with n hidden: N in 0.6..0.7 of C. A MILP answer at the LP's
    # fractional corner (N = 0.03, C = 0.05) is no whole-number table; solved again, N >= 2.
    matrix = sp.csr_matrix(np.array([[200.0, -119.0], [200.0, -139.0], [1.0, -1.0]]))
    model = (matrix, np.array([0.0, -np.inf, -np.inf]), np.array([np.inf, -1.0, 0.0]), np.zeros(2), np.full(2, np.inf))
    real = lp._Batch._run
    calls = []

    def run(self, cost, presolve, integer):
        calls.append((presolve, integer))
        if integer and presolve and cost[0] == 1.0:
            return lp._Raw("optimal", 0.02975, np.array([0.02975, 0.05]))
        return real(self, cost, presolve, integer)

    monkeypatch.setattr(lp._Batch, "_run", run)
    lo, hi, kind, _, _ = intervals(*model, [Target(np.array([0]), np.array([1.0]))])
    assert (lo[0], hi[0], kind[0]) == (2, np.inf, "exact")
    assert (False, True) in calls


def test_checks_accept_what_highs_returns():
    # honest answers pass their checks: no second solve on a model with bounded and unbounded directions
    matrix = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, -1.0]]))  # x0 + x1 = 10, x1 <= x2
    batch = lp._Batch(
        matrix, np.array([10.0, -np.inf]), np.array([10.0, 0.0]), np.zeros(3), np.full(3, np.inf), "highs"
    )
    low = batch.minimize(np.array([0]), np.array([1.0]))
    unbounded = batch.minimize(np.array([2]), np.array([-1.0]))
    assert low.value == 0 and low.x is not None and np.isinf(unbounded.value) and batch.resolves == 0
    assert isinstance(batch.h, highspy.Highs)


def test_highspy_missing_is_an_error_not_a_silent_fallback(monkeypatch):
    monkeypatch.setattr(lp, "highspy", None)
    with pytest.raises(ImportError, match="highspy"):
        intervals(*CHAIN, X0)
    lo, _, _, _, _ = intervals(*CHAIN, X0, backend="linprog")  # the reference path needs only scipy
    assert lo[0] == 6


def test_the_audit_uses_no_private_scipy_binding():
    source = Path(lp.__file__).read_text()
    modules = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
    assert "highspy" in modules
    assert not any(m and "._" in m for m in modules)


# ---- whole-number intervals ----------------------------------------------------------------


def _rates(rows: list[tuple]) -> pd.DataFrame:
    """A published rate table as the reader sees it: (level, unit, parent, grouping, category, display, n_display)."""
    base = {"table_id": "graduation", "population": "k12_cohort", "policy": "nces_2011_603", "measure": "rate",
            "outcome": "graduated", "children_complete": True, "partitions_total": True}  # fmt: skip
    keys = ["level", "unit_id", "parent_unit_id", "grouping", "category", "display", "n_display"]
    return pd.DataFrame([base | dict(zip(keys, row, strict=True)) for row in rows])


def _cell(result, unit: str, quantity: str, category: str = "All Students"):
    cells = result.cells
    return cells[(cells["unit_id"] == unit) & (cells["quantity"] == quantity) & (cells["category"] == category)].iloc[0]


def _relaxed(monkeypatch):
    monkeypatch.setattr(lp, "MILP_COLUMNS", 0)  # what the LP alone gives


def test_a_school_shown_60_69_percent_has_at_least_two_graduates(monkeypatch):
    # 1 of C is 60-69% for no whole C (1/2 = 50%, 1/1 = 100%): the least is 2 of 3. The LP
    # relaxation takes 0.03 of 0.05 students and rounds to 1.
    school = _rates([("school", "S", None, "all", "All Students", "60-69%", "*")])
    for backend in ("highs", "linprog"):
        exact = audit_release(school, exact_intervals=True, backend=backend)
        assert _cell(exact, "S", "recoded")[["lower", "interval"]].tolist() == [2, "exact"]
        assert _cell(exact, "S", "n")[["lower", "interval"]].tolist() == [3, "exact"]
    probed = audit_release(school)  # probes in a MILP block see whole tables only
    assert _cell(probed, "S", "recoded")["lower"] >= 2
    _relaxed(monkeypatch)
    lp_only = audit_release(school, exact_intervals=True)
    assert _cell(lp_only, "S", "recoded")[["lower", "interval"]].tolist() == [1, "lp_relaxed"]


def _state() -> pd.DataFrame:
    """18 schools at 60-69% (each >= 2 of 3), one hidden school, the state at 50-54%; no n published."""
    schools = [("school", f"S{i:02}", "ST", "all", "All Students", "60-69%", "*") for i in range(18)]
    return _rates(schools + [("school", "Z", "ST", "all", "All Students", "*", "*"),
                             ("state", "ST", None, "all", "All Students", "50-54%", "*")])  # fmt: skip


def test_a_state_shown_50_54_percent_has_the_graduates_its_schools_imply(monkeypatch):
    # the least whole-number table: 2 of 3 at each school, 0 of 13 at Z, 36 of 67 (53.7%) statewide
    exact = audit_release(_state(), exact_intervals=True)
    assert _cell(exact, "ST", "recoded")[["lower", "interval"]].tolist() == [36, "exact"]
    assert _cell(exact, "ST", "n")["lower"] == 67
    _relaxed(monkeypatch)
    lp_only = audit_release(_state(), exact_intervals=True)
    assert _cell(lp_only, "ST", "recoded")[["lower", "interval"]].tolist() == [1, "lp_relaxed"]


def test_whole_numbers_can_decide_a_disclosure(monkeypatch):
    # 11 students; the girls' rate is 50% (so an even number of girls, at least 2); the boys' n is hidden.
    # Over fractions the boys could be 0 (5.5 of 11 girls), so the LP passes the cell; over whole
    # numbers the boys are an odd 1..9: within the protected range.
    out = _rates([("school", "S", None, "all", "All Students", "*", "11"),
                  ("school", "S", None, "sex", "Female", "50%", "*"),
                  ("school", "S", None, "sex", "Male", "*", "*")])  # fmt: skip
    boys = _cell(audit_release(out), "S", "n", "Male")
    assert (boys.lower, boys.upper, boys.reason, boys.disclosed) == (1, 9, "WITHIN_PROTECTED_RANGE", True)
    _relaxed(monkeypatch)
    boys = _cell(audit_release(out), "S", "n", "Male")
    assert (boys.lower, boys.interval, boys.disclosed) == (0, "lp_relaxed", False)


def test_a_milp_at_its_node_limit_keeps_its_bound_and_says_so(monkeypatch):
    real = lp._Batch._run

    def run(self, cost, presolve, integer):
        raw = real(self, cost, presolve, integer)
        if integer and raw.status == "optimal" and cost @ raw.x > 0:  # as if stopped with the bound 1 proven
            return lp._Raw("limit", 1.0, raw.x)
        return raw

    monkeypatch.setattr(lp._Batch, "_run", run)
    school = _rates([("school", "S", None, "all", "All Students", "60-69%", "*")])
    cell = _cell(audit_release(school, exact_intervals=True), "S", "recoded")
    assert (cell.lower, cell.interval) == (1, "lp_relaxed")  # a bound, not the exact 2, and labelled so


def test_out_of_milp_time_a_component_keeps_the_lp_bound_and_says_so(monkeypatch):
    monkeypatch.setattr(lp, "MILP_BUDGET", 0.0)  # as if earlier MILPs of this audit had spent it all
    school = _rates([("school", "S", None, "all", "All Students", "60-69%", "*")])
    cell = _cell(audit_release(school, exact_intervals=True), "S", "recoded")
    assert (cell.lower, cell.interval) == (1, "lp_relaxed")


def test_the_true_table_counts_as_a_whole_number_table_only_if_it_fits():
    # the school at 60-69%: 2 of 3 fits, 1 of 2 (50%) does not
    matrix = sp.csr_matrix(np.array([[200.0, -119.0], [200.0, -139.0], [1.0, -1.0]]))
    model = (matrix, np.array([0.0, -np.inf, -np.inf]), np.array([np.inf, -1.0, 0.0]), np.zeros(2), np.full(2, np.inf))
    assert lp._Batch(*model, "highs", integer=True, known=np.array([2.0, 3.0]))._whole_table
    assert not lp._Batch(*model, "highs", integer=True, known=np.array([1.0, 2.0]))._whole_table
