"""The MSDS code lists of seeds/code_sets.csv are the real ones (with their sources), and
every code flows end to end: a landing file may carry any code of any list without being
quarantined, a code outside the list is quarantined naming its column and code set, and
the synthetic generator emits every code of every list."""

import csv
import io

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.load import ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition
from orchestration.lib.reference import code_sets, column_names, feed_layout, read_seed

pytestmark = pytest.mark.integration

SCHOOL_YEAR = "2021-22"
START = 2021
# the columns whose value is a code of an MSDS list, and the list
CODED = {c.name: c.code_set for c in feed_layout("msds") if c.code_set.startswith("msds_")}
FILES = {
    "FALL": f"msds/{SCHOOL_YEAR}/msds_fall_{SCHOOL_YEAR}.csv",
    "SPRING": f"msds/{SCHOOL_YEAR}/msds_spring_{SCHOOL_YEAR}.csv",
    "EOY": f"msds/{SCHOOL_YEAR}/msds_eoy_{SCHOOL_YEAR}.csv",
    "SRM": f"msds/{SCHOOL_YEAR}/msds_srm_{SCHOOL_YEAR}_01.csv",
}
# the age (on September 1) that fits a grade code outside 00-12
AGE_FOR_GRADE = {"14": 10, "20": 19, "30": 3}


def base_row(uic: int) -> dict[str, str]:
    """A clean grade-4 FALL record of a resident student, every optional column blank."""
    row = dict.fromkeys(column_names("msds"), "")
    row.update(
        school_year=SCHOOL_YEAR,
        collection="FALL",
        submitting_entity="01001",
        uic=str(uic),
        last_name="Lee",
        first_name="Ana",
        date_of_birth=f"{START - 10}-10-15",  # age 9 on September 1: grade 4
        gender="F",
        district_code="01001",
        building_code="10001",
        grade="04",
        residency_code="14",
        fte="1.00",
        enrollment_date=f"{START}-08-30",
        race_ethnicity="000010",
        nutrition_eligibility="00",
        direct_certification="N",
        migrant="N",
        nighttime_residence="00",
    )
    return row


def with_code(row: dict[str, str], column: str, code: str) -> dict[str, str]:
    """`row` carrying `code` in `column`, with the companion values a real record has."""
    row = dict(row, **{column: code})
    if column == "grade":
        age = int(code) + 5 if code <= "12" else AGE_FOR_GRADE[code]
        row["date_of_birth"] = f"{START - age - 1}-10-15"
    elif column == "collection" and code == "SRM":
        row.update(as_of_date=f"{START}-10-10", certification_date=f"{START}-10-20")
    elif column == "exit_status":
        row["exit_date"] = f"{START}-10-15"
    elif column == "sped_exit_reason":
        row.update(primary_disability="12", sped_exit_date=f"{START}-10-15")
    elif column == "lep_exit_reason":
        row.update(lep_program=next(iter(code_sets()["msds_lep_program"])), lep_exit_date=f"{START}-10-15")
    return row


def every_code_rows() -> list[dict[str, str]]:
    rows, uic = [], 1_000_000_000
    sets = code_sets()
    for column, code_set in CODED.items():
        for code in sets[code_set]:
            uic += 1
            rows.append(with_code(base_row(uic), column, code))
    return rows


def ingest(tmp_path, rows: list[dict[str, str]]):
    """Write `rows` to the landing files of their collections and ingest each (a partition a
    file); the reports, one per file."""
    landing = tmp_path / "landing"
    by_file: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_file.setdefault(FILES[row["collection"]], []).append(row)
    for rel, members in by_file.items():
        path = landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=column_names("msds"), lineterminator="\n")
        writer.writeheader()
        writer.writerows(members)
        path.write_text(buf.getvalue(), encoding="utf-8")
    return [
        ingest_partition("msds", key, files, paths.warehouse_path(), paths.vault_path(), paths.validation_dir())
        for key, files in sorted(group_by_partition(discover(landing, "msds")).items())
    ]


