"""One identity run: vault identities -> persons -> research IDs in the warehouse.

1. standardise every loaded record and collapse records to source entities (vault side);
2. deterministic passes (MARSS, SSN), then splink on the entities (incremental when a
   trained model exists: only pairs involving a new or changed entity are scored);
3. cluster (deterministic links + accepted splink pairs + steward decisions) without
   ever joining two K-12 students; refresh the review queue;
4. assign research IDs by overlap with the previous assignment (vault);
5. write `identity.record_research_ids`, `identity.persons` and `identity.linkage_runs`
   to the warehouse (research IDs and counts only).

Nothing this module logs or returns contains a value from the vault.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np

from orchestration.lib.identity import cluster as clustering
from orchestration.lib.identity import ids, probabilistic, review
from orchestration.lib.identity.config import Thresholds
from orchestration.lib.identity.deterministic import deterministic_passes
from orchestration.lib.identity.standardise import build_entities
from orchestration.lib.reference import FEEDS
from orchestration.lib.storage import warehouse_with_vault

DETERMINISTIC_WEIGHT = 1000.0  # above any splink weight: deterministic links are applied first
DECISION_WEIGHT = 2000.0  # a steward's "link" outranks everything

VAULT_DDL = """
CREATE SCHEMA IF NOT EXISTS vault.identity;
CREATE TABLE IF NOT EXISTS vault.identity.entities (
    entity_key VARCHAR PRIMARY KEY, fingerprint VARCHAR, last_run VARCHAR);
CREATE TABLE IF NOT EXISTS vault.identity.splink_edges (
    key_l VARCHAR, key_r VARCHAR, match_weight DOUBLE, scored_run VARCHAR);
CREATE TABLE IF NOT EXISTS vault.identity.model (
    trained_run VARCHAR, trained_at TIMESTAMP, entities BIGINT, model_json VARCHAR);
CREATE TABLE IF NOT EXISTS vault.identity.runs (
    run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, summary_json VARCHAR);
