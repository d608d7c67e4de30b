"""The synthetic feed generator: deterministic, complete, realistic enough to
exercise every domain rule and every linkage difficulty, with ground truth."""

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.generate.run import generate
from orchestration.lib.reference import FEEDS, NOT_APPLICABLE, code_sets, feed_layout


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "generation.json":
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def feed_sql(out: Path, feed: str) -> str:
    names = [c.name for c in feed_layout(feed)]
    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in names) + "}"
    return f"read_csv('{out}/landing/{feed}/**/*.csv', header=true, columns={cols}, auto_detect=false, filename=true)"


@pytest.fixture(scope="module")
def con(demo_feeds):
    out = demo_feeds
    # one thread: the CSV scan runs in file order, so a table's rowid is the file order; the
    # row number within a file counts in rowid order (a window without ORDER BY has no order)
    c = duckdb.connect(config={"threads": 1})
    for feed in FEEDS:
        c.execute(f"create table {feed} as select * from {feed_sql(demo_feeds, feed)}")
        c.execute(
            f"create table truth_{feed} as select * from read_parquet('{demo_feeds}/ground_truth/{feed}.parquet')"
        )
        # each feed row with its true person and injected defect (file + row number)
        c.execute(f"""create table {feed}_t as
            select f.* exclude (file, rn, filename), t.person_id, t.defect from
              (select *, replace(filename, '{out}/landing/', '') as file,
                      row_number() over (partition by filename order by rowid) as rn from {feed}) f
            join truth_{feed} t on f.file = t.file and f.rn = t.row_number""")
    return c


def q(con, sql):
    return con.execute(sql).fetchall()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate("tiny", 11, a)
    generate("tiny", 11, b)
    generate("tiny", 12, c)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_summary_counts_match_files_and_ground_truth(demo_feeds, con):
    summary = json.loads((demo_feeds / "generation.json").read_text())
    for feed, rows in summary["rows"].items():
        assert q(con, f"select count(*) from {feed}")[0][0] == rows
        assert q(con, f"select count(*) from truth_{feed}")[0][0] == rows
        assert q(con, f"select count(*) from {feed}_t")[0][0] == rows


@pytest.mark.parametrize("feed", FEEDS)
def test_codes_required_values_and_not_applicable_follow_the_layout(con, feed):
    """Outside the deliberately injected defects, every value obeys the layout."""
    sets = code_sets()
    for c in feed_layout(feed):
        clean = f"from {feed}_t where defect is null"
        if c.code_set:
            allowed = set(sets[c.code_set]) | ({NOT_APPLICABLE} if c.not_applicable_allowed else set())
            seen = {r[0] for r in q(con, f"select distinct {c.name} {clean} and {c.name} is not null")}
            assert seen <= allowed, f"{feed}.{c.name}: {sorted(seen - allowed)[:5]}"
        if c.required:
            assert q(con, f"select count(*) {clean} and {c.name} is null")[0][0] == 0, c.name
        if not c.not_applicable_allowed:
            assert q(con, f"select count(*) {clean} and {c.name} = 'NA'")[0][0] == 0, c.name


def test_msds_covers_the_domain_cases(con):
    grades = {r[0] for r in q(con, "select distinct grade from msds_t where defect is null")}
    assert {"14", "20", "30", "00", "12"} <= grades
    residency = {r[0] for r in q(con, "select distinct residency_code from msds_t where defect is null")}
    assert residency == {"14", "04", "07", "08", "15"}
    statuses = {r[0] for r in q(con, "select distinct exit_status from msds where exit_status is not null")}
    assert {"01", "10", "11", "12", "14", "19"} <= statuses
    assert q(con, "select count(*) from msds where lep_exit_reason = '50'")[0][0] > 0
    assert q(con, "select count(*) from msds where lep_exit_reason in ('51','52','53')")[0][0] > 0
    assert q(con, "select count(*) from msds where sped_exit_date is not null")[0][0] > 0
    assert q(con, "select count(*) from msds where s2e2_building_code is not null")[0][0] > 0
    assert q(con, "select count(*) from msds where length(replace(race_ethnicity,'0','')) > 1")[0][0] > 0
    assert q(con, "select count(*) from msds where nighttime_residence <> '00'")[0][0] > 0
    assert q(con, "select count(*) from msds where migrant = 'Y'")[0][0] > 0
    # SRM: AS OF and certification dates, some outside the window or certified late
    srm = q(
        con,
        "select count(*), count(as_of_date), count(certification_date) from msds where collection = 'SRM'",
    )[0]
    assert srm[0] > 0 and srm[0] == srm[1] == srm[2]
    assert q(con, "select count(*) from msds where collection <> 'SRM' and as_of_date is not null")[0][0] == 0
    # students move between districts: one person, several districts in a year
    assert (
        q(
            con,
            """select count(*) from (select person_id from msds_t where collection='EOY'
                     group by person_id, school_year having count(distinct district_code) > 1)""",
        )[0][0]
        > 0
    )
    # economic disadvantage gained mid-year (fall 00, spring eligible)
    assert (
        q(
            con,
            """select count(*) from msds_t f join msds_t s using (person_id, school_year)
                     where f.collection='FALL' and s.collection='SPRING'
                       and f.nutrition_eligibility='00' and s.nutrition_eligibility<>'00'""",
        )[0][0]
        > 0
    )


