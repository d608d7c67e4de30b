"""Population relations (seeds/publish_relations.csv): tables of different populations that
share students are audited together (accountable <= enrolled; ETPL completers = certificate
awards), the naive release that protects each population alone is flagged, and the engine
protects across the related tables."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.lib.disclosure import audit_release, run_suppression
from orchestration.lib.disclosure.relations import Relation, RelationError, load_relations, related_pairs
from tests.disclosure_cases import equal_population, subset_population


def _cell(frame: pd.DataFrame, table_id: str, unit: str, category: str) -> pd.Series:
    hit = frame[(frame["table_id"] == table_id) & (frame["unit_id"] == unit) & (frame["category"] == category)]
    assert len(hit) == 1, (table_id, unit, category)
    return hit.iloc[0]


def test_the_seed_declares_the_subset_and_equality_relations_of_the_published_tables():
    relations = {(r.kind, r.table_id, r.other_table_id) for r in load_relations()}
    assert ("subset", "k12_accountable_by_race", "k12_enrollment_by_race") in relations
    assert ("equal", "wioa_etpl_completers_by_program", "ps_awards_by_level") in relations


def test_a_relation_seed_with_an_unknown_kind_is_refused(tmp_path):
    (tmp_path / "publish_relations.csv").write_text(
        "relation,table_id,grouping,category,other_table_id,other_grouping,other_category,description\n"
        "overlaps,a,*,*,b,*,*,x\n"
    )
    with pytest.raises(RelationError, match="line 2, column 'relation'"):
        load_relations(tmp_path)
    (tmp_path / "publish_relations.csv").write_text(
        "relation,table_id,grouping,category,other_table_id,other_grouping,other_category,description\n"
        "subset,a,*,All Students,b,all,All Students,x\n"
    )
    with pytest.raises(RelationError, match="'\\*' must stand on both sides"):
        load_relations(tmp_path)


def test_related_pairs_match_units_and_categories_within_one_publication():
    cells = pd.DataFrame({
        "release": [0, 0, 0, 0, 1],
        "table_id": ["etpl", "etpl", "awards", "awards", "awards"],
        "unit_id": ["I1", "I1", "I1", "I1", "I1"],
        "grouping": ["all", "program", "award_group", "award_group", "award_group"],
        "category": ["All Students", "CIP 11", "certificate", "associate", "certificate"],
        "q": [0, 1, 2, 3, 4],
    })  # fmt: skip
    rel = Relation("equal", "etpl", "all", "All Students", "awards", "award_group", "certificate")
    pairs = related_pairs(cells, [rel], "q", "release")
    assert pairs.values.tolist() == [[0, 2, "equal"]]


def test_school_with_30_enrolled_and_30_accountable_naive_release_is_flagged():
    case = subset_population()
    naive = case.naive(case.tables)
    accountable_white = _cell(naive, "k12_accountable_by_race", "A", "White")
    assert accountable_white.display == "*" and _cell(naive, "k12_enrollment_by_race", "A", "White").display == "18"
    # each population alone is safe: the relation is what discloses
    assert audit_release(naive, tables=case.tables, relations=[]).passed
    result = audit_release(naive, tables=case.tables)
    hit = result.disclosed.set_index(["table_id", "unit_id", "category"])
    white = hit.loc[("k12_accountable_by_race", "A", "White")]
    assert [white.lower, white.upper, white.reason] == [18, 18, "EXACT"]
    assert hit.loc[("k12_accountable_by_race", "B", "White"), ["lower", "upper"]].tolist() == [2, 2]


def test_the_engine_protects_accountable_and_enrolled_together():
    case = subset_population()
    run = run_suppression(case.tables)
    assert run.passed
    assert audit_release(run.cells, tables=case.tables, backend="linprog").passed
    # accountable White at A is shown: the reader pins it at the enrolled 18 anyway, so hiding it protected
    # nothing; the small accountable White at B is what needs protecting, and is
    assert _cell(run.cells, "k12_accountable_by_race", "A", "White").display == "18"
    again = audit_release(run.cells, tables=case.tables, exact_intervals=True)
    white_b = again.cells.set_index(["table_id", "unit_id", "category", "quantity"]).loc[
        ("k12_accountable_by_race", "B", "White", "count")
    ]
    assert _cell(run.cells, "k12_accountable_by_race", "B", "White").display == "*"
    assert white_b.lower < white_b.upper and not white_b.disclosed


def test_etpl_completers_equal_certificate_awards_naive_release_is_flagged():
    case = equal_population()
    naive = case.naive(case.tables)
    assert _cell(naive, "wioa_etpl_completers_by_program", "INST:I2", "All Students").display == "*"
    assert _cell(naive, "ps_awards_by_level", "INST:I2", "certificate").display == "2"
    assert audit_release(naive, tables=case.tables, relations=[]).passed
    result = audit_release(naive, tables=case.tables)
    hit = result.disclosed.set_index(["table_id", "unit_id", "category"])
    etpl = hit.loc[("wioa_etpl_completers_by_program", "INST:I2", "All Students")]
    assert [etpl.lower, etpl.upper] == [2, 2]


def test_the_engine_hides_the_certificate_awards_the_etpl_table_hides():
    case = equal_population()
    run = run_suppression(case.tables)
    assert run.passed
    assert audit_release(run.cells, tables=case.tables, backend="linprog").passed
    for unit in ("INST:I2", "INST:I3"):
        etpl = _cell(run.cells, "wioa_etpl_completers_by_program", unit, "All Students")
        award = _cell(run.cells, "ps_awards_by_level", unit, "certificate")
        assert etpl.display == award.display == "*"
        assert award.reason == "COMPLEMENTARY_RELATED"


def test_a_partial_re_audit_keeps_related_populations_together():
    case = subset_population()
    naive = case.naive(case.tables)
    scoped = audit_release(naive, tables=case.tables, only_populations={"k12_2022-23_fall_accountable"})
    assert not scoped.passed, "the enrolled table must join the accountable one's audit"
