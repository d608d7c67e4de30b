"""Columns derived at ingest so date-sanity rules can be written in the suite.

The suites compare ISO dates as text (which orders correctly) and numbers with
`expect_column_values_to_be_between`; these columns give them the bounds: the
school or fiscal year a record belongs to, and ages; and what the row's file path
says its collection, year, institution and term are. They are computed once, in
SQL, over the staged rows; both contract engines read them; nothing derived is
stored in the warehouse.
"""

from __future__ import annotations

import csv
from functools import cache

_DATE = "try_strptime({col}, '%Y-%m-%d')"
CALENDAR_SEED = "msds_collection_calendar.csv"


class CalendarError(ValueError):
    """The collection calendar seed cannot bound the years a feed may report."""


@cache
def calendar_last_day() -> str:
    """The last day (June 30) of the last school year in seeds/msds_collection_calendar.csv:
    no fiscal year may end after it. The state adds a school year's row before its first
    collection, so the seed is the one place that says which years have begun; a file
    named FY2099 whose rows say FY2099 is quarantined instead of loading as the future."""
    from orchestration.lib.paths import SEEDS_DIR

    with (SEEDS_DIR / CALENDAR_SEED).open(newline="", encoding="utf-8") as handle:
        years = sorted({row["school_year"] for row in csv.DictReader(handle) if row.get("school_year")})
    if not years or not all(len(y) == 7 and y[:4].isdigit() for y in years):
        raise CalendarError(f"seeds/{CALENDAR_SEED} has no school year written YYYY-YY: add a row per collection")
    return f"{int(years[-1][:4]) + 1}-06-30"


def _age(birth: str, at: str) -> str:
    return f"floor(date_diff('day', {_DATE.format(col=birth)}, {at}) / 365.25)"


DERIVED = {
    "msds": {
        "_school_year_start": "case when regexp_full_match(school_year, '\\d{4}-\\d{2}') "
        "then substr(school_year, 1, 4) || '-07-01' end",
        "_school_year_end": "case when regexp_full_match(school_year, '\\d{4}-\\d{2}') "
        "then cast(cast(substr(school_year, 1, 4) as integer) + 1 as varchar) || '-06-30' end",
        "_age_at_school_year_start": _age(
            "date_of_birth", "try_strptime(substr(school_year, 1, 4) || '-09-01', '%Y-%m-%d')"
        ),
        "_age_grade_gap": _age("date_of_birth", "try_strptime(substr(school_year, 1, 4) || '-09-01', '%Y-%m-%d')")
        + " - (case when regexp_full_match(grade, '0\\d|1[0-2]') then cast(grade as integer) + 5 end)",
    },
    "ps_enrollment": {
        "_fiscal_year_start": "case when regexp_full_match(fiscal_year, '\\d{4}') "
        "then cast(cast(fiscal_year as integer) - 1 as varchar) || '-07-01' end",
        "_fiscal_year_end": "case when regexp_full_match(fiscal_year, '\\d{4}') then fiscal_year || '-06-30' end",
        "_age_at_reference_date": _age("birthdate", _DATE.format(col="term_start_date")),
    },
}
# a constant from the seed (in the SQL text, so suite_sha changes with it)
DERIVED["ps_enrollment"]["_calendar_last_day"] = f"'{calendar_last_day()}'"
DERIVED["ps_awards"] = dict(DERIVED["ps_enrollment"])
DERIVED["ps_awards"]["_age_at_reference_date"] = _age("birthdate", _DATE.format(col="award_date"))


@cache
def assessment_levels() -> str:
    """`'GENERAL:1', ...`: each assessment's performance levels from
    seeds/assessment_performance_levels.csv, as SQL (in the SQL text, so suite_sha changes
    with the seed)."""
    from orchestration.lib.paths import SEEDS_DIR

    with (SEEDS_DIR / "assessment_performance_levels.csv").open(newline="", encoding="utf-8") as handle:
        pairs = sorted({(r["assessment"], r["performance_level"]) for r in csv.DictReader(handle)})
    if not pairs:
        raise CalendarError("seeds/assessment_performance_levels.csv lists no level: add one per assessment and level")
    return ", ".join(f"'{a}:{level}'" for a, level in pairs)