def test_every_code_of_every_msds_list_loads(sleds_home, tmp_path):
    rows = every_code_rows()
    assert len(rows) == sum(len(code_sets()[s]) for s in CODED.values())
    reports = ingest(tmp_path, rows)
    assert len(reports) == len(FILES) and all(r.balanced for r in reports)
    assert sum(r.rows_read for r in reports) == len(rows)
    assert sum(r.rows_quarantined for r in reports) == 0, [r.failures_by_rule for r in reports]
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as wh:
        loaded = {
            column: {
                v
                for (v,) in wh.execute(f"select distinct {column} from raw.msds where {column} is not null").fetchall()
            }
            for column in CODED
        }
    for column, code_set in CODED.items():
        assert set(code_sets()[code_set]) <= loaded[column], (
            column,
            sorted(set(code_sets()[code_set]) - loaded[column]),
        )


@pytest.mark.parametrize(
    "column,code",
    [
        ("nighttime_residence", "99"),  # no such code
        ("nighttime_residence", "02"),  # the old invented "doubled up"; MSDS says 13
        ("lep_program", "01"),  # the old invented "ESL"; MSDS says 09
        ("residency_code", "99"),
    ],
)
def test_a_code_outside_the_list_is_quarantined_naming_its_column_and_list(sleds_home, tmp_path, column, code):
    assert code not in code_sets()[CODED[column]]
    rows = [base_row(1_000_000_001), with_code(base_row(1_000_000_002), column, code), base_row(1_000_000_003)]
    (report,) = ingest(tmp_path, rows)
    assert report.rows_read == 3 and report.rows_quarantined == 1, report.failures_by_rule
    rule = f"{column} is not a code of {CODED[column]}"
    assert any(rule in r for r in report.failures_by_rule), report.failures_by_rule
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as wh:
        assert wh.execute("select source_row from raw.msds_quarantine").fetchall() == [(2,)]
        reasons = [r for (r,) in wh.execute("select rule from ingest.quarantine_reasons").fetchall()]
    assert any(rule in r for r in reasons), reasons


def test_the_generator_emits_every_code_of_every_msds_list(tiny_feeds):
    names = column_names("msds")
    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in names) + "}"
    con = duckdb.connect()  # in memory
    con.execute(
        f"create table msds as select * from read_csv('{tiny_feeds}/landing/msds/**/*.csv', header=true, "
        f"columns={cols}, auto_detect=false)"
    )
    sets = code_sets()
    for column, code_set in CODED.items():
        seen = {v for (v,) in con.execute(f"select distinct {column} from msds where {column} is not null").fetchall()}
        missing = sorted(set(sets[code_set]) - seen)
        assert not missing, f"tiny data set: {column} never carries {missing} of {code_set}"
    # the rare codes stay rare: nearly every student is a resident with no rare status
    resident, total = con.execute("select count(*) filter (where residency_code = '14'), count(*) from msds").fetchone()
    assert resident / total > 0.9


def test_msds_lists_cite_their_source_and_none_is_invented():
    for row in read_seed("code_sets"):
        if row["code_set"].startswith("msds_"):
            assert row["source"].strip(), row
            assert "synthetic" not in row["source"].lower() and "representative" not in row["source"].lower(), row
    for row in read_seed("msds_code_roles"):
        assert "synthetic" not in row["source"].lower() and "representative" not in row["source"].lower(), row


def test_known_real_codes_are_present_and_invented_ones_gone():
    sets = code_sets()
    assert sets["msds_lep_program"]["09"].startswith("English As a Second Language")
    assert sets["msds_nighttime_residence"]["11"] == "Transitional Housing"
    assert {"10", "11", "12", "13"} <= set(sets["msds_nighttime_residence"])
    assert {"01", "02", "03", "04"}.isdisjoint(sets["msds_nighttime_residence"])
    assert {"01", "02", "03"}.isdisjoint(sets["msds_lep_program"])
