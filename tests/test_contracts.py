"""The suite files: loading, code lists rendered from the seed, and clear errors for what the
SQL contract engine cannot run (pure code, no warehouse)."""

import json

import pytest

from orchestration.lib.contracts.sql import failing_predicate, row_failures_sql
from orchestration.lib.contracts.suites import Rule, SuiteError, load_rules, rendered_suite, suite_path, suite_text
from orchestration.lib.reference import FEEDS, code_sets, feed_layout
from tools.gx_suites import stale_suites


def test_every_feed_suite_loads_and_compiles():
    for feed in FEEDS:
        rules = load_rules(feed)
        assert rules and row_failures_sql(list(rules), "t")


def test_code_sets_come_from_the_seed_with_na_only_where_starred():
    rules = load_rules("ps_enrollment")
    by_col = {r.columns[0]: r for r in rules if r.type == "expect_column_values_to_be_in_set"}
    assert by_col["term_season"].kwargs["value_set"] == sorted(code_sets()["ps_term_season"])
    assert "NA" in by_col["sex"].kwargs["value_set"]
    assert "NA" not in by_col["award_seeking"].kwargs["value_set"]


def test_every_required_column_has_a_not_null_rule():
    for feed in FEEDS:
        required = {c.name for c in feed_layout(feed) if c.required}
        covered = {r.columns[0] for r in load_rules(feed) if r.type == "expect_column_values_to_not_be_null"}
        assert required == covered


def test_unsupported_expectation_is_a_clear_error_not_a_silent_skip():
    rule = Rule(0, "expect_column_kl_divergence_to_be_less_than", {"column": "x"}, "r", "row")
    with pytest.raises(SuiteError, match="not supported at ingest"):
        failing_predicate(rule)


def _suite_with(tmp_path, kwargs: dict, meta: dict):
    rule = {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "grade", **kwargs}, "meta": meta}
    (tmp_path / "msds.json").write_text(json.dumps({"expectations": [rule]}))


def test_a_suite_naming_an_unknown_code_set_is_rejected(tmp_path):
    _suite_with(tmp_path, {"value_set": []}, {"rule": "r", "code_set": "no_such_set"})
    with pytest.raises(SuiteError, match="no_such_set"):
        load_rules("msds", tmp_path)


def test_the_old_code_set_indirection_is_refused_because_stock_gx_would_fail_every_row(tmp_path):
    _suite_with(tmp_path, {"value_set": {"$code_set": "msds_grade"}}, {"rule": "r"})
    with pytest.raises(SuiteError, match="must be a list .* meta.code_set"):
        load_rules("msds", tmp_path)


def test_a_value_set_that_differs_from_its_seed_is_refused_with_the_render_command(tmp_path):
    stale = sorted(code_sets()["msds_grade"])[1:]  # a code added to the seed since the suite was rendered
    _suite_with(tmp_path, {"value_set": stale}, {"rule": "r", "code_set": "msds_grade"})
    with pytest.raises(SuiteError, match="tools.gx_suites"):
        load_rules("msds", tmp_path)
    _suite_with(tmp_path, {"value_set": sorted(code_sets()["msds_grade"])}, {"rule": "r", "code_set": "msds_grade"})
    assert load_rules("msds", tmp_path)[0].kwargs["value_set"] == sorted(code_sets()["msds_grade"])


def test_the_suite_files_are_rendered_from_the_code_set_seed():
    assert stale_suites() == {}, "run: python -m tools.gx_suites (make suites)"


def test_rendering_puts_each_code_list_on_one_line_and_round_trips():
    doc = json.loads(suite_path("ps_enrollment").read_text())
    text = suite_text(rendered_suite(doc, "ps_enrollment.json"))
    assert json.loads(text) == doc
    line = next(x for x in text.splitlines() if '"value_set"' in x)
    assert line.strip().startswith('"value_set": [') and line.rstrip().endswith("]")


def test_pair_rule_ignores_rows_with_a_missing_value():
    rule = Rule(
        0,
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": "a", "column_B": "b", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        "r",
        "row",
    )
    import duckdb

    rows = duckdb.sql(
        f"select a, b from (values ('2','1'), ('1','2'), (null,'1'), ('1','1')) t(a, b) where {failing_predicate(rule)}"
    ).fetchall()
    assert rows == [("1", "2")]
