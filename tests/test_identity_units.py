"""Identity units without feeds: project-scoped IDs and key handling, standardisation
rules, thresholds as configuration, and the research ID lifecycle (merge, split,
retire, never reuse)."""

import logging
import os

import duckdb
import numpy as np
import pytest

from orchestration.lib.identity import ids
from orchestration.lib.identity.config import Thresholds
from orchestration.lib.identity.project_ids import (
    ProjectKeyError,
    create_project_key,
    env_var,
    key_file,
    load_project_key,
    project_research_id,
)
from orchestration.lib.identity.standardise import create_macros

RIDS = [f"R{i:016X}" for i in range(1, 200)]


# ---------------------------------------------------------------- project IDs


def test_project_ids_differ_between_projects_and_are_stable_for_one_key():
    k1, k2 = os.urandom(32), os.urandom(32)
    a = [project_research_id(r, k1) for r in RIDS]
    assert a == [project_research_id(r, k1) for r in RIDS]  # same key -> same IDs
    b = [project_research_id(r, k2) for r in RIDS]
    assert not set(a) & set(b)  # two projects share no ID
    assert len(set(a)) == len(RIDS) and all(len(x) == 21 and x.startswith("P") for x in a)
    assert not set(a) & set(RIDS)


def test_rotating_a_project_key_changes_every_project_id(sleds_home, monkeypatch):
    monkeypatch.delenv(env_var("study-1"), raising=False)
    path = create_project_key("study-1")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    before = [project_research_id(r, load_project_key("study-1")) for r in RIDS]
    assert before == [project_research_id(r, load_project_key("study-1")) for r in RIDS]
    with pytest.raises(ProjectKeyError):
        create_project_key("study-1")  # no silent overwrite
    create_project_key("study-1", replace=True)
    after = [project_research_id(r, load_project_key("study-1")) for r in RIDS]
    assert not set(before) & set(after)
    assert (path.parent / "study-1.key.sealed.1.retired").exists()  # kept aside to re-identify old extracts


def test_the_environment_key_wins_and_errors_never_show_key_material(sleds_home, monkeypatch, caplog):
    secret = "ab" * 32
    monkeypatch.setenv(env_var("Study 2".replace(" ", "_")), secret)
    caplog.set_level(logging.DEBUG)
    assert load_project_key("Study_2") == bytes.fromhex(secret)
    assert env_var("Study_2") == "SLEDS_PROJECT_KEY_STUDY_2"
    monkeypatch.setenv(env_var("short"), "abcd")
    with pytest.raises(ProjectKeyError) as short:
        load_project_key("short")
    assert "abcd" not in str(short.value)
    with pytest.raises(ProjectKeyError) as missing:
        load_project_key("nobody")
    assert env_var("nobody") in str(missing.value) and str(key_file("nobody")) in str(missing.value)
    with pytest.raises(ProjectKeyError):
        load_project_key("../etc/passwd")
    assert secret not in caplog.text


# ---------------------------------------------------------------- standardisation


@pytest.fixture()
def macros():
    con = duckdb.connect()
    create_macros(con)
    return con


def one(con, sql):
    return con.execute(f"SELECT {sql}").fetchall()[0][0]


def test_names_are_upper_case_without_accents_hyphens_or_apostrophes(macros):
    assert one(macros, "name_key('José-María  de la Cruz')") == "JOSEMARIADELACRUZ"
    assert one(macros, "std_name(' o''brien-smith ')") == "OBRIEN SMITH"
    assert one(macros, "name_key('NA')") is None
    formal = macros.execute("SELECT formal FROM nick WHERE nickname = 'BILL'").fetchall()
    assert ("WILLIAM",) in formal


def test_ssns_not_applicable_invalid_and_placeholders_are_null(macros):
    for bad in ("NA", "", "12345678", "000000000", "999999999", "123456789", "111111111", "666123456",
                "900123456", "123004567", "123450000", "12345678a"):  # fmt: skip
        assert one(macros, f"std_ssn('{bad}')") is None, bad
    assert one(macros, "std_ssn('512345678')") == "512345678"


