"""Research IDs: random, stable through reloads and new data, never reused.

Vault tables (schema `identity` of the vault, the crosswalk lives only there):

- `source_keys(source_key, research_id, first_run, last_run, present)`: every
  persistent source key (a K-12 UIC, an institution + student number, ...) and the
  research ID it belongs to now. Keys that disappear keep their row (present =
  false), so when their records come back they come back to their person.
- `registry(research_id, status, merged_into, split_from, created_run, updated_run)`:
  every research ID ever issued; status is `active`, `merged` (merged_into names the
  surviving ID) or `retired` (no records any more). An ID is never issued twice.

Each run clusters from scratch, then assigns IDs by overlap with the previous
assignment of the cluster's source keys: the cluster holding most of an ID's keys
keeps it (a split keeps the largest part's ID; the other parts get new IDs with
split_from); an ID whose keys all joined a cluster that kept another ID is merged
into it; a cluster with no previous keys gets a fresh random ID.
"""

from __future__ import annotations

import secrets

import duckdb
import numpy as np

VAULT_DDL = """
CREATE SCHEMA IF NOT EXISTS vault.identity;
CREATE TABLE IF NOT EXISTS vault.identity.source_keys (
    source_key VARCHAR PRIMARY KEY, research_id VARCHAR NOT NULL, first_run VARCHAR, last_run VARCHAR,
    present BOOLEAN);
CREATE TABLE IF NOT EXISTS vault.identity.registry (
    research_id VARCHAR PRIMARY KEY, status VARCHAR NOT NULL, merged_into VARCHAR, split_from VARCHAR,
    created_run VARCHAR, updated_run VARCHAR);
"""


def new_research_id() -> str:
    """'R' + 16 upper-case hex digits from the OS's CSPRNG: 64 random bits, derived
    from nothing."""
    return "R" + secrets.token_hex(8).upper()


def _fresh_ids(con: duckdb.DuckDBPyConnection, n: int) -> list[str]:
    """n new IDs, none of them ever issued before (checked against the registry)."""
    out: set[str] = set()
    while len(out) < n:
        batch = {new_research_id() for _ in range(n - len(out))} - out
        con.register("candidate_ids", {"research_id": np.array(sorted(batch), dtype=object)})
        clash = {
            r
            for (r,) in con.execute(
                "SELECT CAST(c.research_id AS VARCHAR) FROM candidate_ids c "
                "WHERE CAST(c.research_id AS VARCHAR) IN (SELECT research_id FROM vault.identity.registry)"
            ).fetchall()
        }
        con.unregister("candidate_ids")
        out |= batch - clash
    return sorted(out)


