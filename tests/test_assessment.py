"""The assessment feed end to end: the generator writes what real vendor files hold, the
records link to their students through identity, every loaded test event is counted or
carries its reason, and the accountability results are published suppressed."""

import csv
import json
from collections import Counter

import duckdb
import pytest

from orchestration.lib.generate.assessment import SUBJECTS
from orchestration.lib.reference import code_sets, read_seed

pytestmark = pytest.mark.integration


def _rows(landing, pattern):
    for path in sorted(landing.glob(pattern)):
        rel = path.relative_to(landing).as_posix()
        with path.open(encoding="utf-8", newline="") as handle:
            for i, row in enumerate(csv.DictReader(handle), 1):
                yield rel, i, row


def test_the_generator_writes_two_events_per_tested_student_and_every_real_case(tiny_feeds):
    landing = tiny_feeds / "landing"
    truth = {
        (f, r): d
        for f, r, d in duckdb.sql(
            f"select file, row_number, defect from '{tiny_feeds}/ground_truth/assessment.parquet'"
        ).fetchall()
    }
    clean = [row for rel, i, row in _rows(landing, "assessment/*/*.csv") if truth[(rel, i)] is None]
    assert clean, "no assessment files written"
    per_student = Counter((r["school_year"], r["testing_window"], r["uic"]) for r in clean)
    assert 1.9 <= len(clean) / len(per_student) <= 2.05  # about two test events per tested student and window
    assert {r["subject"] for r in clean} == set(SUBJECTS)
    assert {r["testing_window"] for r in clean} == {"FALL", "SPRING"}
    # every code the generator writes is a code of the feed's code sets
    sets = code_sets()
    for column, code_set in (("test_grade", "assessment_test_grade"), ("subject", "assessment_subject"),
                             ("assessment", "assessment_type"), ("validity", "assessment_validity"),
                             ("not_tested_reason", "assessment_not_tested_reason")):  # fmt: skip
        assert {r[column] for r in clean if r[column]} <= set(sets[code_set]), column
    # the cases accountability exists for: not tested with a reason, invalidated scores,
    # the alternate assessment, out-of-level tests (a test grade other than the MSDS grade)
    assert any(r["not_tested_reason"] for r in clean)
    assert {r["validity"] for r in clean if r["validity"]} == {"PB", "NS"}
    assert any(r["assessment"] == "ALTERNATE" for r in clean)
    msds_grade = {
        (row["school_year"], row["collection"], row["uic"]): row["grade"]
        for _, _, row in _rows(landing, "msds/*/msds_fall_*.csv")
    }
    out_of_level = [
        r for r in clean
        if msds_grade.get((r["school_year"], "FALL", r["uic"]), r["test_grade"]) not in (r["test_grade"], "14")
    ]  # fmt: skip
    assert out_of_level
    # students expected to test with no record: some fall students in tested grades have none
    fall_tested = {(sy, uic) for (sy, col, uic), g in msds_grade.items() if g in {f"{x:02d}" for x in range(3, 10)}}
    with_record = {(r["school_year"], r["uic"]) for r in clean if r["testing_window"] == "FALL"}
    assert fall_tested - with_record


def test_a_demo_sized_window_writes_about_two_events_per_tested_student_as_any_scale_does():
    """The generator's per-student rates do not depend on scale: a demo-sized year shows
    the ratio the state scale will (state generation itself is the bench's)."""
    import numpy as np

    from orchestration.lib.generate import assessment, msds
    from orchestration.lib.generate.directory import K12Directory
    from orchestration.lib.generate.k12 import K12Model
    from orchestration.lib.generate.names import NamePool
    from orchestration.lib.generate.people import People
    from orchestration.lib.generate.scales import K12_FIRST_YEAR, SCALES

    scale = SCALES["demo"]
    model = K12Model(scale, 5, People(), NamePool.from_seeds(), K12Directory.from_seeds(scale.districts))
    spells = model.year(0)
    cols, pid = msds.collection(model, 0, spells, "FALL")
    tests, tested = assessment.results(model, 0, "FALL", K12_FIRST_YEAR, cols, pid)
    assert 1.95 <= len(tested) / len(np.unique(tested)) <= 2.0
    grades = np.array(cols["grade"].to_pylist())
    in_tested_grades = len(np.unique(pid[np.isin(grades, [f"{g:02d}" for g in range(3, 10)])]))
    assert 0.9 <= len(np.unique(tested)) / in_tested_grades <= 1.0


