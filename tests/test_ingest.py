"""Ingest on the tiny data set: nothing lost, PII only in the vault, every injected
defect quarantined for the right reason, idempotent and corrected reloads."""

import json
import shutil

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.generate.run import generate
from orchestration.lib.ingest.landing import LandingError, discover
from orchestration.lib.ingest.load import ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition
from orchestration.lib.ingest.stage import ingest_feed
from orchestration.lib.reference import FEEDS, feed_layout

pytestmark = pytest.mark.integration

# the ingest rule each injected defect must be quarantined by (ground truth -> suite)
EXPECTED_RULE = {
    "invalid_grade": "grade is not a code",
    "uic_not_10_digits": "uic is not 10 digits",
    "race_not_6_flags": "race_ethnicity is not six",
    "exit_before_enrollment": "exit_date is before enrollment_date",
    "birthdate_in_future": "date_of_birth",
    "invalid_residency": "residency_code is not a code",
    "missing_first_name": "first_name is required",
    "fte_above_one": "fte is not a number from 0 to 1",
    "impossible_date": "is not a real date",
    "duplicate_record": "duplicate natural key",
    "invalid_subject": "subject is not a code",
    "invalid_performance_level": "performance_level is not a code",
    "score_not_a_number": "scale_score is not a whole number",
    "invalid_term_season": "term_season is not a code",
    "cip_bad_format": "major_1_cip is not CIP",
    "not_applicable_on_unstarred": "is not a code of",
    "act_out_of_range": "act_composite is not an ACT score",
    "term_end_before_start": "term_end_date is not after term_start_date",
    "invalid_award_type": "award_type is not a code",
    "negative_debt": "cumulative_debt is not whole dollars",
}


def ingest_all(landing, force=False):
    """Every partition of every feed, through the ingest stage the `raw/<feed>` assets run."""
    feeds = [ingest_feed(feed, landing=landing, force=force) for feed in FEEDS]
    assert not any(f.failed for f in feeds), [f.failed for f in feeds]
    return [r for f in feeds for r in f.partitions]


def table_rows(con, table, exclude=()):
    cols = [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in exclude]
    return sorted(con.execute(f"select {', '.join(cols)} from {table}").fetchall(), key=repr)


@pytest.fixture(scope="module")
def loaded(tiny_feeds, tmp_path_factory):
    """The tiny feeds ingested once into a home of this module's own."""
    import os

    home = tmp_path_factory.mktemp("ingest_home")
    old = os.environ.get("SLEDS_HOME")
    os.environ["SLEDS_HOME"] = str(home)
    try:
        yield tiny_feeds, ingest_all(tiny_feeds / "landing")
    finally:
        if old is None:
            os.environ.pop("SLEDS_HOME", None)
        else:
            os.environ["SLEDS_HOME"] = old


def test_rows_read_equal_loaded_plus_quarantined(loaded):
    feeds, reports = loaded
    summary = json.loads((feeds / "generation.json").read_text())
    for feed in FEEDS:
        mine = [r for r in reports if r.feed == feed]
        assert all(r.balanced for r in mine)
        assert sum(r.rows_read for r in mine) == summary["rows"][feed]
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    for feed in FEEDS:
        n = wh.execute(f"select (select count(*) from raw.{feed}) + (select count(*) from raw.{feed}_quarantine)")
        assert n.fetchone()[0] == summary["rows"][feed]


def test_every_injected_defect_is_quarantined_for_its_reason_and_nothing_else(loaded):
    feeds, _ = loaded
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    for feed in FEEDS:
        truth = duckdb.sql(
            f"select file, row_number, defect from '{feeds}/ground_truth/{feed}.parquet' where defect is not null"
        ).fetchall()
        quarantined = {
            (f, r) for f, r in wh.execute(f"select source_file, source_row from raw.{feed}_quarantine").fetchall()
        }
        assert quarantined == {(f, r) for f, r, _ in truth}, feed
        for file, row, defect in truth:
            rules = [
                x[0]
                for x in wh.execute(
                    "select rule from ingest.quarantine_reasons where source_file = ? and source_row = ?", [file, row]
                ).fetchall()
            ]
            assert any(EXPECTED_RULE[defect] in rule for rule in rules), (defect, rules)


def test_no_pii_column_or_value_reaches_the_warehouse(loaded):
    """Scan every table of the warehouse for PII column names and for any PII value
    held in the vault (names, SSNs, UICs, birthdates, addresses)."""
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    pii_cols = {c.name for f in FEEDS for c in feed_layout(f) if c.pii}
    pii_values = set()
    for feed in FEEDS:
        cols = [c.name for c in feed_layout(feed) if c.pii]
        for col in cols:
            pii_values |= {
                v
                for (v,) in vault.execute(
                    f'select distinct "{col}" from landing.{feed}_identity where length("{col}") >= 6'
                ).fetchall()
            }
    assert len(pii_values) > 1000
    tables = wh.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    for schema, table in tables:
        described = wh.execute(f'describe "{schema}"."{table}"').fetchall()
        assert not (pii_cols & {r[0] for r in described}), f"{schema}.{table} has a PII column"
        for col, ctype, *_ in described:
            if ctype == "VARCHAR":
                values = {v for (v,) in wh.execute(f'select distinct "{col}" from "{schema}"."{table}"').fetchall()}
                leaked = values & pii_values
                # ISO dates are PII only as birthdates; the same date may legitimately be a term or exit date
                leaked = {v for v in leaked if not (len(v) == 10 and v[4] == "-" and v[7] == "-")}
                assert not leaked, f"{schema}.{table}.{col} holds vault values, e.g. {sorted(leaked)[:3]}"


