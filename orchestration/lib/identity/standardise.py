"""Standardisation in the vault: records -> standardised records -> source entities.

Everything here runs on a DuckDB connection with the vault attached as `vault`
and the warehouse as `wh`; the tables it makes are TEMP tables of that
connection (they hold PII and are never written to the warehouse).

- names: upper case, accents stripped, apostrophes dropped, hyphens and runs of
  spaces made one space; the comparison key drops the spaces too ("SMITH-JONES",
  "Smith Jones" and "SMITHJONES" agree); a first name also carries its formal
  forms from seeds/nicknames.csv (BILL -> {BILL, WILLIAM});
- dates: ISO text to DATE (anything else, including NA, is null), plus the
  day/month-swapped date where that is a real, different date;
- SSNs: null for NA, not nine digits, invalid by SSA rules (area 000, 666 or
  900-999, group 00, serial 0000), placeholders (one repeated digit, 123456789,
  987654321, 012345678); an SSN held by several distinct identities is nulled
  later (shared), at the entity level;
- MARSS numbers and UICs: ten digits and not one repeated digit, else null.

A *source entity* is what a source system keeps one identity for: a K-12 UIC
(`K:<uic>`), a postsecondary student at one institution (`P:<institution>:<student
number>`), or, when an institution sends no student number, the institution and
the standardised name and birthdate (`Q:<institution>:<md5>`). Records collapse to
entities before linkage, so the state's ~23M records become a few million rows.
"""

from __future__ import annotations

import duckdb

from orchestration.lib.paths import SEEDS_DIR

SECTOR = {"msds": "k12", "assessment": "k12", "ps_enrollment": "ps", "ps_awards": "ps"}

MACROS = r"""
CREATE OR REPLACE TEMP MACRO id_na(x) AS CASE WHEN upper(trim(x)) IN ('', 'NA', 'N/A') THEN NULL ELSE trim(x) END;
CREATE OR REPLACE TEMP MACRO std_name(x) AS nullif(trim(regexp_replace(regexp_replace(
    upper(strip_accents(coalesce(id_na(x), ''))), '[^A-Z \-]', '', 'g'), '[\s\-]+', ' ', 'g')), '');
CREATE OR REPLACE TEMP MACRO name_key(x) AS nullif(replace(std_name(x), ' ', ''), '');
CREATE OR REPLACE TEMP MACRO std_date(x) AS try_strptime(id_na(x), '%Y-%m-%d')::DATE;
CREATE OR REPLACE TEMP MACRO swapped(d) AS CASE WHEN day(d) <= 12 AND day(d) <> month(d)
    THEN make_date(year(d), day(d), month(d)) END;
CREATE OR REPLACE TEMP MACRO std_ssn(x) AS CASE
    WHEN NOT regexp_full_match(coalesce(id_na(x), ''), '[0-9]{9}') THEN NULL
    WHEN substr(x, 1, 3) IN ('000', '666') OR substr(x, 1, 1) = '9' THEN NULL
    WHEN substr(x, 4, 2) = '00' OR substr(x, 6, 4) = '0000' THEN NULL
    WHEN regexp_full_match(x, '(0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)') THEN NULL
    WHEN x IN ('123456789', '987654321', '012345678') THEN NULL
    ELSE x END;
CREATE OR REPLACE TEMP MACRO std_state_id(x) AS CASE
    WHEN NOT regexp_full_match(coalesce(id_na(x), ''), '[0-9]{10}') THEN NULL
    WHEN regexp_full_match(x, '(0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)') THEN NULL
    ELSE x END;
"""


def create_macros(con: duckdb.DuckDBPyConnection) -> None:
    for statement in MACROS.split(";\n"):
        if statement.strip():
            con.execute(statement)
    nicknames = SEEDS_DIR / "nicknames.csv"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE nick AS SELECT DISTINCT name_key(nickname) AS nickname, "
        f"name_key(formal_name) AS formal FROM read_csv('{nicknames}', header=true, all_varchar=true)"
    )