def test_state_ids_and_dates(macros):
    assert one(macros, "std_state_id('4876602661')") == "4876602661"
    assert one(macros, "std_state_id('0000000000')") is None and one(macros, "std_state_id('48766')") is None
    assert str(one(macros, "std_date('2004-03-07')")) == "2004-03-07"
    assert one(macros, "std_date('2004-02-30')") is None and one(macros, "std_date('NA')") is None
    assert str(one(macros, "swapped(DATE '2004-03-07')")) == "2004-07-03"
    assert one(macros, "swapped(DATE '2004-03-17')") is None and one(macros, "swapped(DATE '2004-03-03')") is None


def test_thresholds_are_read_from_the_seed_and_checked():
    t = Thresholds.from_seed()
    assert t.review_match_weight < t.accept_match_weight
    assert isinstance(t.u_max_pairs, int)
    with pytest.raises(ValueError):
        Thresholds.from_seed(review_match_weight=20, accept_match_weight=10)


# ---------------------------------------------------------------- ID lifecycle


def _assign(con, clusters: dict[str, int], run: str) -> dict[str, str]:
    """clusters: source key -> cluster number. Returns source key -> research ID."""
    keys = sorted(clusters)
    con.execute("CREATE OR REPLACE TEMP TABLE ent (entity_id BIGINT, entity_key VARCHAR, n_records BIGINT)")
    con.executemany("INSERT INTO ent VALUES (?, ?, 1)", [(i, k) for i, k in enumerate(keys)])
    frame = {"entity_id": np.arange(len(keys)), "cluster": np.array([clusters[k] for k in keys])}
    con.register("c_frame", frame)
    con.execute("CREATE OR REPLACE TEMP TABLE clusters AS SELECT * FROM c_frame")
    con.unregister("c_frame")
    ids.assign_research_ids(con, run)
    return dict(con.execute("SELECT source_key, research_id FROM vault.identity.source_keys WHERE present").fetchall())


@pytest.fixture()
def vault_con(tmp_path):
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'vault.duckdb'}' AS vault")
    for statement in ids.VAULT_DDL.split(";\n"):
        if statement.strip():
            con.execute(statement)
    return con


def registry(con):
    return {r[0]: r[1:] for r in con.execute("SELECT research_id, status, merged_into, split_from FROM "
                                               "vault.identity.registry").fetchall()}  # fmt: skip


def test_merge_keeps_the_larger_persons_id_and_records_merged_into(vault_con):
    first = _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "c1": 3}, "run1")
    assert len({first["a1"], first["b1"], first["c1"]}) == 3
    second = _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1, "b1": 1, "c1": 3}, "run2")
    assert second["b1"] == second["a1"] == first["a1"] and second["c1"] == first["c1"]
    assert registry(vault_con)[first["b1"]] == ("merged", first["a1"], None)


def test_split_keeps_the_largest_parts_id_and_never_reuses_one(vault_con):
    first = _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1, "a4": 1, "a5": 1}, "run1")
    rid = first["a1"]
    second = _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1, "a4": 2, "a5": 2}, "run2")
    assert second["a1"] == second["a2"] == second["a3"] == rid
    assert second["a4"] == second["a5"] != rid
    assert registry(vault_con)[second["a4"]] == ("active", None, rid)
    # the split part's records vanish, then come back: they find their own ID again
    _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1}, "run3")
    assert registry(vault_con)[second["a4"]][0] == "retired"
    fourth = _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1, "a4": 2, "a5": 2}, "run4")
    assert fourth["a4"] == second["a4"] and registry(vault_con)[second["a4"]][0] == "active"
    # a brand-new person never gets an ID that was issued before
    issued = set(registry(vault_con))
    fifth = _assign(vault_con, {"a1": 1, "a2": 1, "a3": 1, "a4": 2, "a5": 2, "z9": 3}, "run5")
    assert fifth["z9"] not in issued
    statuses = vault_con.execute("SELECT count(*), count(DISTINCT research_id) FROM vault.identity.registry")
    n, distinct = statuses.fetchall()[0]
    assert n == distinct == 3


# ---------------------------------------------------------------- entities from records