def assign_research_ids(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Reads TEMP `clusters(entity_id, cluster)` and `ent(entity_id, entity_key, n_records)`;
    updates the vault's source_keys and registry (one vault transaction) and leaves
    TEMP `cluster_ids(cluster, research_id)`."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cur AS SELECT c.cluster, e.entity_key, e.n_records "
        "FROM clusters c JOIN ent e USING (entity_id)"
    )
    overlap = con.execute(
        """
        SELECT c.cluster, s.research_id, count(*) AS keys, sum(c.n_records) AS recs
        FROM cur c JOIN vault.identity.source_keys s ON s.source_key = c.entity_key
        GROUP BY ALL ORDER BY keys DESC, recs DESC, s.research_id, c.cluster
        """
    ).fetchnumpy()
    clusters = np.asarray(overlap["cluster"], dtype=np.int64)
    rids = np.asarray(overlap["research_id"], dtype=object)
    # one-to-one, greedy by overlap: each previous ID to at most one cluster and back
    assigned: dict[int, str] = {}
    taken: set[str] = set()
    for c, r in zip(clusters.tolist(), rids.tolist(), strict=True):
        if c in assigned or r in taken:
            continue
        assigned[c] = r
        taken.add(r)
    # the largest previous ID of each cluster left without one (a split part)
    split_from: dict[int, str] = {}
    for c, r in zip(clusters.tolist(), rids.tolist(), strict=True):
        if c not in assigned and c not in split_from:
            split_from[c] = r
    all_clusters = con.execute("SELECT DISTINCT cluster FROM cur ORDER BY 1").fetchnumpy()["cluster"].tolist()
    fresh = [c for c in all_clusters if c not in assigned]
    new_ids = _fresh_ids(con, len(fresh))
    new_rows = []
    for c, rid in zip(fresh, new_ids, strict=True):
        assigned[c] = rid
        new_rows.append((rid, split_from.get(c)))
    con.register(
        "assigned_frame",
        {"cluster": np.array(list(assigned), dtype=np.int64), "research_id": np.array(list(assigned.values()))},
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cluster_ids AS SELECT cluster, CAST(research_id AS VARCHAR) AS research_id "
        "FROM assigned_frame"
    )
    con.unregister("assigned_frame")
    con.register(
        "new_frame",
        {
            "research_id": np.array([r for r, _ in new_rows], dtype=object),
            "split_from": np.array([s for _, s in new_rows], dtype=object),
        },
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE new_ids AS SELECT CAST(research_id AS VARCHAR) AS research_id, "
        "CAST(split_from AS VARCHAR) AS split_from FROM new_frame"
    )
    con.unregister("new_frame")

    # previous active IDs that no cluster kept: merged (their keys are in another
    # person now) or retired (none of their keys is present)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE fate AS
        WITH prev AS (SELECT research_id FROM vault.identity.registry WHERE status = 'active'
                      AND research_id NOT IN (SELECT research_id FROM cluster_ids)),
        holder AS (SELECT s.research_id, i.research_id AS into_id, count(*) AS n
                   FROM vault.identity.source_keys s JOIN cur c ON c.entity_key = s.source_key
                   JOIN cluster_ids i USING (cluster) WHERE s.research_id IN (SELECT research_id FROM prev)
                   GROUP BY ALL)
        SELECT p.research_id, arg_max(h.into_id, {'n': h.n, 'id': h.into_id}) AS merged_into
        FROM prev p LEFT JOIN holder h USING (research_id) GROUP BY p.research_id
        """
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO vault.identity.registry SELECT research_id, 'active', NULL, split_from, ?, ? FROM new_ids",
            [run_id, run_id],
        )
        # an ID that comes back (its keys reappeared) is active again: same person, not a reuse
        con.execute(
            "UPDATE vault.identity.registry SET status = 'active', merged_into = NULL, updated_run = ? "
            "WHERE status <> 'active' AND research_id IN (SELECT research_id FROM cluster_ids)",
            [run_id],
        )
        con.execute(
            """
            UPDATE vault.identity.registry r SET status = CASE WHEN f.merged_into IS NULL THEN 'retired' ELSE 'merged'
                END, merged_into = f.merged_into, updated_run = ?
            FROM fate f WHERE f.research_id = r.research_id
            """,
            [run_id],
        )
        # every key (present or not) of a merged ID follows it into the survivor
        con.execute(
            "UPDATE vault.identity.source_keys s SET research_id = f.merged_into FROM fate f "
            "WHERE f.research_id = s.research_id AND f.merged_into IS NOT NULL"
        )
        con.execute("UPDATE vault.identity.source_keys SET present = false WHERE present")
        con.execute(
            """
            INSERT INTO vault.identity.source_keys
            SELECT c.entity_key, i.research_id, ?, ?, true FROM cur c JOIN cluster_ids i USING (cluster)
            ON CONFLICT (source_key) DO UPDATE SET research_id = excluded.research_id,
                last_run = excluded.last_run, present = true
            """,
            [run_id, run_id],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM new_ids), (SELECT count(*) FROM new_ids WHERE split_from IS NOT NULL),
               (SELECT count(*) FROM fate WHERE merged_into IS NOT NULL),
               (SELECT count(*) FROM fate WHERE merged_into IS NULL)
        """
    ).fetchall()[0]
    return {
        "persons": len(all_clusters),
        "new_ids": row[0],
        "split_ids": row[1],
        "merged_ids": row[2],
        "retired_ids": row[3],
        "kept_ids": len(all_clusters) - row[0],
    }