# Every loaded record with its raw identity and its source key (a VIEW: the 23M
# records of the state are read, never copied). K-12 keys are the UIC; postsecondary
# keys the institution and student number, or (rare) the institution, standardised
# name and birthdate.
RECORDS_VIEW = """
CREATE OR REPLACE TEMP VIEW rec_raw AS
WITH raw AS (
    SELECT 'msds' AS feed, i.record_token, 'k12' AS sector, std_state_id(i.uic) AS uic,
           CAST(NULL AS VARCHAR) AS inst, CAST(NULL AS VARCHAR) AS isn,
           CAST(NULL AS VARCHAR) AS ssn_text, CAST(NULL AS VARCHAR) AS marss_text,
           i.first_name, i.last_name, i.middle_name, i.date_of_birth AS dob_text, i.zip_code,
           r.gender AS sex_text, r.school_year, r.collection, r.district_code, r.exit_status
    FROM vault.landing.msds_identity i JOIN wh.raw.msds r USING (record_token)
    UNION ALL
    -- a test event is a K-12 record keyed by its UIC, like the MSDS records it links to
    SELECT 'assessment', i.record_token, 'k12', std_state_id(i.uic), NULL, NULL, NULL, NULL,
           i.first_name, i.last_name, NULL, i.date_of_birth, NULL, NULL, r.school_year, NULL, r.district_code, NULL
    FROM vault.landing.assessment_identity i JOIN wh.raw.assessment r USING (record_token)
    UNION ALL
    SELECT 'ps_enrollment', i.record_token, 'ps', NULL, r.institution_code, id_na(i.institution_student_number),
           i.ssn, i.marss_number, i.first_name, i.last_name, i.middle_name, i.birthdate,
           i.zip_code, r.sex, NULL, NULL, NULL, NULL
    FROM vault.landing.ps_enrollment_identity i JOIN wh.raw.ps_enrollment r USING (record_token)
    UNION ALL
    SELECT 'ps_awards', i.record_token, 'ps', NULL, r.institution_code, id_na(i.institution_student_number),
           i.ssn, NULL, i.first_name, i.last_name, i.middle_name, i.birthdate,
           NULL, r.sex, NULL, NULL, NULL, NULL
    FROM vault.landing.ps_awards_identity i JOIN wh.raw.ps_awards r USING (record_token)
)
SELECT *,
       CASE WHEN sector = 'k12' THEN 'K:' || coalesce(uic, 'R' || CAST(record_token AS VARCHAR))
            WHEN isn IS NOT NULL THEN 'P:' || inst || ':' || upper(isn)
            ELSE 'Q:' || inst || ':' || md5(concat_ws('|', name_key(first_name), name_key(last_name),
                                                       CAST(std_date(dob_text) AS VARCHAR)))
       END AS base_key
FROM raw
"""

# One row per identity variant of a source entity (records that carry exactly the same
# identity collapse, n counts them), standardised once per variant, not per record.
VARIANTS_SQL = """
CREATE OR REPLACE TEMP TABLE rec AS
WITH v AS (
    SELECT base_key, sector, inst, ssn_text, marss_text, first_name, last_name, middle_name, dob_text, zip_code,
           sex_text, count(*) AS n
    FROM rec_raw GROUP BY ALL
)
SELECT base_key AS entity_key, base_key, sector, inst, n,
       std_ssn(ssn_text) AS ssn, std_state_id(marss_text) AS marss,
       name_key(first_name) AS first, name_key(last_name) AS last,
       std_name(last_name) AS last_spaced, name_key(middle_name) AS middle,
       std_date(dob_text) AS dob, CASE WHEN upper(sex_text) IN ('F', 'M') THEN upper(sex_text) END AS sex,
       CASE WHEN regexp_full_match(coalesce(id_na(zip_code), ''), '[0-9]{5}') THEN zip_code END AS zip
FROM v
"""

# Every loaded record and its final source key (after duplicated UICs are split).
KEYED_VIEW = """
CREATE OR REPLACE TEMP VIEW rec_keyed AS
SELECT r.feed, r.record_token, r.sector, r.school_year, r.collection, r.district_code, r.exit_status,
       CASE WHEN u.entity_key IS NULL THEN r.base_key ELSE r.base_key || '#' || CAST(u.dob AS VARCHAR) END
           AS entity_key
FROM rec_raw r LEFT JOIN uic_split u ON u.entity_key = r.base_key AND r.sector = 'k12'
     AND u.dob = std_date(r.dob_text)
"""


