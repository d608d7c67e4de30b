"""The bad-input corpus: every case ends in the expected quarantine reason or the
expected clear error, and no row is ever lost (read = loaded + quarantined)."""

import csv
import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.lib import paths
from orchestration.lib.contracts.recheck import recheck_feed
from orchestration.lib.ingest.landing import LandingError, discover
from orchestration.lib.ingest.load import ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition
from orchestration.lib.reference import column_names

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def templates(tiny_feeds):
    """One clean row per feed, as dicts, from the generated tiny data."""
    out = {}
    for feed, pattern in (
        ("msds", "msds/*/msds_fall_*.csv"),
        ("assessment", "assessment/*/assessment_fall_*.csv"),
        ("ps_enrollment", "ps_enrollment/*/*_FA.csv"),
        ("ps_awards", "ps_awards/*/*.csv"),
    ):
        truth = duckdb.sql(
            f"select file, row_number from '{tiny_feeds}/ground_truth/{feed}.parquet' where defect is null"
        ).fetchall()
        clean = set(truth)
        for path in sorted((tiny_feeds / "landing").glob(pattern)):
            rel = path.relative_to(tiny_feeds / "landing").as_posix()
            rows = list(csv.DictReader(path.open(encoding="utf-8")))
            good = [
                r
                for i, r in enumerate(rows, 1)
                if (rel, i) in clean
                and all(v != "" for k, v in r.items() if k in ("fiscal_year", "institution_code", "school_year"))
            ]
            if len(good) >= 3:
                out[feed] = good[:3]
                break
    return out


def file_for(feed, row):
    if feed == "msds":
        sy = row["school_year"]
        return f"msds/{sy}/msds_fall_{sy}.csv"
    if feed == "assessment":
        sy = row["school_year"]
        return f"assessment/{sy}/assessment_{row['testing_window'].lower()}_{sy}.csv"
    if feed == "ps_enrollment":
        fy = row["fiscal_year"]
        return f"ps_enrollment/FY{fy}/enrollment_{row['institution_code']}_FY{fy}_{row['term_season']}.csv"
    fy = row["fiscal_year"]
    return f"ps_awards/FY{fy}/awards_{row['institution_code']}_FY{fy}.csv"


def to_csv(feed, rows, columns=None):
    columns = columns or column_names(feed)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def run_case(tmp_path, feed, rows=None, raw=None, rel=None, parquet=None):
    landing = tmp_path / "landing"
    rel = rel or file_for(feed, rows[0])
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if parquet is not None:
        pq.write_table(parquet, path.with_suffix(".parquet"))
    elif raw is not None:
        path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    else:
        path.write_text(to_csv(feed, rows), encoding="utf-8")
    ((key, files),) = group_by_partition(discover(landing, feed)).items()
    return ingest_partition(feed, key, files, paths.warehouse_path(), paths.vault_path(), paths.validation_dir())


def mutate(template, **changes):
    rows = [dict(r) for r in template]
    rows[1].update(changes)
    return rows