def test_every_test_event_links_to_its_student_and_is_counted_or_has_a_reason(tiny_warehouse):
    wh = duckdb.connect(str(tiny_warehouse / "warehouse.duckdb"), read_only=True)
    loaded = wh.execute("select count(*) from raw.assessment").fetchone()[0]
    kept = wh.execute("select count(*) from intermediate.int_assessment__results").fetchone()[0]
    marts = wh.execute("select count(*) from marts.fct_assessment_results").fetchone()[0]
    assert loaded > 500 and marts == kept and loaded - kept == 0  # the generator writes no duplicate once clean
    unexplained = wh.execute(
        "select count(*) from marts.fct_assessment_results "
        "where not counted_in_accountability and exclusion_reason is null"
    ).fetchone()[0]
    assert unexplained == 0
    reasons = dict(
        wh.execute(
            "select coalesce(exclusion_reason, 'counted'), count(*) from marts.fct_assessment_results group by 1"
        ).fetchall()
    )
    assert reasons["counted"] > 0.9 * kept
    assert any(r.startswith("not_expected_") for r in reasons)
    # a test event is a K-12 record: its research ID is one of the MSDS records'
    orphans = wh.execute(
        """select count(*) from identity.record_research_ids a where a.feed = 'assessment'
           and a.research_id not in (select research_id from identity.record_research_ids where feed = 'msds')"""
    ).fetchone()[0]
    assert orphans == 0
    statuses = dict(
        wh.execute("select result_status, count(*) from marts.fct_assessment_participation group by 1").fetchall()
    )
    assert {"valid_score", "out_of_level", "invalidated", "not_tested", "no_record"} <= set(statuses)
    # participation and proficiency by subgroup, All Students included, at every level
    levels = {
        r[0]
        for r in wh.execute(
            "select distinct unit_level from marts.fct_assessment_results_by_subgroup where subgroup = 'All Students'"
        ).fetchall()
    }
    assert levels == {"state", "district", "school"}


def test_the_linkage_accuracy_counts_the_assessment_records(tiny_warehouse, tiny_feeds, tmp_path):
    """Scored against the generator's ground truth, the test events join their students'
    MSDS records exactly: K-12 pair precision and recall stay 1.0 with them included."""
    from orchestration.lib.identity.accuracy import compute_accuracy
    from tests.conftest import open_vault

    open_vault(tiny_warehouse, tmp_path).close()  # unsealed into tmp_path/vault.duckdb
    report = compute_accuracy(
        tiny_warehouse / "warehouse.duckdb", tmp_path / "vault.duckdb", tiny_feeds / "ground_truth"
    )
    assert report["records_evaluated"] > json.loads((tiny_feeds / "generation.json").read_text())["rows"]["assessment"]
    pairs = report["record_pairs"]["k12-k12"]
    assert pairs["precision"] == 1.0 and pairs["recall"] == 1.0, pairs


def test_accountability_results_are_published_suppressed_with_the_nces_bands(tiny_warehouse):
    public = tiny_warehouse / "releases" / "public" / "tables"
    tables = {t["table_id"] for t in read_seed("publish_tables")}
    wanted = {f"k12_{m}_{s}_by_race" for m in ("participation", "proficiency") for s in ("reading", "mathematics")}
    assert wanted <= tables
    for table_id in sorted(wanted):
        with (public / f"{table_id}.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, table_id
        # NCES 2011-603 item 4: no counts behind a percentage
        assert all(r["n_display"] in ("", "*") or not r["n_display"].isdigit() for r in rows), table_id
        shown = [r["display"] for r in rows if r["display"] not in ("", "*")]
        assert all(d.endswith("%") or d[0] in "<>" for d in shown), (table_id, shown[:5])