def _mini_feeds(tmp_path, msds_rows):
    """A warehouse + vault with a few hand-made MSDS records (and empty PS feeds)."""
    from orchestration.lib.ingest.schema import ensure_tables
    from orchestration.lib.reference import FEEDS, feed_layout

    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'wh.duckdb'}' AS wh")
    con.execute(f"ATTACH '{tmp_path / 'vault.duckdb'}' AS vault")
    for feed in FEEDS:
        layout = feed_layout(feed)
        ensure_tables(con, feed, [c.name for c in layout if c.pii], [c.name for c in layout if not c.pii])
    for i, (uic, first, last, dob, district) in enumerate(msds_rows):
        token = f"00000000-0000-0000-0000-{i:012d}"
        con.execute(
            "INSERT INTO vault.landing.msds_identity (record_token, uic, first_name, last_name, date_of_birth) "
            "VALUES (?, ?, ?, ?, ?)",
            [token, uic, first, last, dob],
        )
        con.execute(
            "INSERT INTO wh.raw.msds (record_token, school_year, collection, gender, district_code) "
            "VALUES (?, '2020-21', 'FALL', 'F', ?)",
            [token, district],
        )
    return con


def test_a_uic_issued_to_two_students_becomes_two_entities_but_a_lone_typo_does_not(tmp_path):
    from orchestration.lib.identity.standardise import build_entities

    rows = [("1000000001", "Emma", "Olsen", "2010-04-20", "10001")] * 3
    rows += [("1000000001", "Noah", "Berg", "2009-11-02", "10002")] * 2  # another student, same UIC
    rows += [("1000000002", "Liam", "Dahl", "2011-01-15", "10001")] * 4
    rows += [("1000000002", "Liam", "Dahl", "2011-01-16", "10001")]  # one keying error
    rows += [("1000000003", "William", "Lund", "2011-05-05", "10001")] * 3
    rows += [("1000000003", "Bill", "Lund", "2012-05-05", "10001")] * 2  # nickname: not a different student
    con = _mini_feeds(tmp_path, rows)
    counts = build_entities(con)
    keys = sorted(k for (k,) in con.execute("SELECT entity_key FROM ent").fetchall())
    assert counts["duplicated_uics"] == 1
    assert keys == ["K:1000000001", "K:1000000001#2009-11-02", "K:1000000002", "K:1000000003"]
    first = dict(con.execute("SELECT entity_key, first FROM ent").fetchall())
    assert first["K:1000000001"] == "EMMA" and first["K:1000000001#2009-11-02"] == "NOAH"


def test_identity_counts_per_feed_the_records_whose_research_id_changed(tmp_path):
    """What a build that loaded only some feeds relies on to skip the others' marts."""
    from orchestration.lib.identity.pipeline import _changes_by_feed

    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'wh.duckdb'}' AS wh")
    con.execute("CREATE TEMP TABLE new_record_ids (feed VARCHAR, record_token VARCHAR, research_id VARCHAR)")
    con.execute("INSERT INTO new_record_ids VALUES ('msds', 'a', 'P1'), ('ps_awards', 'b', 'P1')")
    # the first run: every record is new
    assert _changes_by_feed(con) == {"msds": 1, "assessment": 0, "ps_enrollment": 0, "ps_awards": 1}
    con.execute("CREATE SCHEMA wh.identity")
    con.execute("CREATE TABLE wh.identity.record_research_ids AS SELECT * FROM new_record_ids")
    assert _changes_by_feed(con) == {"msds": 0, "assessment": 0, "ps_enrollment": 0, "ps_awards": 0}
    # a new K-12 record joins the college record's person: only K-12 changed ...
    con.execute("INSERT INTO new_record_ids VALUES ('msds', 'c', 'P1')")
    assert _changes_by_feed(con) == {"msds": 1, "assessment": 0, "ps_enrollment": 0, "ps_awards": 0}
    # ... unless it moves a college record to another person (old row out, new row in)
    con.execute("UPDATE new_record_ids SET research_id = 'P2' WHERE record_token = 'b'")
    assert _changes_by_feed(con) == {"msds": 1, "assessment": 0, "ps_enrollment": 0, "ps_awards": 2}
    con.close()