def _from_file(pattern: str) -> str:
    """A part of the row's file path (`source_file`, named as in docs/feeds.md)."""
    return f"nullif(regexp_extract(source_file, '{pattern}', 1), '')"


# what the file's folder and name say the rows are: a FALL row in a spring file, a row
# of another year or institution, is quarantined ("... is not the ... its file is named
# for"), so a mislabelled delivery cannot pass for the collection it claims
DERIVED["msds"]["_file_school_year"] = _from_file("^msds/([0-9]{4}-[0-9]{2})/")
DERIVED["msds"]["_file_collection"] = f"upper({_from_file('/msds_(fall|spring|eoy|srm)_')})"
# assessment results: the school year bounds of MSDS, the window the file is named for, and
# whether a record is one coherent test event (scored, invalidated, or not tested with a reason)
DERIVED["assessment"] = {
    "_school_year_start": DERIVED["msds"]["_school_year_start"],
    "_school_year_end": DERIVED["msds"]["_school_year_end"],
    "_age_at_school_year_start": DERIVED["msds"]["_age_at_school_year_start"],
    "_calendar_last_day": f"'{calendar_last_day()}'",
    "_file_school_year": _from_file("^assessment/([0-9]{4}-[0-9]{2})/"),
    "_file_testing_window": f"upper({_from_file('/assessment_(fall|spring)_')})",
    "_result_form": "case when scale_score is not null and performance_level is not null "
    "and not_tested_reason is null then 'scored' "
    "when scale_score is null and performance_level is null and validity is null "
    "and not_tested_reason is not null then 'not_tested' "
    # an invalidated test the vendor sends without its score: still one test event
    "when scale_score is null and performance_level is null and validity is not null "
    "and not_tested_reason is null then 'invalidated_unscored' else 'incoherent' end",
    "_level_fits_assessment": "case when assessment is null or performance_level is null then null "
    f"when assessment || ':' || performance_level in ({assessment_levels()}) then 'yes' else 'no' end",
}
for _feed in ("ps_enrollment", "ps_awards"):
    DERIVED[_feed]["_file_fiscal_year"] = _from_file("/FY([0-9]{4})/")
    DERIVED[_feed]["_file_institution_code"] = _from_file("_([0-9]{7})_FY[0-9]{4}")
DERIVED["ps_enrollment"]["_file_term_season"] = _from_file("_FY[0-9]{4}_(SU|FA|WI|SP)[.]")


# the delivered columns each derived column is computed from: a rule failing on a
# derived column puts those in doubt (ingest withholds them from the warehouse copy of a
# quarantined row); the `_file_*` columns come from the path, not from the row
DERIVED_FROM = {
    "msds": {
        "_school_year_start": ("school_year",),
        "_school_year_end": ("school_year",),
        "_age_at_school_year_start": ("date_of_birth", "school_year"),
        "_age_grade_gap": ("date_of_birth", "school_year", "grade"),
    },
    "assessment": {
        "_school_year_start": ("school_year",),
        "_school_year_end": ("school_year",),
        "_age_at_school_year_start": ("date_of_birth", "school_year"),
        "_calendar_last_day": (),
        "_result_form": ("scale_score", "performance_level", "validity", "not_tested_reason"),
        "_level_fits_assessment": ("assessment", "performance_level"),
    },
    "ps_enrollment": {
        "_fiscal_year_start": ("fiscal_year",),
        "_fiscal_year_end": ("fiscal_year",),
        "_age_at_reference_date": ("birthdate", "term_start_date"),
        "_calendar_last_day": (),  # from the seed, not the row
    },
    "ps_awards": {
        "_fiscal_year_start": ("fiscal_year",),
        "_fiscal_year_end": ("fiscal_year",),
        "_age_at_reference_date": ("birthdate", "award_date"),
        "_calendar_last_day": (),
    },
}


def source_columns(feed: str, column: str) -> tuple[str, ...]:
    """The delivered columns behind `column` (itself, unless it is derived)."""
    if not column.startswith("_"):
        return (column,)
    if column.startswith("_file_"):
        return ()
    return DERIVED_FROM[feed][column]  # KeyError: a derived column without its sources written down


def derived_select(feed: str) -> str:
    """`*, <expr> as _name, ...` for a SELECT over the staged rows."""
    return ", ".join(["*"] + [f"{expr} as {name}" for name, expr in DERIVED[feed].items()])