ENTITIES_SQL = """
CREATE OR REPLACE TEMP TABLE ent_values AS
WITH counted AS (
    SELECT entity_key, attr, v, sum(n) AS n FROM (
        SELECT entity_key, n, UNNEST([
            {'attr': 'first', 'v': first}, {'attr': 'last', 'v': last}, {'attr': 'middle', 'v': middle},
            {'attr': 'dob', 'v': CAST(dob AS VARCHAR)}, {'attr': 'sex', 'v': sex}, {'attr': 'zip', 'v': zip},
            {'attr': 'ssn', 'v': ssn}, {'attr': 'marss', 'v': marss}], recursive := true)
        FROM rec)
    WHERE v IS NOT NULL GROUP BY ALL
)
SELECT entity_key, attr, arg_max(v, {'n': n, 'v': v}) AS v, count(*) AS n_values
FROM counted GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE ent AS
WITH base AS (
    SELECT entity_key, any_value(sector) AS sector, any_value(inst) AS inst, sum(n) AS n_records,
           list_sort(list_distinct(list(last) FILTER (WHERE last IS NOT NULL))) AS surnames,
           list_sort(list_distinct(flatten(
               list(string_split(last_spaced, ' ')) FILTER (WHERE last_spaced IS NOT NULL)))) AS surname_parts,
           list_sort(list_distinct(list(first) FILTER (WHERE first IS NOT NULL))) AS firsts,
           md5(string_agg(DISTINCT concat_ws('|', first, last, middle, dob, sex, zip, ssn, marss), '#'
               ORDER BY concat_ws('|', first, last, middle, dob, sex, zip, ssn, marss))) AS fingerprint
    FROM rec GROUP BY entity_key
), pivoted AS (
    SELECT entity_key,
           max(v) FILTER (WHERE attr = 'first') AS first, max(v) FILTER (WHERE attr = 'last') AS last,
           max(v) FILTER (WHERE attr = 'middle') AS middle, max(v) FILTER (WHERE attr = 'dob')::DATE AS dob,
           max(v) FILTER (WHERE attr = 'sex') AS sex, max(v) FILTER (WHERE attr = 'zip') AS zip,
           max(v) FILTER (WHERE attr = 'ssn') AS ssn, max(v) FILTER (WHERE attr = 'marss') AS marss,
           max(n_values) FILTER (WHERE attr = 'ssn') AS n_ssn
    FROM ent_values GROUP BY entity_key
), forms AS (
    SELECT b.entity_key, list_sort(list_distinct(list_concat(any_value(b.firsts),
           coalesce(list(n.formal) FILTER (WHERE n.formal IS NOT NULL), [])))) AS first_forms
    FROM base b LEFT JOIN (SELECT entity_key, UNNEST(firsts) AS f FROM base) u USING (entity_key)
    LEFT JOIN nick n ON n.nickname = u.f
    GROUP BY b.entity_key
)
SELECT row_number() OVER (ORDER BY b.entity_key) AS entity_id, b.entity_key, b.sector, b.inst, b.n_records,
       p.first, p.last, p.middle, substr(p.middle, 1, 1) AS middle_initial, p.dob, swapped(p.dob) AS dob_swapped,
       year(p.dob) AS birth_year, p.sex, p.zip,
       CASE WHEN coalesce(p.n_ssn, 0) <= 1 THEN p.ssn END AS ssn, p.marss,
       b.surnames, list_distinct(list_concat(b.surnames, b.surname_parts)) AS surname_history,
       f.first_forms, b.fingerprint
FROM base b JOIN pivoted p USING (entity_key) JOIN forms f USING (entity_key);
"""


# A UIC issued to two students (duplicated): its records fall into identity groups
# (birthdate, first name); a group of at least two records whose birthdate differs
# from the UIC's main group (not a day/month swap) AND whose first name is not the
# same name becomes an entity of its own, `K:<uic>#<birthdate>`. A lone keying
# error (one record with another birthdate) stays with its UIC.
DUPLICATED_UIC_SQL = """
CREATE OR REPLACE TEMP TABLE uic_split AS
WITH g AS (SELECT entity_key, dob, first, sum(n) AS n FROM rec WHERE sector = 'k12' AND dob IS NOT NULL
           GROUP BY ALL),
main AS (SELECT entity_key, arg_max(dob, {'n': n, 'dob': dob, 'first': first}) AS dob,
                arg_max(first, {'n': n, 'dob': dob, 'first': first}) AS first FROM g GROUP BY entity_key),
other AS (
    SELECT g.entity_key, g.dob FROM g JOIN main m USING (entity_key)
    WHERE g.dob <> m.dob AND g.dob IS DISTINCT FROM swapped(m.dob)
      AND coalesce(jaro_winkler_similarity(g.first, m.first) < 0.8, false)
      AND NOT EXISTS (SELECT 1 FROM nick a JOIN nick b ON a.formal = b.formal
                      WHERE a.nickname = g.first AND b.nickname = m.first)
      AND g.first NOT IN (SELECT nickname FROM nick WHERE formal = m.first)
      AND m.first NOT IN (SELECT nickname FROM nick WHERE formal = g.first)
    GROUP BY ALL HAVING sum(g.n) >= 2
)
SELECT entity_key, dob FROM other;
UPDATE rec SET entity_key = rec.entity_key || '#' || CAST(rec.dob AS VARCHAR)
FROM uic_split u WHERE u.entity_key = rec.entity_key AND u.dob = rec.dob
"""


def build_entities(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Create TEMP table `rec` (one standardised row per identity variant of a source
    entity, with its record count n), TEMP table `ent` (one row per source entity) and
    TEMP view `rec_keyed` (every loaded record with its source key). Returns counts
    (no values)."""
    create_macros(con)
    con.execute(RECORDS_VIEW)
    con.execute(VARIANTS_SQL)
    for statement in DUPLICATED_UIC_SQL.split(";\n"):
        if statement.strip():
            con.execute(statement)
    con.execute(KEYED_VIEW)
    for statement in ENTITIES_SQL.split(";\n"):
        if statement.strip():
            con.execute(statement)
    records, entities, k12, ps = con.execute(
        "SELECT (SELECT sum(n) FROM rec), count(*), count(*) FILTER (WHERE sector = 'k12'), "
        "count(*) FILTER (WHERE sector = 'ps') FROM ent"
    ).fetchall()[0]
    split = con.execute("SELECT count(*) FROM uic_split").fetchall()[0][0]
    return {"records": records, "entities": entities, "k12_entities": k12, "ps_entities": ps, "duplicated_uics": split}