# (case, feed, column changes on row 2, expected rule text)
ROW_CASES = [
    ("grade_not_a_code", "msds", {"grade": "16"}, "grade is not a code"),
    ("grade_na_on_unstarred", "msds", {"grade": "NA"}, "grade is not a code"),
    ("residency_unknown", "msds", {"residency_code": "99"}, "residency_code is not a code"),
    ("exit_status_unknown", "msds", {"exit_status": "77", "exit_date": "2030-06-01"}, "exit_status is not a code"),
    ("race_five_flags", "msds", {"race_ethnicity": "00100"}, "race_ethnicity is not six"),
    ("race_no_flag_set", "msds", {"race_ethnicity": "000000"}, "race_ethnicity is not six"),
    ("race_letters", "msds", {"race_ethnicity": "00a010"}, "race_ethnicity is not six"),
    ("uic_nine_digits", "msds", {"uic": "123456789"}, "uic is not 10 digits"),
    ("uic_letters", "msds", {"uic": "12345abcde"}, "uic is not 10 digits"),
    ("building_code_short", "msds", {"building_code": "123"}, "building_code is not 5 digits"),
    ("disability_unknown", "msds", {"primary_disability": "99"}, "primary_disability is not a code"),
    ("lep_exit_reason_unknown", "msds", {"lep_exit_reason": "49"}, "lep_exit_reason is not a code"),
    ("fte_above_one", "msds", {"fte": "1.50"}, "fte is not a number from 0 to 1"),
    ("fte_not_a_number", "msds", {"fte": "full"}, "fte is not a number from 0 to 1"),
    ("birthdate_impossible", "msds", {"date_of_birth": "2012-02-30"}, "date_of_birth is not a real date"),
    ("birthdate_wrong_format", "msds", {"date_of_birth": "03/04/2012"}, "date_of_birth is not a real date"),
    ("birthdate_in_future", "msds", {"date_of_birth": "2031-01-01"}, "date_of_birth"),
    ("birthdate_too_old_for_grade", "msds", {"date_of_birth": "1990-01-01"}, "date_of_birth does not fit the grade"),
    ("exit_before_enrollment", "msds", {"exit_date": "2000-01-01", "exit_status": "12"}, "exit_date is before"),
    # plausibility: no date after the school year the record belongs to
    ("exit_in_2099", "msds", {"exit_date": "2099-06-01", "exit_status": "12"}, "exit_date is after the school year"),
    ("enrolled_in_2099", "msds", {"enrollment_date": "2099-09-01"}, "enrollment_date is after the school year"),
    (
        "as_of_outside_school_year",
        "msds",
        {"as_of_date": "2001-10-10", "certification_date": "2001-10-11"},
        "as_of_date is before the school year",
    ),
    (
        "certified_before_as_of",
        "msds",
        {"as_of_date": "2021-10-10", "certification_date": "2021-10-01"},
        "certification_date is before as_of_date",
    ),
    ("missing_required_first_name", "msds", {"first_name": ""}, "first_name is required"),
    ("missing_required_grade", "msds", {"grade": ""}, "grade is required"),
    ("huge_name_field", "msds", {"last_name": "X" * 5000}, "last_name is longer than allowed"),
    ("flag_not_y_n", "msds", {"migrant": "yes"}, "migrant is not a code"),
    # assessment results: codes, and a test event that is one thing (scored, or not tested with a reason)
    ("subject_unknown", "assessment", {"subject": "XX"}, "subject is not a code"),
    ("window_not_the_file", "assessment", {"testing_window": "SPRING"}, "testing_window is not the window its file"),
    ("test_grade_ten", "assessment", {"test_grade": "10"}, "test_grade is not a code"),
    ("score_negative", "assessment", {"scale_score": "-5"}, "scale_score is not a whole number"),
    (
        "scored_and_not_tested",
        "assessment",
        {"scale_score": "450", "performance_level": "2", "not_tested_reason": "ABS"},
        "a test event has a scale score with its performance level, a not-tested reason",
    ),  # fmt: skip
    (
        "score_without_level",
        "assessment",
        {"scale_score": "450", "performance_level": "", "not_tested_reason": ""},
        "a test event has a scale score with its performance level, a not-tested reason",
    ),  # fmt: skip
    (
        "invalid_flag_on_not_tested",
        "assessment",
        {"scale_score": "", "performance_level": "", "validity": "PB", "not_tested_reason": "ABS"},
        "a test event has a scale score with its performance level, a not-tested reason",
    ),  # fmt: skip
    (
        "general_level_on_alternate",
        "assessment",
        {"assessment": "ALTERNATE", "scale_score": "2300", "performance_level": "4", "not_tested_reason": ""},
        "performance_level is not a level of its assessment",
    ),  # fmt: skip
    (
        "not_tested_reason_unknown",
        "assessment",
        {"scale_score": "", "performance_level": "", "not_tested_reason": "ZZ"},
        "not_tested_reason is not a code",
    ),  # fmt: skip
    ("term_season_unknown", "ps_enrollment", {"term_season": "XX"}, "term_season is not a code"),
    ("institution_code_six_digits", "ps_enrollment", {"institution_code": "123456"}, "institution_code is not 7"),
    ("cip_bad_format", "ps_enrollment", {"major_1_cip": "5.0101"}, "major_1_cip is not CIP"),
    ("na_on_unstarred_award_seeking", "ps_enrollment", {"award_seeking": "NA"}, "award_seeking is not a code"),
    ("act_out_of_range", "ps_enrollment", {"act_composite": "44"}, "act_composite is not an ACT score"),
    ("gpa_above_four", "ps_enrollment", {"term_gpa": "4.70"}, "term_gpa is not a GPA"),
    ("units_negative", "ps_enrollment", {"regular_units_attempted": "-3.0"}, "regular_units_attempted is not"),
    ("term_end_before_start", "ps_enrollment", {"term_end_date": "2000-01-01"}, "term_end_date is not after"),
    ("ssn_eight_digits", "ps_enrollment", {"ssn": "12345678"}, "ssn is not 9 digits"),
    ("gender_identity_unknown", "ps_enrollment", {"gender_identity_a": "Q"}, "gender_identity_a is not a code"),
    ("birthdate_impossible_ps", "ps_enrollment", {"birthdate": "2001-02-30"}, "birthdate is not a real date"),
    ("award_type_unknown", "ps_awards", {"award_type": "99"}, "award_type is not a code"),
    ("award_type_na_on_unstarred", "ps_awards", {"award_type": "NA"}, "award_type is not a code"),
    ("negative_debt", "ps_awards", {"cumulative_debt": "-500"}, "cumulative_debt is not whole dollars"),
    ("debt_with_cents_text", "ps_awards", {"cumulative_debt": "12,000"}, "cumulative_debt is not whole dollars"),
    ("award_date_outside_fiscal_year", "ps_awards", {"award_date": "1999-05-01"}, "award_date is before"),
    ("joint_award_bad_code", "ps_awards", {"joint_award_institution": "ABC"}, "joint_award_institution is not 7"),
    # characters the Python (GX) and SQL engines could read differently: they must agree
    (
        "uic_arabic_indic_digits",
        "msds",
        {"uic": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660"},
        "uic is not 10 digits",
    ),  # fmt: skip
    (
        "building_code_fullwidth_digits",
        "msds",
        {"building_code": "\uff11\uff12\uff13\uff14\uff15"},
        "building_code is not 5 digits",
    ),  # fmt: skip
    ("enrollment_date_padded", "msds", {"enrollment_date": " 2021-09-01"}, "enrollment_date is not a real date"),
    ("award_date_trailing_space", "ps_awards", {"award_date": "2019-05-01 "}, "award_date is not a real date"),
    ("award_date_unpadded", "ps_awards", {"award_date": "2019-5-1"}, "award_date is not written YYYY-MM-DD"),
    (
        "award_date_arabic_indic",
        "ps_awards",
        {"award_date": "\u0662\u0660\u0661\u0669-\u0660\u0665-\u0660\u0661"},
        "award_date is not written YYYY-MM-DD",
    ),  # fmt: skip
    ("uic_trailing_newline", "msds", {"uic": "1234567890\n"}, "uic"),
    # an identifier in a column that is not PII: quarantined, and the value never leaves the vault
    ("ssn_in_county_of_residence", "ps_enrollment", {"county_of_residence": "123-45-6789"}, "county_of_residence"),
    # ... and as bare digits in a numeric column, which a plain "whole number" rule let through
    ("ssn_digits_in_cumulative_debt", "ps_awards", {"cumulative_debt": "123456789"}, "cumulative_debt is not whole"),
    ("ssn_digits_in_accumulated_units", "ps_enrollment", {"accumulated_units": "123456789"}, "accumulated_units"),
]


def shifted(row: dict, feed: str) -> dict:
    """The row's values one column to the right under a correct header (a lost first cell)."""
    columns = column_names(feed)
    values = [row[c] for c in columns]
    return dict(zip(columns, ["", *values[:-1]], strict=True))


PII_SCANNED = {
    "uic",
    "last_name",
    "first_name",
    "ssn",
    "institution_student_number",
    "marss_number",
    "street_address",
}  # fmt: skip  (long enough not to occur by chance; dates and ZIPs could)


def pii_values(rows: list[dict]) -> set[str]:
    return {r[c].strip() for r in rows for c in PII_SCANNED if len((r.get(c) or "").strip()) >= 5}


def pii_outside_vault(home, values: set[str]) -> list[str]:
    """Every place under `home`, outside vault/, where one of `values` can be read: DuckDB
    and Parquet files through SQL (their strings are compressed), every other file as
    bytes (Dagster's SQLite storage, logs, validation results, reports, CSVs)."""
    hits = []
    scan = duckdb.connect()
    scan.execute("CREATE TABLE vals (v VARCHAR)")
    scan.executemany("INSERT INTO vals VALUES (?)", [(v,) for v in sorted(values)])
    for path in sorted(p for p in home.rglob("*") if p.is_file() and "vault" not in p.relative_to(home).parts):
        if path.suffix == ".duckdb":
            scan.execute("ATTACH ? AS f (READ_ONLY)", [str(path)])
            columns = scan.execute(
                "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE database_name = 'f' "
                "AND data_type = 'VARCHAR' AND schema_name <> 'reference'"  # seeds: public lists (first names)
            ).fetchall()
            for schema, table, column in columns:
                found = scan.execute(
                    f'SELECT DISTINCT v FROM f."{schema}"."{table}" t JOIN vals ON contains(t."{column}", v)'
                ).fetchall()
                hits += [f"{path.relative_to(home)} {schema}.{table}.{column}: {v}" for (v,) in found]
            scan.execute("DETACH f")
        elif path.suffix == ".parquet":
            found = scan.execute(
                "SELECT DISTINCT v FROM (SELECT CAST(COLUMNS(*) AS VARCHAR) FROM read_parquet(?)) t, vals "
                "WHERE contains(CAST(t AS VARCHAR), v)",
                [str(path)],
            ).fetchall()
            hits += [f"{path.relative_to(home)}: {v}" for (v,) in found]
        else:
            data = path.read_bytes()
            hits += [f"{path.relative_to(home)}: {v}" for v in values if v.encode() in data]
    return hits


@pytest.mark.parametrize("case,feed,changes,rule", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_level_case_is_quarantined_for_its_reason(templates, sleds_home, tmp_path, case, feed, changes, rule):
    report = run_case(tmp_path, feed, mutate(templates[feed], **changes))
    assert report.rows_read == 3 and report.balanced
    assert report.rows_quarantined == 1, report.failures_by_rule
    assert any(rule in r for r in report.failures_by_rule), report.failures_by_rule
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    assert wh.execute(f"select source_row from raw.{feed}_quarantine").fetchall() == [(2,)]
    reasons = [r for (r,) in wh.execute("select rule from ingest.quarantine_reasons").fetchall()]
    assert any(rule in r for r in reasons)


def test_an_invalidated_test_sent_without_its_score_loads_as_one_test_event(templates, sleds_home, tmp_path):
    """A vendor may drop the score of an invalidated test: a validity code alone is still one
    coherent test event (counted as not tested downstream), not a quarantined row."""
    rows = mutate(templates["assessment"], scale_score="", performance_level="", validity="PB", not_tested_reason="")
    report = run_case(tmp_path, "assessment", rows)
    assert report.rows_read == 3 and report.rows_quarantined == 0 and report.balanced, report.failures_by_rule


def test_values_of_a_quarantined_row_whose_layout_is_in_doubt_stay_in_the_vault(templates, sleds_home, tmp_path):
    """Columns shifted under a correct header, and an SSN where a county code belongs:
    quarantined with the right reasons, and the warehouse holds the row's token and
    reasons, never its doubtful values; the vault keeps the row as delivered."""
    rows = [dict(r) for r in templates["ps_enrollment"]]
    rows[1] = shifted(rows[1], "ps_enrollment")
    rows[2]["county_of_residence"] = "987-65-4321"
    # a birthdate where the term start belongs: a valid date, failing only a date-order rule
    swapped = dict(rows[0], institution_student_number="S900000001", term_start_date=rows[0]["birthdate"])
    rows.append(swapped)
    report = run_case(tmp_path, "ps_enrollment", rows)
    assert (report.rows_read, report.rows_quarantined) == (4, 3) and report.balanced, report.failures_by_rule
    assert any("county_of_residence" in r for r in report.failures_by_rule)
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    reasons = wh.execute(
        "select source_row, count(*), count(value) from ingest.quarantine_reasons group by 1"
    ).fetchall()
    assert sorted(r[0] for r in reasons) == [2, 3, 4] and all(n > 0 and with_value == 0 for _, n, with_value in reasons)
    values = pii_values(templates["ps_enrollment"]) | {"987-65-4321"}
    wh.close()
    assert pii_outside_vault(sleds_home, values) == []
    # the shifted row is withheld whole; the SSN row only in the column that failed
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    shifted_row = wh.execute("select * exclude (partition_key, batch_id, record_token, source_file, source_row) "
                             "from raw.ps_enrollment_quarantine where source_row = 2").fetchone()  # fmt: skip
    assert set(shifted_row) == {None}
    county, institution = wh.execute(
        "select county_of_residence, institution_code from raw.ps_enrollment_quarantine where source_row = 3"
    ).fetchone()
    assert county is None and institution == rows[2]["institution_code"]
    term_start = wh.execute("select term_start_date from raw.ps_enrollment_quarantine where source_row = 4").fetchone()
    assert term_start == (None,)  # the birthdate it held stays in the vault
    wh.close()
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    assert vault.execute(
        "select county_of_residence from landing.ps_enrollment_quarantine where source_row = 3"
    ).fetchone() == ("987-65-4321",)


def test_not_applicable_is_accepted_on_starred_elements(templates, sleds_home, tmp_path):
    rows = mutate(
        templates["ps_enrollment"],
        ssn="NA",
        act_composite="NA",
        gender_identity_a="NA",
        birthdate="NA",
        hs_gpa="NA",
        sex="NA",
    )
    report = run_case(tmp_path, "ps_enrollment", rows)
    assert report.rows_quarantined == 0, report.failures_by_rule


def test_duplicate_key_keeps_the_first_row(templates, sleds_home, tmp_path):
    rows = [dict(r) for r in templates["ps_awards"]] + [dict(templates["ps_awards"][0])]
    report = run_case(tmp_path, "ps_awards", rows)
    assert report.rows_quarantined == 1 and any("duplicate natural key" in r for r in report.failures_by_rule)
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    assert wh.execute("select source_row from raw.ps_awards_quarantine").fetchall() == [(4,)]


def header(feed):
    return ",".join(column_names(feed))


# (case, feed, builder(template rows) -> raw bytes or ("parquet", table), expected error text)
FILE_CASES = [
    ("empty_file", "ps_awards", lambda t: b"", "empty"),
    ("header_only_is_fine_but_no_rows", "ps_awards", None, None),
    ("semicolon_delimited", "ps_awards", lambda t: to_csv("ps_awards", t).replace(",", ";").encode(), "not commas"),
    ("tab_delimited", "ps_awards", lambda t: to_csv("ps_awards", t).replace(",", "\t").encode(), "not commas"),
    (
        "missing_column",
        "ps_awards",
        lambda t: to_csv("ps_awards", t, column_names("ps_awards")[:-1]).encode(),
        "missing ['cumulative_debt']",
    ),
    (
        "extra_column",
        "ps_awards",
        lambda t: to_csv("ps_awards", [dict(r, extra="1") for r in t], column_names("ps_awards") + ["extra"]).encode(),
        "unexpected ['extra']",
    ),
    (
        "no_header_row",  # the first record is read as the header: its values must not be quoted
        "ps_awards",
        lambda t: to_csv("ps_awards", t).split("\n", 1)[1].encode(),
        "is the header row missing?",
    ),
    (
        "columns_reordered",
        "ps_awards",
        lambda t: to_csv("ps_awards", t, list(reversed(column_names("ps_awards")))).encode(),
        "different order",
    ),
    (
        "latin1_encoding",
        "ps_awards",
        lambda t: to_csv("ps_awards", [dict(t[0], state_of_residence="Mé")] + t[1:]).encode("latin-1"),
        "UTF-8",
    ),
    ("truncated_last_row", "ps_awards", lambda t: to_csv("ps_awards", t).encode()[:-40], "cannot be read"),
    (
        "ragged_row",
        "ps_awards",
        # the ragged row carries a surname: the error must not quote it
        lambda t: (to_csv("ps_awards", t) + f"2022,1000214,{t[-1]['last_name']},three\n").encode(),
        "Expected 33 columns, got 4",
    ),
    ("binary_garbage", "ps_awards", lambda t: bytes(range(256)) * 20, "not a CSV text file"),
    (
        "parquet_wrong_types",
        "ps_awards",
        lambda t: (
            "parquet",
            pa.table(
                {
                    c: pa.array([1] * 3, pa.int64()) if c == "fiscal_year" else pa.array([r[c] for r in t], pa.string())
                    for c in column_names("ps_awards")
                }
            ),
        ),
        "must be UTF-8 text",
    ),
    (
        "parquet_missing_column",
        "ps_awards",
        lambda t: (
            "parquet",
            pa.table({c: pa.array([r[c] for r in t], pa.string()) for c in column_names("ps_awards")[1:]}),
        ),
        "missing ['fiscal_year']",
    ),
]


@pytest.mark.parametrize("case,feed,build,error", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unreadable_file_fails_the_partition_and_loads_nothing(
    templates, sleds_home, tmp_path, case, feed, build, error
):
    t = templates[feed]
    rel = file_for(feed, t[0])
    if build is None:  # a header with no rows is a valid, empty delivery
        report = run_case(tmp_path, feed, raw=header(feed) + "\n", rel=rel)
        assert (report.rows_read, report.rows_loaded) == (0, 0)
        return
    built = build(t)
    with pytest.raises(LandingError) as info:
        if isinstance(built, tuple):
            run_case(tmp_path, feed, rel=rel, parquet=built[1])
        else:
            run_case(tmp_path, feed, raw=built, rel=rel)
    assert error in str(info.value)
    assert rel.rsplit(".", 1)[0] in str(info.value)  # the message names the file
    # ... and never quotes row content (it reaches logs; a row may hold PII)
    assert t[0]["last_name"] not in str(info.value) and t[-1]["last_name"] not in str(info.value)
    wh = paths.warehouse_path()
    if wh.exists():
        con = duckdb.connect(str(wh), read_only=True)
        loaded = con.execute("select count(*) from duckdb_tables() where table_name = 'ps_awards'").fetchone()[0]
        assert not loaded or con.execute("select count(*) from raw.ps_awards").fetchone()[0] == 0


def test_corpus_has_at_least_forty_cases():
    assert len(ROW_CASES) + len(FILE_CASES) + 2 >= 40


def test_great_expectations_agrees_with_the_sql_engine_on_the_corpus(templates, sleds_home, tmp_path):
    """All row cases in one partition per feed, then GX re-checks every row."""
    for feed in ("msds", "assessment", "ps_enrollment", "ps_awards"):
        rows = [dict(r) for r in templates[feed]]  # clean rows first: they name the file
        for _, f, changes, _ in ROW_CASES:
            if f == feed:
                rows += mutate(templates[feed], **changes)[1:2]
        report = run_case(tmp_path / feed, feed, rows)
        assert report.rows_quarantined >= len([c for c in ROW_CASES if c[1] == feed])
        check = recheck_feed(feed, paths.warehouse_path(), paths.vault_path())
        assert check.rows_checked == len(rows)
        assert check.agree, (check.only_gx, check.only_sql)
        assert check.gx_failures > 0
        assert json.dumps(check.statistics)


def test_no_feed_pii_outside_the_vault_after_builds_of_the_corpus(templates, sleds_home, tmp_path):
    """Every row case of the corpus, a shifted row and a file without its header row,
    through the product's own build (Dagster runs, dbt, releases, logs): afterwards no
    name, SSN, UIC or student number of those rows can be read anywhere under
    SLEDS_HOME outside the vault, Dagster's storage included."""
    from orchestration import runner

    landing = tmp_path / "landing"
    everything: list[dict] = []
    for feed in ("msds", "assessment", "ps_enrollment", "ps_awards"):
        rows = [dict(r) for r in templates[feed]]
        rows += [mutate(templates[feed], **changes)[1] for _, f, changes, _ in ROW_CASES if f == feed]
        everything += rows  # the shifted row below carries the same people, in the wrong columns
        rows.append(shifted(templates[feed][1], feed))
        path = landing / file_for(feed, rows[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_csv(feed, rows), encoding="utf-8")
    lines: list[str] = []
    first = runner.build(landing, emit=lines.append)
    assert first.success, "\n".join(lines[-30:])
    # then a delivery without its header row: the partition fails, and says so without quoting it
    t = templates["ps_awards"]
    late = landing / file_for("ps_awards", t[0]).replace(f"FY{t[0]['fiscal_year']}", "FY2031").replace(
        f"_FY{t[0]['fiscal_year']}", "_FY2031"
    )
    late.parent.mkdir(parents=True, exist_ok=True)
    late.write_text(to_csv("ps_awards", t).split("\n", 1)[1], encoding="utf-8")
    second = runner.build(landing, emit=lines.append)
    assert not second.success and "header row missing" in second.message + "\n".join(lines)
    values = pii_values(everything)
    assert len(values) > 25
    assert pii_outside_vault(sleds_home, values) == []
    assert (sleds_home / "dagster").is_dir()  # the scan did cover Dagster's storage


# (case, feed, file path to write the template rows into instead of their own, expected rule)
MISLABELLED_CASES = [
    ("fall_rows_in_a_spring_file", "msds", lambda r: f"msds/{r['school_year']}/msds_spring_{r['school_year']}.csv",
     "collection is not the collection its file is named for"),
    ("rows_of_another_school_year", "msds", lambda r: "msds/2030-31/msds_fall_2030-31.csv",
     "school_year is not the school year its file is named for"),
    ("rows_of_another_fiscal_year", "ps_awards",
     lambda r: f"ps_awards/FY2031/awards_{r['institution_code']}_FY2031.csv",
     "fiscal_year is not the fiscal year its file is named for"),
    ("rows_of_another_institution", "ps_awards",
     lambda r: f"ps_awards/FY{r['fiscal_year']}/awards_9999999_FY{r['fiscal_year']}.csv",
     "institution_code is not the institution its file is named for"),
    ("rows_of_another_term", "ps_enrollment",
     lambda r: f"ps_enrollment/FY{r['fiscal_year']}/enrollment_{r['institution_code']}_FY{r['fiscal_year']}_SP.csv",
     "term_season is not the term its file is named for"),
]  # fmt: skip


@pytest.mark.parametrize("case,feed,path,rule", MISLABELLED_CASES, ids=[c[0] for c in MISLABELLED_CASES])
def test_rows_that_are_not_what_their_file_says_are_quarantined(templates, sleds_home, tmp_path, case, feed, path,
                                                               rule):  # fmt: skip
    rows = templates[feed]
    report = run_case(tmp_path, feed, rows, rel=path(rows[0]))
    assert report.rows_read == 3 and report.rows_quarantined == 3 and report.balanced, report.failures_by_rule
    assert report.failures_by_rule.get(rule) == 3, report.failures_by_rule


def _in_year(row: dict, fiscal_year: int) -> dict:
    """The row moved whole to another fiscal year: its dates (birthdate too) by as many years."""
    shift = fiscal_year - int(row["fiscal_year"])
    moved = dict(row, fiscal_year=str(fiscal_year))
    for column in ("term_start_date", "term_end_date", "award_date", "birthdate"):
        if moved.get(column) and moved[column][:4].isdigit():
            moved[column] = f"{int(moved[column][:4]) + shift}{moved[column][4:]}"
    return moved


@pytest.mark.parametrize("feed", ["ps_enrollment", "ps_awards"])
def test_a_fiscal_year_beyond_the_calendar_is_quarantined_though_its_file_agrees(templates, sleds_home, tmp_path, feed):
    """A file named FY2099 whose rows say FY2099, every date consistent with it: the only fault
    is that the year has not begun (seeds/msds_collection_calendar.csv ends with 2026-27)."""
    from orchestration.lib.contracts.derived import calendar_last_day

    rule = "fiscal_year is after the last school year of seeds/msds_collection_calendar.csv"
    rows = [_in_year(r, 2099) for r in templates[feed]]
    report = run_case(tmp_path, feed, rows)
    assert report.rows_read == 3 and report.rows_quarantined == 3 and report.balanced
    assert report.failures_by_rule == {rule: 3}, report.failures_by_rule
    # the last fiscal year the calendar has begun loads
    last = int(calendar_last_day()[:4])
    ok = run_case(tmp_path / "last", feed, [_in_year(r, last) for r in templates[feed]])
    assert ok.rows_quarantined == 0, ok.failures_by_rule