"""

WAREHOUSE_DDL = """
CREATE SCHEMA IF NOT EXISTS wh.identity;
"""


@dataclass
class IdentityReport:
    run_id: str
    counts: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    cluster_sizes: dict = field(default_factory=dict)
    mode: str = ""

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "counts": self.counts,
            "timings_seconds": self.timings,
            "cluster_size_distribution": self.cluster_sizes,
        }


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _ddl(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    for statement in sql.split(";\n"):
        if statement.strip():
            con.execute(statement)


def _tables(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?", [catalog, schema]
        ).fetchall()
    }


def run_identity(
    warehouse: Path,
    vault: Path,
    home: Path,
    *,
    thresholds: Thresholds | None = None,
    retrain: bool = False,
    rescore: bool = False,
    progress: Callable[[str], None] = lambda msg: None,
) -> IdentityReport:
    """Run the identity stage; the connection is closed on return. `retrain` trains a
    new splink model; `rescore` scores every blocked pair again with the kept model."""
    t = thresholds or Thresholds.from_seed()
    report = IdentityReport(new_run_id())
    started = datetime.now(UTC).replace(tzinfo=None)
    with warehouse_with_vault(warehouse, vault, vault_access="write", home=home) as con:
        _run(con, t, report, retrain, rescore, progress)
        con.execute(
            "INSERT INTO vault.identity.runs VALUES (?, ?, ?, ?)",
            [report.run_id, started, datetime.now(UTC).replace(tzinfo=None), json.dumps(report.as_dict())],
        )
    return report


def _step(report: IdentityReport, name: str, began: float) -> float:
    now = time.monotonic()
    report.timings[name] = round(now - began, 2)
    return now


def _run(con, t: Thresholds, report: IdentityReport, retrain: bool, rescore: bool, progress) -> None:
    began = clock = time.monotonic()
    _ddl(con, VAULT_DDL)
    _ddl(con, ids.VAULT_DDL)
    _ddl(con, review.VAULT_DDL)
    _ddl(con, WAREHOUSE_DDL)
    missing = [
        f
        for f in FEEDS
        if f not in _tables(con, "wh", "raw") or f"{f}_identity" not in _tables(con, "vault", "landing")
    ]
    _ensure_empty_feeds(con, missing)

    # 1. standardise and collapse to entities
    report.counts.update(build_entities(con))
    progress(f"identity: {report.counts['records']:,} records -> {report.counts['entities']:,} source entities")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ent_changed AS
        SELECT e.entity_id, (p.fingerprint IS NULL OR p.fingerprint <> e.fingerprint) AS changed
        FROM ent e LEFT JOIN vault.identity.entities p USING (entity_key)
        """
    )
    changed, vanished = con.execute(
        "SELECT (SELECT count(*) FROM ent_changed WHERE changed), "
        "(SELECT count(*) FROM vault.identity.entities WHERE entity_key NOT IN (SELECT entity_key FROM ent))"
    ).fetchall()[0]
    report.counts.update({"entities_new_or_changed": changed, "entities_vanished": vanished})
    clock = _step(report, "standardise", clock)

    # 2a. deterministic passes
    report.counts.update(deterministic_passes(con, t.name_similarity_min, t.shared_ssn_max_holders))
    _det_labels(con)
    clock = _step(report, "deterministic", clock)

    # 2b. splink (train when needed; score all pairs or only those touching changed entities)
    con.execute(probabilistic.INPUT_SQL)
    stored = con.execute(
        "SELECT model_json, entities FROM vault.identity.model ORDER BY trained_at DESC LIMIT 1"
    ).fetchall()
    n_ent = report.counts["entities"]
    need_train = retrain or not stored or (n_ent > stored[0][1] * (1 + t.retrain_growth))
    if n_ent < 2:
        model = None
        report.mode = "empty"
    elif need_train:
        progress("identity: training the splink model (u by random sampling, m from MARSS/SSN links)")
        model = probabilistic.train(con, u_max_pairs=t.u_max_pairs, seed=t.random_seed)
        con.execute(
            "INSERT INTO vault.identity.model VALUES (?, ?, ?, ?)",
            [report.run_id, datetime.now(UTC).replace(tzinfo=None), n_ent, probabilistic.model_json(model)],
        )
        report.mode = "full (model trained)"
    else:
        model = json.loads(stored[0][0])
        report.mode = "full (kept model)" if rescore else "incremental"
    clock = _step(report, "train", clock)
    if model is not None and (report.mode.startswith("full") or changed or vanished):
        incremental = report.mode == "incremental"
        scored = probabilistic.predict(con, model, incremental=incremental, min_weight=t.review_match_weight)
        report.counts["splink_pairs_scored_at_or_above_review"] = scored
        _store_splink_edges(con, report.run_id, incremental)
    else:
        report.counts["splink_pairs_scored_at_or_above_review"] = 0
        con.execute(
            "DELETE FROM vault.identity.splink_edges WHERE key_l NOT IN (SELECT entity_key FROM ent) "
            "OR key_r NOT IN (SELECT entity_key FROM ent)"
        )
    clock = _step(report, "splink", clock)

    # 3. edges, clustering, review queue
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE sp_current AS
        SELECT least(l.entity_id, r.entity_id) AS id_l, greatest(l.entity_id, r.entity_id) AS id_r, s.match_weight
        FROM vault.identity.splink_edges s JOIN ent l ON l.entity_key = s.key_l JOIN ent r ON r.entity_key = s.key_r;
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE decisions AS
        SELECT least(l.entity_id, r.entity_id) AS id_l, greatest(l.entity_id, r.entity_id) AS id_r, d.decision
        FROM vault.identity.review_decisions d JOIN ent l ON l.entity_key = d.key_l JOIN ent r ON r.entity_key = d.key_r
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE edges AS
        WITH e AS (
            SELECT id_l, id_r, {DETERMINISTIC_WEIGHT} AS weight FROM det_edges
            UNION ALL SELECT id_l, id_r, match_weight FROM sp_current WHERE match_weight >= {t.accept_match_weight}
            UNION ALL SELECT id_l, id_r, {DECISION_WEIGHT} FROM decisions WHERE decision = 'link'
        )
        SELECT id_l, id_r, max(weight) AS weight FROM e
        WHERE (id_l, id_r) NOT IN (SELECT (id_l, id_r) FROM decisions WHERE decision = 'no_link')
        GROUP BY ALL
        """
    )
    result = clustering.cluster(con)
    report.counts["k12_conflicts_split"] = result.conflicted_components
    report.counts["links_refused_two_k12_students"] = len(result.refused_edges)
    con.register(
        "refused_frame",
        {
            "id_l": np.array([a for a, _ in result.refused_edges], dtype=np.int64),
            "id_r": np.array([b for _, b in result.refused_edges], dtype=np.int64),
        },
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE review_now AS
        SELECT id_l, id_r, reason, CAST(NULL AS DOUBLE) AS match_weight FROM det_review
        UNION ALL
        SELECT id_l, id_r, 'splink_score_between_review_and_accept', match_weight FROM sp_current
        WHERE match_weight >= {t.review_match_weight} AND match_weight < {t.accept_match_weight}
        UNION ALL
        SELECT least(id_l, id_r), greatest(id_l, id_r), 'link_would_join_two_k12_students', NULL FROM refused_frame
        """
    )
    con.unregister("refused_frame")
    con.execute(
        """
        DELETE FROM review_now q USING clusters a, clusters b
        WHERE a.entity_id = q.id_l AND b.entity_id = q.id_r AND a.cluster = b.cluster
          AND q.reason = 'splink_score_between_review_and_accept'
        """
    )
    report.counts["review_queue"] = review.refresh_queue(con, report.run_id)
    report.counts["splink_links_accepted"] = con.execute(
        f"SELECT count(*) FROM sp_current WHERE match_weight >= {t.accept_match_weight}"
    ).fetchall()[0][0]
    clock = _step(report, "cluster", clock)

    # 4. research IDs (vault transaction)
    report.counts.update(ids.assign_research_ids(con, report.run_id))
    clock = _step(report, "assign_ids", clock)

    # 5. the warehouse (one transaction): record -> research ID, persons, the run
    _write_warehouse(con, report)
    report.cluster_sizes = _cluster_sizes(con)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM vault.identity.entities")
    con.execute("INSERT INTO vault.identity.entities SELECT entity_key, fingerprint, ? FROM ent", [report.run_id])
    con.execute("COMMIT")
    clock = _step(report, "write", clock)
    report.timings["total"] = round(time.monotonic() - began, 2)
    minutes = max(report.timings["total"], 1e-9) / 60
    report.counts["records_per_minute"] = int(report.counts["records"] / minutes)
    progress(
        f"identity: {report.counts['persons']:,} persons ({report.counts['new_ids']:,} new IDs, "
        f"{report.counts['merged_ids']:,} merged), review queue {report.counts['review_queue']:,}, "
        f"{report.timings['total']}s"
    )


