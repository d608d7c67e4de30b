"""Identity resolution on the tiny data set (a full lifecycle in one home) and on the
demo (accuracy): every record gets one research ID, IDs survive reruns, reloads and
new terms, no PII or official ID reaches the warehouse, twins stay apart, steward
decisions are applied."""

import os
import re

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.identity.accuracy import compute_accuracy, headline, write_report
from orchestration.lib.identity.pipeline import run_identity
from orchestration.lib.identity.review import record_decision
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.load import ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition
from orchestration.lib.reference import FEEDS, feed_layout

pytestmark = pytest.mark.integration

LAST_PS = {"ps_enrollment": "FY2026", "ps_awards": "FY2026"}  # held back, then added as "a new term"


def ingest(landing, *, only_old=None, force=False):
    for feed in FEEDS:
        for key, files in group_by_partition(discover(landing, feed)).items():
            held_back = feed in LAST_PS and key.startswith(LAST_PS[feed])
            if only_old is True and held_back:
                continue
            if only_old is False and not held_back and not force:
                continue
            ingest_partition(
                feed, key, files, paths.warehouse_path(), paths.vault_path(), paths.validation_dir(), force=force
            )


def snapshot() -> dict[tuple[str, str, int], str]:
    """(feed, source_file, source_row) -> research_id: tokens change on reload, rows do not."""
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        out = {}
        for feed in FEEDS:
            rows = wh.execute(
                f"SELECT r.source_file, r.source_row, i.research_id FROM raw.{feed} r "
                "JOIN identity.record_research_ids i ON i.feed = ? AND i.record_token = r.record_token",
                [feed],
            ).fetchall()
            out.update({(feed, f, n): rid for f, n, rid in rows})
        return out
    finally:
        wh.close()


@pytest.fixture(scope="module")
def lifecycle(tiny_feeds, tmp_path_factory):
    """One home through: old terms only -> identity; new term -> identity; rerun;
    forced reload of every partition (new record tokens) -> identity."""
    home = tmp_path_factory.mktemp("identity_home")
    old = os.environ.get("SLEDS_HOME")
    os.environ["SLEDS_HOME"] = str(home)
    landing = tiny_feeds / "landing"
    try:
        ingest(landing, only_old=True)
        first = run_identity(paths.warehouse_path(), paths.vault_path(), home)
        s1 = snapshot()
        ingest(landing, only_old=False)
        second = run_identity(paths.warehouse_path(), paths.vault_path(), home)
        s2 = snapshot()
        third = run_identity(paths.warehouse_path(), paths.vault_path(), home)
        s3 = snapshot()
        ingest(landing, force=True)
        fourth = run_identity(paths.warehouse_path(), paths.vault_path(), home)
        s4 = snapshot()
        yield {
            "feeds": tiny_feeds,
            "home": home,
            "reports": [first, second, third, fourth],
            "snapshots": [s1, s2, s3, s4],
        }
    finally:
        if old is None:
            os.environ.pop("SLEDS_HOME", None)
        else:
            os.environ["SLEDS_HOME"] = old


def test_every_loaded_record_has_exactly_one_research_id(lifecycle):
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    for feed in FEEDS:
        loaded = wh.execute(f"SELECT count(*) FROM raw.{feed}").fetchone()[0]
        with_id = wh.execute(
            "SELECT count(*), count(DISTINCT record_token) FROM identity.record_research_ids WHERE feed = ?", [feed]
        ).fetchone()
        assert loaded > 0 and with_id == (loaded, loaded), feed
        missing = wh.execute(
            f"SELECT count(*) FROM raw.{feed} r ANTI JOIN identity.record_research_ids i "
            "ON i.feed = ? AND i.record_token = r.record_token",
            [feed],
        ).fetchone()[0]
        assert missing == 0
    quarantined = wh.execute(
        "SELECT count(*) FROM identity.record_research_ids i SEMI JOIN raw.msds_quarantine q USING (record_token)"
    ).fetchone()[0]
    assert quarantined == 0
    types = dict(
        wh.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'identity' AND table_name = 'record_research_ids'"
        ).fetchall()
    )
    assert types == {"feed": "VARCHAR", "record_token": "UUID", "research_id": "VARCHAR"}
    rids = {r for (r,) in wh.execute("SELECT DISTINCT research_id FROM identity.record_research_ids").fetchall()}
    assert all(re.fullmatch(r"R[0-9A-F]{16}", r) for r in rids)
    persons = wh.execute("SELECT research_id, status FROM identity.persons WHERE status = 'active'").fetchall()
    assert {r for r, _ in persons} == rids