def test_zz_ingesting_twice_changes_nothing_and_forced_reload_does_not_duplicate(loaded):
    # named zz so it runs last in this module: it reloads the shared home
    feeds, _ = loaded
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    before = {f: table_rows(wh, f"raw.{f}") for f in FEEDS}
    wh.close()
    again = ingest_all(feeds / "landing")
    assert all(r.skipped and r.change == "unchanged" for r in again)
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    assert {f: table_rows(wh, f"raw.{f}") for f in FEEDS} == before
    wh.close()
    forced = ingest_all(feeds / "landing", force=True)
    assert all(r.change == "reloaded" for r in forced)
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    random = ("record_token", "batch_id")
    for f in FEEDS:
        without_random = sorted((tuple(x for i, x in enumerate(r) if i not in (1, 2)) for r in before[f]), key=repr)
        assert table_rows(wh, f"raw.{f}", random) == without_random
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    for f in FEEDS:
        total = wh.execute(
            f"select (select count(*) from raw.{f}) + (select count(*) from raw.{f}_quarantine)"
        ).fetchone()[0]
        assert vault.execute(f"select count(*) from landing.{f}_identity").fetchone()[0] == total


def test_a_corrected_file_replaces_the_partition_and_the_change_is_recorded(tiny_feeds, sleds_home, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(tiny_feeds / "landing" / "ps_awards", landing / "ps_awards")
    ingest_all_awards = lambda: [  # noqa: E731
        ingest_partition("ps_awards", k, fs, paths.warehouse_path(), paths.vault_path(), paths.validation_dir())
        for k, fs in group_by_partition(discover(landing, "ps_awards")).items()
    ]
    ingest_all_awards()
    victim = sorted(landing.rglob("*.csv"))[0]
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join(lines[:-1]) + "\n")  # the corrected file drops its last record
    reports = {r.partition_key: r for r in ingest_all_awards()}
    key = "FY" + victim.parent.name[2:]
    assert reports[key].change == "corrected" and reports[key].previous_batch_id
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    rel = victim.relative_to(landing).as_posix()
    n = wh.execute("select count(*) from raw.ps_awards where source_file = ?", [rel]).fetchone()[0]
    q = wh.execute("select count(*) from raw.ps_awards_quarantine where source_file = ?", [rel]).fetchone()[0]
    assert n + q == len(lines) - 2
    changes = wh.execute(
        "select change from ingest.partition_loads where partition_key = ? order by loaded_at", [key]
    ).fetchall()
    assert [c for (c,) in changes] == ["new", "corrected"]


def test_parquet_landing_files_load_like_csv(tmp_path, sleds_home):
    out = tmp_path / "pq"
    generate("tiny", 3, out, fmt="parquet")
    files = discover(out / "landing", "ps_enrollment")
    assert files and all(f.fmt == "parquet" for f in files)
    reports = [
        ingest_partition("ps_enrollment", k, fs, paths.warehouse_path(), paths.vault_path(), paths.validation_dir())
        for k, fs in group_by_partition(files).items()
    ]
    assert (
        sum(r.rows_read for r in reports) == json.loads((out / "generation.json").read_text())["rows"]["ps_enrollment"]
    )
    assert sum(r.rows_quarantined for r in reports) > 0


def test_misnamed_file_is_reported_not_skipped(tmp_path):
    landing = tmp_path / "landing"
    (landing / "ps_awards" / "FY2022").mkdir(parents=True)
    (landing / "ps_awards" / "FY2022" / "awards_final.csv").write_text("x\n")
    with pytest.raises(LandingError, match="awards_final.csv"):
        discover(landing, "ps_awards")


def test_landing_folder_that_does_not_exist_says_how_to_fix_it(tmp_path):
    with pytest.raises(LandingError, match="sleds generate"):
        discover(tmp_path / "nowhere", "msds")


def test_validation_results_are_kept_as_files_without_values(loaded):
    _, reports = loaded
    r = next(r for r in reports if r.rows_quarantined)
    doc = json.loads(open(r.validation_file).read())
    assert doc["rows_quarantined"] == r.rows_quarantined
    assert sum(x["unexpected_count"] for x in doc["results"]) >= r.rows_quarantined
    assert "unexpected_list" not in open(r.validation_file).read()