def _ensure_empty_feeds(con, missing: list[str]) -> None:
    """A feed never loaded yet: empty stand-ins so the union of feeds still works."""
    from orchestration.lib.ingest.schema import ensure_tables
    from orchestration.lib.reference import feed_layout

    for feed in missing:
        layout = feed_layout(feed)
        ensure_tables(con, feed, [c.name for c in layout if c.pii], [c.name for c in layout if not c.pii])


def _det_labels(con) -> None:
    """Deterministic clusters (MARSS/SSN links only) label the entities that carry a
    MARSS number or SSN: splink's m is estimated from pairs sharing a label."""
    n = con.execute("SELECT coalesce(max(entity_id), 0) + 1 FROM ent").fetchall()[0][0]
    edges = con.execute("SELECT id_l, id_r FROM det_edges").fetchnumpy()
    labels = clustering._components(n, np.asarray(edges["id_l"], np.int64), np.asarray(edges["id_r"], np.int64))
    sizes = np.bincount(labels)
    ids_ = np.arange(n, dtype=np.int64)
    linked = sizes[labels] > 1
    con.register("det_frame", {"entity_id": ids_[linked], "det_label": labels[linked].astype(np.int64)})
    con.execute("CREATE OR REPLACE TEMP TABLE det_labels AS SELECT entity_id, det_label FROM det_frame")
    con.unregister("det_frame")


