"""The suppression engine: policy seeds, primary rules, size-band recodes, complementary
suppression on the known failure cases, policy conflicts, reason codes."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pandas as pd
import pytest

from orchestration.lib.disclosure import (
    OUTPUT_COLUMNS,
    PolicyError,
    TableError,
    audit_release,
    load_policies,
    run_suppression,
    suppress_tables,
)
from orchestration.lib.disclosure.percent import code_percent, numerator_range, whole_percent
from orchestration.lib.paths import SEEDS_DIR
from tests.disclosure_cases import all_cases, district, race, table, unit_rows

POLICIES = load_policies()
NCES = POLICIES["nces_2011_603"]
OHE = POLICIES["ohe"]


def one_unit(groups, policy="nces_2011_603", measure="count", other_information=True, table_id="t"):
    return table(table_id, policy, measure, unit_rows("school", "S", None, groups), other_information=other_information)


def cell(out: pd.DataFrame, category: str, unit: str | None = None) -> pd.Series:
    rows = out[(out["category"] == category) & ((out["unit_id"] == unit) if unit else True)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# ---- policies ---------------------------------------------------------------------------


def test_policies_load_from_seeds():
    assert {"ohe", "nces_2011_603", "wioa_etpl"} <= set(POLICIES)
    assert (OHE.min_n, NCES.min_n, POLICIES["wioa_etpl"].min_n) == (10, 10, 3)
    assert OHE.small_counts == "unless_other_information" and NCES.small_counts == "never"
    assert not NCES.counts_with_rates and OHE.counts_with_rates
    assert [b.band for b in NCES.bands] == ["a", "b", "c", "d", "e", "f"]


def _seeds_copy(tmp_path):
    for name in ("suppression_policies.csv", "suppression_rate_bands.csv"):
        shutil.copy(SEEDS_DIR / name, tmp_path / name)
    return tmp_path


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "suppression_policies.csv",
            ",10,never,",
            ",ten,never,",
            r"suppression_policies.csv line 3 \(policy 'nces_2011_603'\), column 'min_n': must be a whole",
        ),
        (
            "suppression_policies.csv",
            ",true,true,false,suppress_rate",
            ",maybe,true,false,suppress_rate",
            r"line 2 \(policy 'ohe'\), column 'counts_with_rates': must be true or false",
        ),
        (
            "suppression_policies.csv",
            "never,false,true,true,suppress_rate",
            "never,false,true,true,shrug",
            r"column 'recode_conflict_action': must be one of",
        ),
        (
            "suppression_policies.csv",
            "policy,description,min_n",
            "policy,description,minimum_n",
            r"suppression_policies.csv: header lacks column\(s\) \['min_n'\]",
        ),
        (
            "suppression_rate_bands.csv",
            "6-9;10-14;",
            "6-8;10-14;",
            r"suppression_rate_bands.csv line 7 \(band 'd'\), column 'intervals': whole percentages \[9\] are not "
            r"covered",
        ),
        ("suppression_rate_bands.csv", "ohe,all,", "oeh,all,", r"rate bands name unknown policy\(ies\) \['oeh'\]"),
        (
            "suppression_rate_bands.csv",
            "nces_2011_603,f,nces_2011_603.5f,10,",
            "nces_2011_603,f,nces_2011_603.5f,12,",
            r"policy 'nces_2011_603' .* has no rate band for a group of 10",
        ),
        ("suppression_rate_bands.csv", "5-9;10-14", "5-9;10-x", r"interval '10-x' is not 'lo-hi'"),
    ],
)
def test_policy_errors_name_file_row_and_column(tmp_path, file, old, new, message):
    seeds = _seeds_copy(tmp_path)
    _edit(seeds / file, old, new)
    with pytest.raises(PolicyError, match=message):
        load_policies(seeds)


def test_duplicate_policy_and_missing_file(tmp_path):
    seeds = _seeds_copy(tmp_path)
    with (seeds / "suppression_policies.csv").open("a") as f:
        f.write('ohe,"again",10,always,true,true,false,suppress_rate,x\n')
    with pytest.raises(PolicyError, match=r"line 5 \(policy 'ohe'\), column 'policy': appears twice"):
        load_policies(seeds)
    (seeds / "suppression_rate_bands.csv").unlink()
    with pytest.raises(PolicyError, match=r"suppression_rate_bands.csv: policy seed file is missing"):
        load_policies(seeds)


def test_unknown_policy_named_by_a_table():
    t = one_unit({"all": {"All Students": 12}}, policy="ferpa_2099")
    with pytest.raises(PolicyError, match=r"table 't' asks for policy 'ferpa_2099'.*suppression_policies.csv"):
        suppress_tables([t])


def test_bad_tables_are_refused_with_the_table_named():
    with pytest.raises(TableError, match=r"table 't': a rate table needs a numerator"):
        suppress_tables([one_unit({"all": {"All Students": 12}}, measure="rate")])
    with pytest.raises(TableError, match=r"numerators must lie between 0 and n"):
        suppress_tables([one_unit({"all": {"All Students": (12, 13)}}, measure="rate")])


# ---- percentages and NCES size bands ----------------------------------------------------


def test_whole_percent_rounds_half_up_in_integers():
    assert whole_percent(1, 8) == 13  # 12.5
    assert whole_percent(1, 200) == 1  # 0.5
    assert whole_percent(1, 201) == 0
    assert whole_percent(199, 200) == 100  # 99.5


@pytest.mark.parametrize("n", [10, 17, 37, 150, 333, 1000])
def test_numerator_range_matches_brute_force(n):
    for lo, hi in [(0, 5), (95, 100), (10, 14), (21, 29), (43, 43)]:
        ks = [k for k in range(n + 1) if lo <= whole_percent(k, n) <= hi]
        assert numerator_range(n, lo, hi) == ((min(ks), max(ks)) if ks else numerator_range(n, lo, hi))


def band(n, related=None):
    return NCES.band_for(n, n if related is None else related)


@pytest.mark.parametrize(
    ("n", "related", "band_name", "cases"),
    [
        (400, 400, "a", {0: "<=1%", 4: "<=1%", 5: "<=1%", 6: "2%", 200: "50%", 395: ">=99%", 394: ">=99%", 393: "98%"}),
        (250, 250, "b", {5: "<=2%", 6: "<=2%", 7: "3%", 120: "48%", 244: ">=98%", 243: "97%"}),
        (
            150,
            150,
            "c",
            {3: "<=2%", 4: "3-4%", 6: "3-4%", 7: "5-9%", 30: "20-24%", 142: "95-97%", 146: "95-97%", 147: ">=98%"},
        ),
        (60, 60, "d", {3: "<=5%", 4: "6-9%", 30: "50-54%", 56: "90-94%", 57: ">=95%"}),
        (30, 30, "e", {3: "<=10%", 4: "11-19%", 15: "50-59%", 26: "80-89%", 27: ">=90%"}),
        (15, 15, "f", {3: "<=20%", 4: "21-29%", 10: "60-69%", 11: "70-79%", 12: ">=80%"}),
        (400, 150, "c", {200: "50-54%"}),  # 5a needs no related subgroup under 200
        (250, 199, "c", {125: "50-54%"}),
    ],
)
def test_nces_size_bands(n, related, band_name, cases):
    b = band(n, related)
    assert b.band == band_name and b.rule_id == f"nces_2011_603.5{band_name}"
    for k, shown in cases.items():
        assert code_percent(k, n, b).display == shown, (n, k)


def test_nces_groups_under_ten_have_no_band_and_are_suppressed():
    assert band(9) is None
    groups = {"all": {"All Students": (9, 4)}}
    out = suppress_tables([one_unit(groups, measure="rate")])
    row = cell(out, "All Students")
    assert (row.status, row.display, row.reason, row.rule_id) == (
        "suppressed",
        "*",
        "PRIMARY_MIN_N",
        "nces_2011_603.min_n",
    )


def test_nces_rate_table_uses_bands_of_each_group_and_no_counts():
    groups = {"all": {"All Students": (400, 300)}, "sex": {"Female": (230, 180), "Male": (170, 120)}}
    out = suppress_tables([one_unit(groups, measure="rate")])
    # the total is over 300 but a related group (170) is under 200: option 5c, not 5a
    assert cell(out, "All Students").display == "75-79%"
    assert cell(out, "All Students").rule_id == "nces_2011_603.5c"
    assert cell(out, "Female").display == "75-79%"  # 78.3%, 201-300 with a related group under 200: 5c
    assert cell(out, "Male").display == "70-74%"
    assert not out["n_published"].any()
    assert set(out["n_reason"]) == {"NO_COUNTS_BEHIND_PERCENTAGES"} and set(out["n_display"]) == {""}


# ---- OHE and WIOA primary rules ---------------------------------------------------------


def test_ohe_counts_are_publishable_at_any_size_without_other_information():
    groups = {"all": {"All Students": 3}, "program": {"Nursing": 1, "Welding": 2}}
    out = suppress_tables([one_unit(groups, policy="ohe", other_information=False)])
    assert list(out["display"]) == ["3", "1", "2"] and set(out["reason"]) == {"PUBLISHED"}


def test_ohe_other_information_is_suppressed_under_ten_but_the_total_count_stays():
    groups = {"all": {"All Students": 30}, "race_ethnicity": {"Hispanic or Latino": 4, "White": 26}}
    run = run_suppression([one_unit(groups, policy="ohe", other_information=True)])
    out = run.cells
    assert cell(out, "All Students").display == "30"
    assert cell(out, "Hispanic or Latino").reason == "PRIMARY_MIN_N"
    assert cell(out, "White").reason == "COMPLEMENTARY_ROW"
    assert run.passed


def test_ohe_rates_are_recoded_at_95_and_5_and_counts_shown():
    groups = {"all": {"All Students": (400, 200)}, "sex": {"Female": (200, 196), "Male": (200, 4)}}
    out = suppress_tables([one_unit(groups, policy="ohe", measure="rate")])
    assert cell(out, "Female").display == ">=95%" and cell(out, "Female").reason == "RECODE_TOP"
    assert cell(out, "Male").display == "<=5%" and cell(out, "Male").reason == "RECODE_BOTTOM"
    assert cell(out, "All Students").display == "50%" and cell(out, "All Students").n_display == "400"
    assert set(out["rule_id"]) == {"ohe.recode"}


def test_wioa_etpl_publishes_cells_of_three_and_suppresses_smaller():
    groups = {
        "all": {"All Students": (28, 22)},
        "program": {"CNA": (3, 2), "HVAC": (3, 2), "CDL": (2, 2), "Welding": (20, 16)},
    }
    run = run_suppression([one_unit(groups, policy="wioa_etpl", measure="rate", other_information=False)])
    out = run.cells
    assert cell(out, "Welding").display == "80%" and cell(out, "Welding").n_display == "20"
    assert {cell(out, "CNA").display, cell(out, "HVAC").display} == {"67%", "*"}  # one of them is the complement
    assert cell(out, "CDL").reason == "PRIMARY_MIN_N" and cell(out, "CDL").rule_id == "wioa_etpl.min_n"
    assert cell(out, "CDL").n_display == "*"  # a count of 2 is under the cell size too
    assert run.passed


def test_zero_denominator_has_its_own_reason():
    groups = {"all": {"All Students": (20, 10)}, "sex": {"Female": (20, 10), "Male": (0, 0)}}
    out = suppress_tables([one_unit(groups, policy="ohe", measure="rate", other_information=False)])
    assert cell(out, "Male").reason == "ZERO_DENOMINATOR" and cell(out, "Male").display == "*"


# ---- policy conflicts -------------------------------------------------------------------


def conflict_table(policy="ohe"):
    groups = {"all": {"All Students": (50, 40)}, "sex": {"Female": (15, 15), "Male": (35, 25)}}
    return one_unit(groups, policy=policy, measure="rate", other_information=True)


def test_top_code_on_a_small_group_with_its_size_published_is_not_published():
    # >=95% of a published 15 can only be 15 of 15: the recode would reveal the count
    assert numerator_range(15, 95, 100) == (15, 15)
    run = run_suppression([conflict_table()])
    female = cell(run.cells, "Female")
    assert female.status == "suppressed" and female.reason == "POLICY_CONFLICT_RECODE_REVEALS_COUNT"
    assert female.rule_id == "ohe.recode_conflict"
    assert cell(run.cells, "Male").status == "suppressed"  # its complement
    assert run.passed


def test_conflict_can_withhold_the_count_instead():
    policies = dict(POLICIES)
    policies["ohe"] = replace(OHE, recode_conflict_action="withhold_count")
    run = run_suppression([conflict_table()], policies=policies)
    female = cell(run.cells, "Female")
    assert female.display == ">=95%" and not female.n_published
    assert female.n_display == "*" and female.n_reason == "POLICY_CONFLICT_RECODE_REVEALS_COUNT"
    assert cell(run.cells, "Male").n_display == "*"
    assert audit_release(run.cells, policies=policies).passed


def test_naive_publication_of_the_conflict_is_caught_by_the_audit():
    naive = run_suppression([conflict_table()], complementary="none", audit=False).cells
    assert cell(naive, "Female").display == ">=95%"
    result = audit_release(naive)
    assert set(result.disclosed["reason"]) == {"RECODE_REVEALS_COUNT"}


# ---- complementary suppression on the known failure cases -------------------------------


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_engine_output_passes_the_audit_with_no_disclosed_cell(case):
    prior = [suppress_tables(case.prior_tables)] if case.prior_tables else []
    run = run_suppression(case.tables, prior_releases=prior)
    assert run.passed, run.audit.disclosed
    again = audit_release(run.cells, prior, tables=case.tables + case.prior_tables, backend="linprog")
    assert again.passed and len(again.disclosed) == 0
    assert (run.cells["status"] == "suppressed").any()


def test_complement_in_the_row_and_the_column_forms_a_rectangle():
    out = suppress_tables([district("t", {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)})])
    hidden = set(map(tuple, out.loc[out["status"] == "suppressed", ["unit_id", "category"]].to_numpy()))
    assert hidden == {("A", "Hispanic or Latino"), ("A", "White"), ("C", "Hispanic or Latino"), ("C", "White")}
    assert cell(out, "Hispanic or Latino", "C").reason == "COMPLEMENTARY_HIERARCHY"


def test_small_primaries_are_combined_to_ten_or_more():
    case = next(c for c in all_cases() if c.name == "b_small_pair")
    out = suppress_tables(case.tables)
    white = cell(out, "White")
    assert white.status == "suppressed" and white.rule_id == "complementary.small_sum"


def test_suppressed_zeros_get_a_non_zero_partner():
    case = next(c for c in all_cases() if c.name == "c_suppressed_zeros")
    out = suppress_tables(case.tables)
    assert cell(out, "03").reason == "PRIMARY_ZERO" and cell(out, "04").reason == "PRIMARY_ZERO"
    assert cell(out, "05").status == "suppressed"


def test_tables_sharing_a_population_hide_a_cell_in_all_of_them():
    case = next(c for c in all_cases() if c.name == "e_non_nesting")
    out = suppress_tables(case.tables)
    s1 = out[(out["unit_id"] == "S1") & (out["category"] == "Hispanic or Latino")]
    assert list(s1["status"]) == ["suppressed", "suppressed"]
    # the same quantity is never shown in one table and hidden in the other
    assert out.groupby(["unit_id", "grouping", "category"])["display"].nunique().max() == 1


def test_prior_release_complements_are_reused():
    case = next(c for c in all_cases() if c.name == "g_differencing")
    first = suppress_tables(case.prior_tables)
    out = suppress_tables(case.tables, prior_releases=[first])
    hidden = out[out["status"] == "suppressed"]
    assert set(hidden["unit_id"]) == {"C"}  # C's cells were already hidden last time: nothing new is lost
    assert cell(out, "Hispanic or Latino", "C").reason == "COMPLEMENTARY_PRIOR_RELEASE"


def test_nces_consistency_suppresses_a_second_school_when_the_district_has_other_schools():
    # children incomplete: no sum links the schools to the district, NCES 6 still asks for a second school
    rows = []
    for unit, n in (("A", (8, 4)), ("B", (40, 20)), ("C", (60, 30))):
        rows += unit_rows("school", unit, "D1", {"all": {"All Students": n}})
    rows += unit_rows("district", "D1", None, {"all": {"All Students": (130, 60)}}, children_complete=False)
    out = suppress_tables([table("t", "nces_2011_603", "rate", rows)])
    b = cell(out, "All Students", "B")
    assert (b.status, b.reason, b.rule_id) == ("suppressed", "COMPLEMENTARY_CONSISTENCY", "nces_2011_603.6")


def test_nces_consistency_recodes_the_district_like_its_one_recoded_school():
    rows = []
    for unit, n in (("A", (15, 15)), ("B", (400, 200)), ("C", (400, 210))):
        rows += unit_rows("school", unit, "D1", {"all": {"All Students": n}})
    rows += unit_rows("district", "D1", "STATE", {"all": {"All Students": (815, 425)}})
    out = suppress_tables([table("t", "nces_2011_603", "rate", rows)])
    assert cell(out, "All Students", "A").display == ">=80%"
    district_row = cell(out, "All Students", "D1")
    assert district_row.reason == "RECODE_CONSISTENCY" and district_row.rule_id == "nces_2011_603.6"
    assert district_row.display == "50-59%"


# ---- the output contract ----------------------------------------------------------------


def test_every_cell_has_status_display_reason_and_rule():
    tables = [c for case in all_cases() for c in case.tables if case.name != "e_non_nesting"]
    for t in tables:
        out = suppress_tables([t])
        assert list(out.columns) == OUTPUT_COLUMNS
        assert out["status"].isin(["published", "suppressed", "recoded"]).all()
        assert (out["display"] != "").all() and (out["reason"] != "").all() and (out["rule_id"] != "").all()
        assert out["n_reason"].ne("").all()
        assert ((out["status"] == "suppressed") == (out["display"] == "*")).all()


def test_naive_modes_are_selectable_and_unknown_modes_refused():
    t = district("t", {"A": race(4, 30), "B": race(15, 20), "C": race(12, 40)})
    none = suppress_tables([t], complementary="none", audit=False)
    row = suppress_tables([t], complementary="row", audit=False)
    assert (none["status"] == "suppressed").sum() == 1 and (row["status"] == "suppressed").sum() == 2
    with pytest.raises(ValueError, match="complementary must be one of"):
        suppress_tables([t], complementary="greedy")
