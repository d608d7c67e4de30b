"""Deterministic passes over source entities (TEMP table `ent`, see standardise.py).

1. MARSS: a postsecondary entity whose MARSS number is a K-12 UIC in the data links
   to that UIC when the birthdate agrees (exactly or with day and month swapped) and
   the first or the last name agrees (nickname forms, surname history, or
   Jaro-Winkler at or above `name_similarity_min`). A disagreement is NOT a link: the
   pair goes to the clerical review queue.
2. SSN: postsecondary entities with the same (valid, non-placeholder) SSN link when
   the birthdate and the first name agree (twins share surname and birthdate but not
   first name). If any two holders of an SSN disagree, the SSN is shared: it is
   nulled for every holder, no SSN link is made from it, and when it has fewer than
   `shared_ssn_max_holders` holders the disagreeing pairs go to review.

Output TEMP tables: `det_edges(id_l, id_r, kind)` and `det_review(id_l, id_r, reason)`
with id_l < id_r.
"""

from __future__ import annotations

import duckdb


def agree_sql(sim: float) -> dict[str, str]:
    return {
        "dob": "(l.dob = r.dob OR l.dob = r.dob_swapped)",
        "first": (
            f"(len(list_intersect(l.first_forms, r.first_forms)) > 0 "
            f"OR jaro_winkler_similarity(l.first, r.first) >= {sim})"
        ),
        "last": (
            f"(len(list_intersect(l.surname_history, r.surname_history)) > 0 "
            f"OR jaro_winkler_similarity(l.last, r.last) >= {sim})"
        ),
    }


def deterministic_passes(con: duckdb.DuckDBPyConnection, name_similarity_min: float, shared_max: int) -> dict:
    a = agree_sql(name_similarity_min)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE marss_pairs AS
        SELECT least(l.entity_id, r.entity_id) AS id_l, greatest(l.entity_id, r.entity_id) AS id_r,
               {a["dob"]} AND ({a["first"]} OR {a["last"]}) AS agree
        FROM ent l JOIN ent r ON r.entity_key = 'K:' || l.marss
        WHERE l.sector = 'ps' AND l.marss IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE ssn_pairs AS
        SELECT l.ssn, l.entity_id AS id_l, r.entity_id AS id_r,
               coalesce({a["dob"]} AND {a["first"]}, false) AS agree
        FROM ent l JOIN ent r ON l.ssn = r.ssn AND l.entity_id < r.entity_id
        WHERE l.ssn IS NOT NULL
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE shared_ssn AS
        SELECT s.ssn, (SELECT count(*) FROM ent e WHERE e.ssn = s.ssn) AS holders
        FROM (SELECT DISTINCT ssn FROM ssn_pairs WHERE NOT agree) s
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE det_edges AS
        SELECT id_l, id_r, 'marss' AS kind FROM marss_pairs WHERE agree
        UNION ALL
        SELECT id_l, id_r, 'ssn' FROM ssn_pairs WHERE agree AND ssn NOT IN (SELECT ssn FROM shared_ssn)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE det_review AS
        SELECT id_l, id_r, 'marss_disagrees_with_birthdate_or_name' AS reason FROM marss_pairs
        WHERE NOT coalesce(agree, false)
        UNION ALL
        SELECT p.id_l, p.id_r, 'ssn_shared_by_different_identities' FROM ssn_pairs p
        JOIN shared_ssn s USING (ssn) WHERE NOT p.agree AND s.holders < {int(shared_max)}
        """
    )
    con.execute("UPDATE ent SET ssn = NULL WHERE ssn IN (SELECT ssn FROM shared_ssn)")
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM det_edges WHERE kind = 'marss'),
               (SELECT count(*) FROM det_edges WHERE kind = 'ssn'),
               (SELECT count(*) FROM det_review), (SELECT count(*) FROM shared_ssn)
        """
    ).fetchall()[0]
    return {"marss_links": row[0], "ssn_links": row[1], "deterministic_review": row[2], "shared_ssns_nulled": row[3]}