def _store_splink_edges(con, run_id: str, incremental: bool) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        if incremental:
            con.execute(
                """
                DELETE FROM vault.identity.splink_edges s
                WHERE s.key_l NOT IN (SELECT e.entity_key FROM ent e JOIN ent_changed c USING (entity_id)
                                      WHERE NOT c.changed)
                   OR s.key_r NOT IN (SELECT e.entity_key FROM ent e JOIN ent_changed c USING (entity_id)
                                      WHERE NOT c.changed)
                """
            )
        else:
            con.execute("DELETE FROM vault.identity.splink_edges")
        con.execute(
            """
            INSERT INTO vault.identity.splink_edges
            SELECT least(l.entity_key, r.entity_key), greatest(l.entity_key, r.entity_key), p.match_weight, ?
            FROM sp_pairs p JOIN ent l ON l.entity_id = p.id_l JOIN ent r ON r.entity_id = p.id_r
            """,
            [run_id],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _write_warehouse(con, report: IdentityReport) -> None:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE person_stats AS
        SELECT i.research_id, sum(e.n_records) AS n_records, count(*) AS n_source_entities,
               bool_or(e.sector = 'k12') AS has_k12, bool_or(e.sector = 'ps') AS has_ps
        FROM ent e JOIN clusters c USING (entity_id) JOIN cluster_ids i USING (cluster)
        GROUP BY ALL
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE new_record_ids AS
        SELECT r.feed, r.record_token, i.research_id
        FROM rec_keyed r JOIN ent e USING (entity_key) JOIN clusters c USING (entity_id)
        JOIN cluster_ids i USING (cluster)
        """
    )
    # which feeds' records got, lost or changed a research ID in this run: a build that loaded
    # only K-12 files rebuilds the postsecondary marts only if some of their records moved
    report.counts.update({f"research_ids_changed_{feed}": n for feed, n in _changes_by_feed(con).items()})
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE OR REPLACE TABLE wh.identity.record_research_ids AS SELECT * FROM new_record_ids")
        con.execute(
            """
            CREATE OR REPLACE TABLE wh.identity.persons AS
            SELECT g.research_id, g.status, g.merged_into, g.split_from, g.created_run AS first_seen_run,
                   g.updated_run AS last_status_run, coalesce(p.n_records, 0) AS n_records,
                   coalesce(p.n_source_entities, 0) AS n_source_entities,
                   CASE WHEN p.has_k12 AND p.has_ps THEN 'k12+ps' WHEN p.has_k12 THEN 'k12'
                        WHEN p.has_ps THEN 'ps' END AS sectors
            FROM vault.identity.registry g LEFT JOIN person_stats p USING (research_id)
            ORDER BY g.research_id
            """
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS wh.identity.linkage_runs (run_id VARCHAR, finished_at TIMESTAMP, "
            "mode VARCHAR, summary_json VARCHAR)"
        )
        con.execute(
            "INSERT INTO wh.identity.linkage_runs VALUES (?, ?, ?, ?)",
            [report.run_id, datetime.now(UTC).replace(tzinfo=None), report.mode, json.dumps(report.counts)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def latest_changes_by_feed(warehouse: Path) -> dict[str, int | None]:
    """Per feed, how many records' research IDs the last identity run changed (None: not
    known, e.g. a run from before this was recorded: treat as changed)."""
    from orchestration.lib import storage

    with storage.warehouse(warehouse, read_only=True) as con:
        row = con.execute("SELECT summary_json FROM identity.linkage_runs ORDER BY finished_at DESC LIMIT 1").fetchone()
    counts = json.loads(row[0]) if row else {}
    return {feed: counts.get(f"research_ids_changed_{feed}") for feed in FEEDS}


def _changes_by_feed(con) -> dict[str, int]:
    """Rows of (feed, record, research ID) that differ between the table in the warehouse
    and the one this run is about to write, per feed (every feed listed, 0 if none)."""
    if "record_research_ids" not in _tables(con, "wh", "identity"):
        counts = dict(con.execute("SELECT feed, count(*) FROM new_record_ids GROUP BY feed").fetchall())
    else:
        counts = dict(
            con.execute(
                """
                SELECT feed, count(*) FROM (
                    (SELECT * FROM new_record_ids EXCEPT ALL SELECT * FROM wh.identity.record_research_ids)
                    UNION ALL
                    (SELECT * FROM wh.identity.record_research_ids EXCEPT ALL SELECT * FROM new_record_ids)
                ) GROUP BY feed
                """
            ).fetchall()
        )
    return {feed: int(counts.get(feed, 0)) for feed in FEEDS}


def _cluster_sizes(con) -> dict:
    rows = con.execute(
        """
        SELECT CASE WHEN n >= 10 THEN '10+' WHEN n >= 5 THEN '5-9' ELSE CAST(n AS VARCHAR) END AS size, count(*)
        FROM (SELECT cluster, count(*) AS n FROM clusters GROUP BY cluster) GROUP BY 1 ORDER BY min(n)
        """
    ).fetchall()
    return {"source_entities_per_person": {k: v for k, v in rows}}