def test_identity_noise_and_twins_exist(con):
    # a person with two UICs (reissued on a move)
    assert (
        q(
            con,
            """select count(*) from (select person_id from msds_t where defect is null
                     group by 1 having count(distinct uic) > 1)""",
        )[0][0]
        > 0
    )
    # twins: two persons sharing birthdate and surname and address
    assert (
        q(
            con,
            """select count(*) from (select date_of_birth, last_name, street_address
                     from msds_t where collection='FALL' and school_year='2018-19' and defect is null
                     group by all having count(distinct person_id) = 2)""",
        )[0][0]
        > 0
    )
    ps = "(select * from ps_enrollment_t union all by name select * from ps_awards_t)"
    # surname changes, placeholder and shared SSNs, missing MARSS numbers
    assert (
        q(
            con,
            f"select count(*) from (select person_id from {ps} group by 1 having count(distinct last_name) > 1)",
        )[0][0]
        > 0
    )
    assert (
        q(
            con,
            "select count(*) from ps_enrollment where ssn in ('000000000','999999999','123456789')",
        )[0][0]
        > 0
    )
    assert (
        q(
            con,
            f"""select count(*) from (select ssn from {ps} where ssn not in ('000000000','999999999','123456789','NA')
                      group by 1 having count(distinct person_id) > 1)""",
        )[0][0]
        > 0
    )
    assert q(con, "select count(*) from ps_enrollment where marss_number is null")[0][0] > 0


def test_postsecondary_reaches_k12_graduates_and_others(con):
    linked = q(
        con,
        """select count(distinct e.person_id) from ps_enrollment_t e
                       join msds_t m on m.person_id = e.person_id and m.exit_status = '01'""",
    )[0][0]
    others = q(
        con,
        """select count(distinct person_id) from ps_enrollment_t
                       where person_id not in (select person_id from msds_t)""",
    )[0][0]
    assert linked > 100 and others > 100
    assert q(con, "select count(*) from ps_enrollment where state_of_residence <> 'MN'")[0][0] > 0
    # the K-12 ID carried in the MARSS element matches the student's UIC for most linked records
    agree = q(
        con,
        """select avg((e.marss_number in (select uic from msds_t m where m.person_id = e.person_id))::int)
                      from ps_enrollment_t e where e.marss_number is not null and e.defect is null
                        and e.person_id in (select person_id from msds_t)""",
    )[0][0]
    assert 0.95 < agree < 1.0


def test_not_applicable_and_restricted_elements_are_present(con):
    assert q(con, "select count(*) from ps_enrollment where gender_identity_a = 'NA'")[0][0] > 0
    assert q(con, "select count(distinct gender_identity_a) from ps_awards")[0][0] >= 4
    debt = q(con, "select count(*), count(cumulative_debt) from ps_awards")[0]
    assert 0 < debt[1] <= debt[0]


def test_every_injected_defect_is_named_in_the_ground_truth(con):
    defects = {r[0] for r in q(con, "select distinct defect from truth_msds where defect is not null")}
    assert {"invalid_grade", "duplicate_record", "exit_before_enrollment"} <= defects
    assert q(con, "select count(*) from msds_t where defect = 'invalid_grade' and grade <> '16'")[0][0] == 0
