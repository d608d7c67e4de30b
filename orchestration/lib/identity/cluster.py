"""Clustering source entities into persons, never putting two K-12 students together.

Edges: deterministic links, splink pairs at or above the accept threshold, and
clerical decisions "link"; pairs decided "no_link" are removed whatever their score.
Connected components are the persons, except that a component may not hold two
K-12 UICs that are known to be different students:

- different sex or birthdate (K-12 core data come from the PEPE, so a reissued UIC
  carries the same ones), or first names that are not the same name (forms or
  Jaro-Winkler >= 0.8);
- or both reported as enrolled (no exit, or exit status 19 "continuing") in the
  same collection of the same school year, by any districts: one student is not
  enrolled twice at once (a reissued UIC comes with a move, and the old UIC's
  record in that collection carries the exit; twins sit side by side; two
  students who share name, birthdate and sex are both enrolled somewhere).

A component with such a pair is re-clustered greedily: edges strongest first
(decisions, then deterministic links, then splink by match weight), and an edge
that would join two known-distinct K-12 students is refused (counted, and the
pair is sent to review).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

DISTINCT_K12_SQL = """
CREATE OR REPLACE TEMP TABLE k12_distinct AS
WITH k AS (SELECT entity_id, component FROM comp JOIN ent USING (entity_id) WHERE ent.sector = 'k12'
           AND component IN (SELECT component FROM comp JOIN ent USING (entity_id) WHERE ent.sector = 'k12'
                             GROUP BY component HAVING count(*) > 1)),
pairs AS (SELECT a.entity_id AS id_l, b.entity_id AS id_r FROM k a JOIN k b
          ON a.component = b.component AND a.entity_id < b.entity_id),
seen AS (SELECT DISTINCT e.entity_id, r.school_year, r.collection
         FROM rec_keyed r JOIN ent e USING (entity_key)
         WHERE r.sector = 'k12' AND e.entity_id IN (SELECT entity_id FROM k)
         AND r.collection IN ('FALL', 'SPRING', 'EOY') AND coalesce(r.exit_status, '19') = '19')
SELECT p.id_l, p.id_r FROM pairs p JOIN ent l ON l.entity_id = p.id_l JOIN ent r ON r.entity_id = p.id_r
WHERE coalesce(l.sex <> r.sex, false)
   OR coalesce(NOT (l.dob = r.dob OR l.dob = r.dob_swapped), false)
   OR coalesce(NOT (len(list_intersect(l.first_forms, r.first_forms)) > 0
                    OR jaro_winkler_similarity(l.first, r.first) >= 0.8), false)
   OR EXISTS (SELECT 1 FROM seen a JOIN seen b USING (school_year, collection)
              WHERE a.entity_id = p.id_l AND b.entity_id = p.id_r)
"""


@dataclass
class ClusterResult:
    components: int
    refused_edges: list[tuple[int, int]]
    conflicted_components: int


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def cluster(con: duckdb.DuckDBPyConnection) -> ClusterResult:
    """Reads TEMP tables `ent(entity_id, ...)` and `edges(id_l, id_r, weight)`; writes
    TEMP table `clusters(entity_id, cluster)` (cluster = smallest entity_id in it)."""
    n = con.execute("SELECT coalesce(max(entity_id), 0) + 1 FROM ent").fetchall()[0][0]
    edges = con.execute("SELECT id_l, id_r, weight FROM edges").fetchnumpy()
    left = np.asarray(edges["id_l"], dtype=np.int64)
    right = np.asarray(edges["id_r"], dtype=np.int64)
    weight = np.asarray(edges["weight"], dtype=np.float64)
    labels = _components(n, left, right)
    con.execute("CREATE OR REPLACE TEMP TABLE comp (entity_id BIGINT, component BIGINT)")
    ids = np.arange(n, dtype=np.int64)
    con.register("comp_frame", {"entity_id": ids, "component": labels.astype(np.int64)})
    con.execute("INSERT INTO comp SELECT entity_id, component FROM comp_frame")
    con.unregister("comp_frame")
    con.execute(DISTINCT_K12_SQL)
    distinct = con.execute("SELECT id_l, id_r FROM k12_distinct").fetchall()
    refused: list[tuple[int, int]] = []
    conflicted = set()
    if distinct:
        bad = {(int(a), int(b)) for a, b in distinct}
        conflicted = {int(labels[a]) for a, _ in bad}
        is_k12 = np.zeros(n, dtype=bool)
        k12_ids = con.execute("SELECT entity_id FROM ent WHERE sector = 'k12'").fetchnumpy()["entity_id"]
        is_k12[np.asarray(k12_ids, dtype=np.int64)] = True
        in_conflict = np.isin(labels[left], list(conflicted))
        keep = ~in_conflict
        sub = np.flatnonzero(in_conflict)
        order = sub[np.lexsort((right[sub], left[sub], -weight[sub]))]
        parent: dict[int, int] = {}
        members: dict[int, list[int]] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:
                parent[x], x = root, parent[x]
            return root

        accepted = []
        for i in order:
            a, b = int(left[i]), int(right[i])
            ra, rb = find(a), find(b)
            if ra == rb:
                accepted.append(i)
                continue
            ka = members.get(ra, [a] if is_k12[a] else [])
            kb = members.get(rb, [b] if is_k12[b] else [])
            if any((min(x, y), max(x, y)) in bad for x in ka for y in kb):
                refused.append((a, b))
                continue
            parent[rb] = ra
            members[ra] = ka + kb
            members.pop(rb, None)
            accepted.append(i)
        keep[np.asarray(accepted, dtype=np.int64)] = True
        labels = _components(n, left[keep], right[keep])
    # cluster label: the smallest entity id in the component (stable within a run)
    smallest = np.full(labels.max() + 1 if n else 0, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    con.register("cluster_frame", {"entity_id": np.arange(n, dtype=np.int64), "cluster": smallest[labels]})
    con.execute(
        "CREATE OR REPLACE TEMP TABLE clusters AS SELECT c.entity_id, c.cluster FROM cluster_frame c "
        "SEMI JOIN ent e ON e.entity_id = c.entity_id"
    )
    con.unregister("cluster_frame")
    count = con.execute("SELECT count(DISTINCT cluster) FROM clusters").fetchall()[0][0]
    return ClusterResult(count, refused, len(conflicted))