def test_rerun_on_unchanged_inputs_keeps_every_research_id_and_scores_nothing(lifecycle):
    _, s2, s3, _ = lifecycle["snapshots"]
    third = lifecycle["reports"][2]
    assert s3 == s2
    assert third.mode == "incremental"
    assert third.counts["entities_new_or_changed"] == 0 and third.counts["new_ids"] == 0
    assert third.counts["splink_pairs_scored_at_or_above_review"] == 0


def test_a_forced_reload_with_new_record_tokens_keeps_every_research_id(lifecycle):
    _, _, s3, s4 = lifecycle["snapshots"]
    assert s4 == s3
    assert lifecycle["reports"][3].counts["new_ids"] == 0


def test_adding_a_new_term_keeps_every_existing_id_and_adds_new_ones(lifecycle):
    s1, s2, _, _ = lifecycle["snapshots"]
    second = lifecycle["reports"][1]
    assert len(s2) > len(s1)
    assert {k: s2[k] for k in s1} == s1  # every record of the first run keeps its ID
    new_records = set(s2) - set(s1)
    assert new_records and all(k[1].find("FY2026") >= 0 for k in new_records)
    assert second.mode == "incremental"
    assert 0 < second.counts["entities_new_or_changed"] < second.counts["entities"]
    assert second.counts["new_ids"] > 0  # people first seen in the new term
    assert set(s2.values()) > set(s1.values())


def test_no_official_id_or_pii_in_the_warehouse(lifecycle):
    """Column names and values: nothing in the warehouse equals a vault value (names,
    SSNs, UICs, MARSS and institution student numbers, birthdates, addresses) or a
    source key of the crosswalk."""
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    pii_cols = {c.name for f in FEEDS for c in feed_layout(f) if c.pii}
    secrets_ = set()
    for feed in FEEDS:
        for col in (c.name for c in feed_layout(feed) if c.pii):
            secrets_ |= {
                v
                for (v,) in vault.execute(
                    f'SELECT DISTINCT "{col}" FROM landing.{feed}_identity WHERE length("{col}") >= 5'
                ).fetchall()
            }
    keys = {k for (k,) in vault.execute("SELECT source_key FROM identity.source_keys").fetchall()}
    secrets_ |= keys | {k.split(":")[-1] for k in keys}
    assert len(secrets_) > 1000
    for schema, table in wh.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
        described = wh.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()
        assert not (pii_cols & {r[0] for r in described}), f"{schema}.{table} has a PII column"
        if schema != "identity":
            continue
        for col, ctype, *_ in described:
            if ctype == "VARCHAR":
                values = {v for (v,) in wh.execute(f'SELECT DISTINCT "{col}" FROM "{schema}"."{table}"').fetchall()}
                leaked = values & secrets_
                assert not leaked, f"{schema}.{table}.{col} holds vault values"
    # the research ID <-> source key crosswalk exists only in the vault
    assert "identity.source_keys" not in {
        f"{s}.{t}" for s, t in wh.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    }


def test_research_ids_are_random_not_derived_so_only_the_vault_maps_them_back(lifecycle, tmp_path, monkeypatch):
    """The same records linked in a second, empty home get entirely different research
    IDs: they are not a function of any identifier, so without this vault's crosswalk
    there is nothing to recompute or look them up by."""
    home = tmp_path / "other"
    monkeypatch.setenv("SLEDS_HOME", str(home))
    ingest(lifecycle["feeds"] / "landing")
    run_identity(paths.warehouse_path(), paths.vault_path(), home)
    other = snapshot()
    monkeypatch.setenv("SLEDS_HOME", str(lifecycle["home"]))
    mine = lifecycle["snapshots"][3]
    assert set(other) == set(mine)
    assert not set(other.values()) & set(mine.values())

    # same partition of records into persons, though: linkage is deterministic
    def partition(s):
        groups = {}
        for k, rid in s.items():
            groups.setdefault(rid, set()).add(k)
        return sorted(sorted(g) for g in groups.values())

    assert partition(other) == partition(mine)


def test_no_research_id_holds_two_true_k12_students(lifecycle):
    acc = compute_accuracy(paths.warehouse_path(), paths.vault_path(), lifecycle["feeds"] / "ground_truth")
    assert acc["clusters"]["research_ids_with_two_or_more_true_k12_students"] == 0
    assert acc["record_pairs"]["k12-ps"]["precision"] >= 0.99
    assert acc["record_pairs"]["all"]["recall"] >= 0.97


def test_the_report_file_and_headline(lifecycle, tmp_path):
    acc = compute_accuracy(paths.warehouse_path(), paths.vault_path(), lifecycle["feeds"] / "ground_truth")
    run = lifecycle["reports"][-1].as_dict()
    path = write_report(run, acc, tmp_path / "linkage_accuracy.json")
    assert path.exists()
    head = headline(run, acc)
    assert head["k12-ps_pair_precision"] is not None and head["persons"] > 0
    none = compute_accuracy(paths.warehouse_path(), paths.vault_path(), None)
    assert none["ground_truth"] is None and "skipped" in none["note"]


