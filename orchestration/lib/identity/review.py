"""The clerical review queue and the decisions stewards record (both in the vault).

`identity.review_queue` holds the pairs of source entities a person should look at:
a MARSS number whose UIC disagrees on birthdate and names, an SSN shared by
different identities, a splink score between the review and accept thresholds, or
a link refused because it would put two K-12 students in one person. It is rebuilt
every run (a pair keeps the run it was first queued in).

A steward decides a pair with `record_decision` (or an INSERT into
`identity.review_decisions`): `link` makes it an edge whatever the score, `no_link`
removes it whatever the score. Decisions are applied on every later run; a decided
pair never comes back to the queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.lib import storage

DECISIONS = ("link", "no_link")

VAULT_DDL = """
CREATE SCHEMA IF NOT EXISTS vault.identity;
CREATE TABLE IF NOT EXISTS vault.identity.review_queue (
    key_l VARCHAR, key_r VARCHAR, reason VARCHAR, match_weight DOUBLE, first_queued_run VARCHAR,
    last_seen_run VARCHAR, PRIMARY KEY (key_l, key_r));
CREATE TABLE IF NOT EXISTS vault.identity.review_decisions (
    key_l VARCHAR, key_r VARCHAR, decision VARCHAR NOT NULL, decided_by VARCHAR, decided_at TIMESTAMP,
    note VARCHAR, PRIMARY KEY (key_l, key_r));
"""


def record_decision(vault: Path, key_a: str, key_b: str, decision: str, decided_by: str, note: str = "") -> None:
    """Store a steward's decision on a pair of source keys (order does not matter);
    a later decision on the same pair replaces the earlier one."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
    key_l, key_r = sorted((key_a, key_b))
    with storage.vault(vault, access="write") as con:
        for statement in VAULT_DDL.replace("vault.", "").split(";\n"):
            if statement.strip():
                con.execute(statement)
        con.execute(
            "INSERT OR REPLACE INTO identity.review_decisions VALUES (?, ?, ?, ?, ?, ?)",
            [key_l, key_r, decision, decided_by, datetime.now(UTC).replace(tzinfo=None), note],
        )


def refresh_queue(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Replace the queue with TEMP `review_now(id_l, id_r, reason, match_weight)` minus
    decided pairs; returns the queue's size."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE review_keys AS
        SELECT least(l.entity_key, r.entity_key) AS key_l, greatest(l.entity_key, r.entity_key) AS key_r,
               arg_max(q.reason, {'w': coalesce(q.match_weight, 0), 'r': q.reason}) AS reason,
               max(q.match_weight) AS match_weight
        FROM review_now q JOIN ent l ON l.entity_id = q.id_l JOIN ent r ON r.entity_id = q.id_r
        GROUP BY ALL
        """
    )
    con.execute(
        "DELETE FROM review_keys k USING vault.identity.review_decisions d "
        "WHERE d.key_l = k.key_l AND d.key_r = k.key_r"
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE queue_next AS
            SELECT k.key_l, k.key_r, k.reason, k.match_weight, coalesce(q.first_queued_run, ?) AS first_queued_run,
                   ? AS last_seen_run
            FROM review_keys k LEFT JOIN vault.identity.review_queue q USING (key_l, key_r)
            """,
            [run_id, run_id],
        )
        con.execute("DELETE FROM vault.identity.review_queue")
        con.execute("INSERT INTO vault.identity.review_queue SELECT * FROM queue_next")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return con.execute("SELECT count(*) FROM vault.identity.review_queue").fetchall()[0][0]
