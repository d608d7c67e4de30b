"""The suite's expectations as DuckDB SQL: the fast engine that decides quarantine.

Great Expectations on pandas runs at a few thousand rows a second on these
suites (date parsing is a Python loop), far short of state scale, and GX over
DuckDB SQL is broken upstream. So each supported expectation type is compiled
here to a predicate with GX's semantics (nulls ignored by map expectations,
`ignore_row_if`, `row_condition`, inclusive bounds), and GX itself re-checks the
same suite on chunks of every partition (see ingest); any disagreement between
the two engines fails the load. An expectation type not listed here is a clear
error, never silently skipped.
"""

from __future__ import annotations

import re

from orchestration.lib.contracts.suites import Rule, SuiteError


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_ROW_CONDITION = re.compile(r'^\s*(\w+)\s*(!=|==)\s*"([^"]*)"\s*$')


def _row_condition(kwargs: dict, where: str) -> str:
    cond = kwargs.get("row_condition")
    if not cond:
        return "TRUE"
    if kwargs.get("condition_parser") != "pandas":
        raise SuiteError(f"{where}: only condition_parser 'pandas' row conditions are supported")
    m = _ROW_CONDITION.match(cond)
    if not m:
        raise SuiteError(f'{where}: row_condition must look like column!="value" or column=="value"')
    col, op, value = m.groups()
    # pandas compares missing values as unequal to everything
    if op == "!=":
        return f"({_q(col)} IS NULL OR {_q(col)} <> {_lit(value)})"
    return f"{_q(col)} = {_lit(value)}"


def _outside(expr: str, k: dict) -> str:
    """TRUE when expr is below min_value or above max_value (inclusive bounds unless
    strict_min / strict_max), as GX's between expectations define it."""
    parts = []
    if k.get("min_value") is not None:
        parts.append(f"{expr} {'<=' if k.get('strict_min') else '<'} {_lit(k['min_value'])}")
    if k.get("max_value") is not None:
        parts.append(f"{expr} {'>=' if k.get('strict_max') else '>'} {_lit(k['max_value'])}")
    return f"({' OR '.join(parts) or 'FALSE'})"


# GX runs Python: `re.search` and `datetime.strptime`. Where Python and DuckDB (RE2,
# its own strptime) read a value differently, the SQL below reads it Python's way,
# so the two engines agree on every value, odd ones included (tests/test_bad_inputs.py).

# what Python's strptime matches for each supported format (its _strptime regex: ASCII
# digits, one-digit months and days, a space before a one-digit day), then parses
_PYTHON_DATE_FORMS = {
    "%Y-%m-%d": "^[0-9]{4}-(?:1[0-2]|0[1-9]|[1-9])-(?:3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])$",
}


def _python_search(col: str, regex: str, where: str) -> str:
    """`re.search(regex, value)`: a final `$` also matches before a trailing newline."""
    if "$" in regex[:-1]:
        raise SuiteError(f"{where}: a regex may end with $ but not hold one elsewhere ({regex!r})")
    plain = f"regexp_matches({col}, {_lit(regex)})"
    if not regex.endswith("$"):
        return plain
    return f"({plain} OR (suffix({col}, chr(10)) AND regexp_matches(left({col}, length({col}) - 1), {_lit(regex)})))"


def _python_strptime(col: str, fmt: str, where: str) -> str:
    """`datetime.strptime(value, fmt)` succeeds: single-digit months and days pass,
    surrounding spaces, other digits than ASCII and year 0 do not."""
    form = _PYTHON_DATE_FORMS.get(fmt)
    if form is None:
        supported = ", ".join(_PYTHON_DATE_FORMS)
        raise SuiteError(f"{where}: strftime format {fmt!r} is not supported at ingest ({supported})")
    return (
        f"(regexp_full_match({col}, {_lit(form)}) AND NOT starts_with({col}, '0000') "
        f"AND try_strptime(replace({col}, ' ', '0'), {_lit(fmt)}) IS NOT NULL)"
    )