@pytest.fixture(scope="module")
def demo_linked(demo_feeds, tmp_path_factory):
    """The demo linked in a home of its own; SLEDS_HOME is put back at once, so the
    other tests of this module keep the lifecycle home."""
    home = tmp_path_factory.mktemp("identity_demo_home")
    old = os.environ.get("SLEDS_HOME")
    os.environ["SLEDS_HOME"] = str(home)
    try:
        ingest(demo_feeds / "landing")
        report = run_identity(paths.warehouse_path(), paths.vault_path(), home)
        return report, compute_accuracy(paths.warehouse_path(), paths.vault_path(), demo_feeds / "ground_truth")
    finally:
        if old is None:
            os.environ.pop("SLEDS_HOME", None)
        else:
            os.environ["SLEDS_HOME"] = old


def test_demo_cross_sector_accuracy_meets_the_bar(demo_linked):
    _, acc = demo_linked
    cross = acc["record_pairs"]["k12-ps"]
    assert cross["precision"] >= 0.995, cross
    assert cross["recall"] >= 0.98, cross
    assert acc["clusters"]["research_ids_with_two_or_more_true_k12_students"] == 0


def test_the_dagster_asset_reports_accuracy_as_metadata_and_a_file(lifecycle, monkeypatch):
    import dagster as dg

    from orchestration.defs.identity import research_ids

    monkeypatch.setenv("SLEDS_LANDING", str(lifecycle["feeds"] / "landing"))  # ground truth is beside it
    result = dg.materialize([research_ids])
    assert result.success
    (mat,) = result.get_asset_materialization_events()
    mat = mat.materialization
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    assert meta["k12-ps_pair_precision"] >= 0.99 and meta["research_ids_with_two_k12_students"] == 0
    assert meta["new_research_ids"] == 0  # a rerun: every ID kept
    assert (lifecycle["home"] / "reports" / "linkage_accuracy.json").exists()
    spec = research_ids.specs_by_key[dg.AssetKey(["identity", "research_ids"])]
    assert spec.group_name == "identity" and spec.tags.get("pii") == "reads-vault"
    assert {d.asset_key for d in spec.deps} >= {dg.AssetKey(["raw", f]) for f in FEEDS}
    assert research_ids.node_def.pool == "duckdb_warehouse"


def test_zz_steward_decisions_are_applied_on_the_next_run(lifecycle):
    """no_link splits an accepted pair; link joins a pair the model left apart; both
    stick. Last in this module: it changes the shared home's persons."""
    home = lifecycle["home"]
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    # an accepted deterministic or splink pair: two keys of one multi-key person
    key_a, key_b = vault.execute(
        "SELECT min(source_key), max(source_key) FROM identity.source_keys WHERE present "
        "GROUP BY research_id HAVING count(*) = 2 ORDER BY research_id LIMIT 1"
    ).fetchone()
    # two persons of one postsecondary key each, neither the one split above: linking them
    # must merge one ID into the other
    apart = vault.execute(
        "WITH single AS (SELECT research_id, min(source_key) AS k FROM identity.source_keys WHERE present "
        "GROUP BY research_id HAVING count(*) = 1 AND min(source_key) LIKE 'P:%') "
        "SELECT a.k, b.k FROM single a JOIN single b ON a.research_id < b.research_id "
        "WHERE ? NOT IN (a.research_id, b.research_id) ORDER BY 1, 2 LIMIT 1",
        [vault.execute("SELECT research_id FROM identity.source_keys WHERE source_key = ?", [key_a]).fetchone()[0]],
    ).fetchone()
    vault.close()
    record_decision(paths.vault_path(), key_a, key_b, "no_link", "test steward")
    record_decision(paths.vault_path(), apart[0], apart[1], "link", "test steward")
    report = run_identity(paths.warehouse_path(), paths.vault_path(), home)
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    rid = dict(vault.execute("SELECT source_key, research_id FROM identity.source_keys WHERE present").fetchall())
    assert rid[key_a] != rid[key_b]
    assert rid[apart[0]] == rid[apart[1]]
    merged = vault.execute("SELECT count(*) FROM identity.registry WHERE status = 'merged'").fetchone()[0]
    assert merged >= 1 and report.counts["merged_ids"] >= 1 and report.counts["split_ids"] >= 1
    queued = vault.execute(
        "SELECT count(*) FROM identity.review_queue WHERE (key_l, key_r) IN ((?, ?), (?, ?))",
        [*sorted((key_a, key_b)), *sorted(apart)],
    ).fetchone()[0]
    assert queued == 0
