"""The independent audit: it flags every naive suppression of the known failure cases,
agrees with a plain linprog on the intervals, reads displays as a reader does, and never
imports the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.lib.disclosure import AuditError, audit_release, run_suppression, suppress_tables
from orchestration.lib.disclosure.audit.lp import Need, Target, intervals
from tests.disclosure_cases import all_cases, district, race, table, unit_rows
from tools.bench_disclosure import benchmark, synthetic_release

EXPECTED = {  # what the audit must find in each naive output
    "a_row_only": {"EXACT"},
    "b_small_pair": {"SMALL_GROUP_SUM"},
    "c_suppressed_zeros": {"EXACT"},
    "d_school_under_district": {"EXACT", "SMALL_GROUP_SUM"},
    "e_non_nesting": {"EXACT"},
    "f_known_n": {"EXACT"},
    "g_differencing": {"EXACT"},
    "h_subset_population": {"EXACT"},
    "i_equal_population": {"EXACT", "SMALL_GROUP_SUM"},
    "j_insider_singleton": {"INSIDER_EXACT"},
}


def _prior(case):
    return [suppress_tables(case.prior_tables)] if case.prior_tables else []


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_audit_flags_the_naive_suppression_of_each_failure_case(case):
    prior = _prior(case)
    naive = case.naive(case.tables)
    result = audit_release(naive, prior, tables=case.tables + case.prior_tables)
    assert not result.passed
    assert set(result.disclosed["reason"]) == EXPECTED[case.name]
    # and the engine's output of the same tables passes with nothing disclosed
    engine = run_suppression(case.tables, prior_releases=prior)
    assert audit_release(engine.cells, prior, tables=case.tables + case.prior_tables).passed


def test_audit_with_suppression_disabled_flags_every_small_cell():
    for case in all_cases():
        if case.name in ("e_non_nesting", "g_differencing"):
            continue
        out = run_suppression(case.tables, complementary="none", audit=False).cells
        assert not audit_release(out, tables=case.tables).passed, case.name


def test_row_only_complement_is_recovered_through_the_district_column():
    case = next(c for c in all_cases() if c.name == "a_row_only")
    result = audit_release(case.naive(case.tables), tables=case.tables)
    hit = result.disclosed.set_index(["unit_id", "category"])
    assert hit.loc[("A", "Hispanic or Latino"), ["lower", "upper", "true_value"]].tolist() == [4, 4, 4]
    assert hit.loc[("A", "White"), ["lower", "upper"]].tolist() == [30, 30]


def test_differencing_names_the_earlier_release_cell_that_is_now_disclosed():
    case = next(c for c in all_cases() if c.name == "g_differencing")
    prior = _prior(case)
    alone = case.naive(case.tables)
    assert audit_release(alone, tables=case.tables).passed  # the later release alone looks safe
    result = audit_release(alone, prior, tables=case.tables + case.prior_tables)
    hit = result.disclosed
    assert set(hit["release"]) == {1}
    assert ("A", "Hispanic or Latino") in set(zip(hit["unit_id"], hit["category"], strict=True))


def test_percentages_with_known_n_become_counts():
    case = next(c for c in all_cases() if c.name == "f_known_n")
    naive = case.naive(case.tables)
    result = audit_release(naive, tables=case.tables)
    male = result.disclosed.iloc[0]
    assert (male.category, male.quantity, male.lower, male.upper) == ("Male", "numerator", 2, 2)


def test_percentages_without_counts_leave_a_wide_interval():
    # NCES: no counts, so 50% overall and 49% of the girls bound the boys' numerator only loosely
    groups = {"all": {"All Students": (40, 20)}, "sex": {"Female": (37, 18), "Male": (3, 2)}}
    t = table("t", "nces_2011_603", "rate", unit_rows("school", "S", None, groups))
    out = run_suppression([t], complementary="none", audit=False).cells
    assert set(out["n_display"]) == {""}
    assert audit_release(out, tables=[t]).passed
    result = audit_release(out, exact_intervals=True)
    male = result.cells[result.cells["quantity"] == "numerator"].iloc[0]
    assert male.interval == "exact" and male.lower <= 2 and male.upper >= 10 and not male.disclosed


def test_per_cell_results_carry_interval_exactness_and_reason():
    t = district("t", {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)})
    run = run_suppression([t])
    cells = run.audit.cells
    for col in ("lower", "upper", "interval", "exact", "disclosed", "reason", "true_value"):
        assert col in cells.columns
    counts = cells[cells["quantity"] == "count"]
    assert len(counts) == 4 and not counts["disclosed"].any() and not counts["exact"].any()
    assert (counts["lower"] <= counts["true_value"]).all() and (counts["true_value"] <= counts["upper"]).all()
    assert set(counts["interval"]) <= {"exact", "inner"}


def test_backends_agree_on_exact_intervals():
    for case in all_cases():
        prior = _prior(case)
        naive = case.naive(case.tables)
        a = audit_release(naive, prior, backend="highs", exact_intervals=True)
        b = audit_release(naive, prior, backend="linprog", exact_intervals=True)
        assert (a.cells["interval"] == "exact").all()
        pd.testing.assert_frame_equal(a.cells, b.cells)


def test_lp_intervals_on_a_hand_computed_table():
    # x0 + x1 = 10, x1 + x2 = 4, all >= 0: x0 in [6, 10], x1 in [0, 4], x2 in [0, 4], x0 + x2 in [6, 14]
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    targets = [Target(np.array([i]), np.array([1.0])) for i in range(3)] + [Target(np.array([0, 2]), np.ones(2))]
    for backend in ("highs", "linprog"):
        lo, hi, kind, _, _ = intervals(
            m, np.array([10.0, 4.0]), np.array([10.0, 4.0]), np.zeros(3), np.full(3, np.inf), targets, backend=backend
        )
        assert lo.tolist() == [6, 0, 0, 6] and hi.tolist() == [10, 4, 4, 14] and set(kind) == {"exact"}
    # with needs and a true point, settled targets keep an inner bound that still proves the need
    lo, hi, kind, _, _ = intervals(
        m,
        np.array([10.0, 4.0]),
        np.array([10.0, 4.0]),
        np.zeros(3),
        np.full(3, np.inf),
        targets[:2],
        needs=[Need(True, 0, 10), Need(True, 0, 10)],
        truth=np.array([8.0, 2.0, 2.0]),
    )
    assert lo[1] <= 0 and hi[0] >= 10


def test_integer_rounding_of_percentage_bounds():
    # 1 of 3 shown as 33%: the reader knows n = 3, so the numerator is pinned at 1 even though 33% is not exact
    groups = {"all": {"All Students": (3, 1)}}
    t = table("t", "wioa_etpl", "rate", unit_rows("program", "P", None, groups), other_information=False)
    out = run_suppression([t], complementary="none", audit=False).cells
    assert out["display"].tolist() == ["33%"] and out["n_display"].tolist() == ["3"]
    assert audit_release(out, tables=[t]).passed  # a published whole percentage is meant to be read


def test_audit_reads_only_displays_and_rejects_what_it_cannot_read():
    t = district("t", {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)})
    out = suppress_tables([t])
    bad = out.copy()
    bad.loc[1, "display"] = "four"
    with pytest.raises(AuditError, match=r"count display 'four' is neither a whole number nor '\*'"):
        audit_release(bad)
    lying = out.copy()
    lying.loc[lying["display"] != "*", "reason"] = "whatever"  # reasons and statuses are not read
    assert audit_release(lying).passed


def test_contradictory_releases_are_an_error_not_a_pass():
    t = district("t", {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)})
    out = suppress_tables([t])
    other = out.copy()
    row = other.index[(other["unit_id"] == "B") & (other["category"] == "White")][0]
    other.loc[row, "display"] = "21"
    with pytest.raises(AuditError, match="contradicts"):
        audit_release(out, [other])


def test_only_populations_limits_the_work():
    a = district("a", {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)})
    b = table("b", "nces_2011_603", "count", unit_rows("school", "S", None, race(3, 30)), population="other")
    out = suppress_tables([a, b])
    result = audit_release(out, only_populations={"other"})
    assert set(result.cells["population"]) == {"other"}


def test_the_audit_never_imports_the_engine():
    audit_dir = Path(__file__).resolve().parents[1] / "orchestration/lib/disclosure/audit"
    # the public seeds a reader knows (policies, relations) and the data dictionary the folder ships
    allowed = {
        "orchestration.lib.disclosure.audit",
        "orchestration.lib.disclosure.policy",
        "orchestration.lib.disclosure.tables",
        "orchestration.lib.disclosure.relations",
        "orchestration.lib.reference",
        "orchestration.lib.governance.data_dictionary",
    }
    for path in audit_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orchestration"):
                assert any(node.module == a or node.module.startswith(a + ".") for a in allowed), (path, node.module)


def test_synthetic_release_and_benchmark_on_a_small_size():
    tables = synthetic_release(1500, seed=3)
    assert {t.table_id for t in tables} == {"enrollment_by_race", "enrollment_by_grade", "proficiency_by_race"}
    cells = sum(len(t.cells) for t in tables)
    assert 1000 <= cells <= 1600
    assert synthetic_release(1500, seed=3)[0].cells.equals(tables[0].cells)  # reproducible
    result = benchmark(1500, seed=3)
    assert result["passed"] and result["disclosed"] == 0 and result["cells"] == cells
    assert result["suppressed"] > 0 and result["suppression_seconds"] >= 0 and result["audit_seconds"] >= 0


def test_ball_probing_of_large_components_agrees_with_exact_intervals(monkeypatch):
    import orchestration.lib.disclosure.audit.lp as lp

    tables = synthetic_release(2500, seed=5)
    run = run_suppression(tables)
    naive = run_suppression(tables, complementary="row", audit=False).cells
    # the outsider's intervals (insider mode has its own test)
    exact_naive = audit_release(naive, tables=tables, exact_intervals=True, insiders=False)
    monkeypatch.setattr(lp, "BIG_COMPONENT", 40)  # force balls on this small release
    monkeypatch.setattr(lp, "BALL_COLUMNS", 30)
    balls = audit_release(run.cells, tables=tables)
    assert balls.passed and (balls.cells["interval"] == "inner").any()
    probed = audit_release(naive, tables=tables, insiders=False)
    keys = ["table_id", "unit_id", "grouping", "category", "quantity", "equation"]
    flagged = set(map(tuple, probed.disclosed[keys].to_numpy()))
    assert flagged == set(map(tuple, exact_naive.disclosed[keys].to_numpy())) and flagged
    # every inner interval lies inside the exact one
    both = probed.cells.merge(exact_naive.cells, on=keys + ["members"], suffixes=("", "_exact"))
    assert (both["lower"] >= both["lower_exact"]).all() and (both["upper"] <= both["upper_exact"]).all()
    # a component too large to solve target by target: grown balls, then a relaxation, and what
    # neither decides is 'unproven' (disclosed): never fewer findings than the exact intervals give
    monkeypatch.setattr(lp, "MAX_EXACT_COLUMNS", 40)
    sized = audit_release(naive, tables=tables, insiders=False)
    assert flagged <= set(map(tuple, sized.disclosed[keys].to_numpy()))
    assert set(sized.cells["interval"]) >= {"inner", "outer"}


def _output(table_id: str, rows: list[tuple[str, str, str]], partitions_total: bool = True) -> pd.DataFrame:
    """A published count table of one school, as the reader sees it."""
    base = {"table_id": table_id, "population": "k12_fall", "policy": "nces_2011_603", "measure": "count",
            "outcome": "", "level": "school", "unit_id": "S", "parent_unit_id": None, "children_complete": True,
            "partitions_total": partitions_total}  # fmt: skip
    return pd.DataFrame([base | {"grouping": g, "category": c, "display": d, "n_display": d} for g, c, d in rows])


def test_a_partial_breakdown_in_one_release_does_not_relax_the_full_breakdown_of_another():
    # an earlier release hid both categories of 120 students; a later one lists only White (111)
    # and says so (partitions_total false): the earlier release's breakdown still sums, so H = 9
    prior = _output("enrollment_by_race", [("all", "All Students", "120"),
                                           ("race_ethnicity", "Hispanic or Latino", "*"),
                                           ("race_ethnicity", "White", "*")])  # fmt: skip
    later = _output("white_enrollment", [("all", "All Students", "120"), ("race_ethnicity", "White", "111")],
                    partitions_total=False)  # fmt: skip
    result = audit_release(later, [prior], exact_intervals=True)
    cells = result.cells.set_index(["release", "category", "quantity"])
    assert cells.loc[(1, "Hispanic or Latino", "count"), ["lower", "upper", "reason"]].tolist() == [9, 9, "EXACT"]
    assert not result.passed
    # and the later release's own partial breakdown stays an upper bound only
    alone = audit_release(_output("white_enrollment", [("all", "All Students", "120"),
                                                       ("race_ethnicity", "White", "*")], partitions_total=False),
                          exact_intervals=True)  # fmt: skip
    assert alone.cells[["lower", "upper"]].values.tolist() == [[0, 120]]


def test_insider_findings_are_the_same_with_and_without_the_pool_of_tables(monkeypatch):
    """The pool (insider.py `_Pool`) only skips solves: mixing feasible tables never clears a
    sibling the exact LP would flag, and it does clear some."""
    import orchestration.lib.disclosure.audit.insider as insider

    tables = synthetic_release(1500, seed=3)
    outsider_only = run_suppression(tables, insiders=False, audit=False).cells
    cleared = []
    pooled_unsettled = insider._Pool.unsettled

    def counting(self, i, variables):
        left = pooled_unsettled(self, i, variables)
        cleared.append(len(variables) - len(left))
        return left

    monkeypatch.setattr(insider._Pool, "unsettled", counting)
    pooled = audit_release(outsider_only, tables=tables)
    monkeypatch.setattr(insider._Pool, "unsettled", lambda self, i, variables: variables)
    unpooled = audit_release(outsider_only, tables=tables)
    keys = ["table_id", "unit_id", "grouping", "category", "quantity", "attacker"]
    found = pooled.disclosed[pooled.disclosed["attacker"] != "outsider"]
    assert len(found) > 0  # insiders do pin cells of the outsider-only release
    assert sorted(map(tuple, found[keys].to_numpy())) == sorted(
        map(tuple, unpooled.disclosed[unpooled.disclosed["attacker"] != "outsider"][keys].to_numpy())
    )
    assert sum(cleared) > 0