def failing_predicate(rule: Rule) -> str:
    """SQL that is TRUE for a row that fails this row-scope rule."""
    k, t = rule.kwargs, rule.type
    where = f"expectation #{rule.index + 1} ({t})"
    cond = _row_condition(k, where)
    if t == "expect_column_values_to_not_be_null":
        fails = f"{_q(k['column'])} IS NULL"
    elif t == "expect_column_values_to_be_in_set":
        values = ", ".join(_lit(v) for v in k["value_set"])
        fails = f"{_q(k['column'])} IS NOT NULL AND {_q(k['column'])} NOT IN ({values})"
    elif t == "expect_column_values_to_match_regex":
        fails = f"{_q(k['column'])} IS NOT NULL AND NOT {_python_search(_q(k['column']), k['regex'], where)}"
    elif t == "expect_column_values_to_match_strftime_format":
        fails = (
            f"{_q(k['column'])} IS NOT NULL AND NOT {_python_strptime(_q(k['column']), k['strftime_format'], where)}"
        )
    elif t == "expect_column_value_lengths_to_be_between":
        col = _q(k["column"])
        fails = f"{col} IS NOT NULL AND {_outside(f'length({col})', k)}"
    elif t == "expect_column_values_to_be_between":
        col = _q(k["column"])
        fails = f"{col} IS NOT NULL AND {_outside(col, k)}"
    elif t in ("expect_column_pair_values_a_to_be_greater_than_b", "expect_column_pair_values_to_be_equal"):
        a, b = _q(k["column_A"]), _q(k["column_B"])
        ignore = k.get("ignore_row_if", "both_values_are_missing")
        skip = {
            "either_value_is_missing": f"({a} IS NULL OR {b} IS NULL)",
            "both_values_are_missing": f"({a} IS NULL AND {b} IS NULL)",
            "neither": "FALSE",
        }.get(ignore)
        if skip is None:
            raise SuiteError(f"{where}: ignore_row_if {ignore!r} is not supported")
        op = "=" if t == "expect_column_pair_values_to_be_equal" else ">=" if k.get("or_equal") else ">"
        fails = f"NOT {skip} AND NOT coalesce({a} {op} {b}, FALSE)"
    else:
        raise SuiteError(f"{where}: expectation type {t} is not supported at ingest (see docs/ingest.md)")
    return f"({cond}) AND ({fails})"


def row_failures_sql(rules: list[Rule], relation: str) -> str:
    """(source_file, source_row, rule_index) for every failing row and rule."""
    parts = [
        f"SELECT source_file, source_row, {r.index} AS rule_index FROM {relation} WHERE {failing_predicate(r)}"
        for r in rules
        if r.scope == "row"
    ]
    return "\nUNION ALL\n".join(parts) if parts else "SELECT NULL, NULL, NULL WHERE FALSE"


def partition_failures_sql(rules: list[Rule], relation: str) -> str:
    """Partition-scope rules: a row whose natural key repeats an earlier row's fails
    (the first occurrence, in file and row order, is kept)."""
    parts = []
    for r in rules:
        if r.scope != "partition":
            continue
        if r.type != "expect_compound_columns_to_be_unique":
            raise SuiteError(f"expectation #{r.index + 1} ({r.type}) is not supported with scope 'partition'")
        cols = ", ".join(_q(c) for c in r.kwargs["column_list"])
        all_null = " AND ".join(f"{_q(c)} IS NULL" for c in r.kwargs["column_list"])
        parts.append(
            f"SELECT source_file, source_row, {r.index} AS rule_index FROM ("
            f"SELECT source_file, source_row, row_number() OVER (PARTITION BY {cols} "
            f"ORDER BY source_file, source_row) AS occurrence FROM {relation} WHERE NOT ({all_null})"
            f") WHERE occurrence > 1"
        )
    return "\nUNION ALL\n".join(parts) if parts else "SELECT NULL, NULL, NULL WHERE FALSE"
