"""The probabilistic pass: splink 5 on DuckDB over source entities.

One row per source entity (TEMP table `ent`), never per record. The model:

- comparisons suited to this domain: first name (exact with term-frequency
  adjustment, nickname forms from seeds/nicknames.csv, Jaro-Winkler), last name
  (exact with term frequencies, surname history: any surname ever reported for
  either entity, Jaro-Winkler), birthdate (exact, day and month swapped, one
  character apart, same year), middle name (exact, initial), sex, ZIP code;
- tight blocking rules (birthdate with surname or first name, the swapped
  birthdate likewise, birthdate with ZIP and sex, full name with birth year);
- m estimated from the pairs the deterministic passes linked (records carrying a
  MARSS number or SSN: `det_label`), u from random sampling (seeded), the prior
  from those deterministic rules.

The trained model (no data in it: comparison SQL and m/u probabilities) is kept
in the vault and reused by later runs, which score only pairs that involve a new
or changed entity (the `changed` flag is added to every blocking rule).
"""

from __future__ import annotations

import json
import logging

import duckdb

BLOCKING_RULES = [
    "l.dob = r.dob AND l.last = r.last",
    "l.dob = r.dob AND l.first = r.first",
    "l.dob_swapped = r.dob AND l.last = r.last",
    "l.dob_swapped = r.dob AND l.first = r.first",
    "l.dob = r.dob AND l.zip = r.zip AND l.sex = r.sex",
    "l.first = r.first AND l.last = r.last AND l.birth_year = r.birth_year",
]

INPUT_SQL = """
CREATE OR REPLACE TEMP TABLE sp_input AS
SELECT e.entity_id AS unique_id, e.sector, e.first, e.last, e.middle, e.middle_initial,
       CAST(e.dob AS VARCHAR) AS dob, CAST(e.dob_swapped AS VARCHAR) AS dob_swapped, e.birth_year,
       e.sex, e.zip, e.surname_history, e.first_forms,
       CASE WHEN e.sector = 'k12' THEN substr(e.entity_key, 3) ELSE e.marss END AS state_id, e.ssn,
       d.det_label, coalesce(c.changed, true) AS changed
FROM ent e LEFT JOIN det_labels d USING (entity_id) LEFT JOIN ent_changed c USING (entity_id)
"""


def _null(col: str) -> dict:
    return {"sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL", "label_for_charts": "null", "is_null_level": True}


def _else() -> dict:
    return {"sql_condition": "ELSE", "label_for_charts": "else"}


def comparisons() -> list[dict]:
    return [
        {
            "output_column_name": "first",
            "comparison_description": "first name: exact, nickname forms, similar",
            "comparison_levels": [
                _null("first"),
                {
                    "sql_condition": "first_l = first_r",
                    "label_for_charts": "exact",
                    "tf_adjustment_column": "first",
                    "tf_adjustment_weight": 1.0,
                },
                {
                    "sql_condition": "len(list_intersect(first_forms_l, first_forms_r)) > 0",
                    "label_for_charts": "nickname or variant",
                },
                {"sql_condition": "jaro_winkler_similarity(first_l, first_r) >= 0.9", "label_for_charts": "jw>=0.9"},
                {"sql_condition": "jaro_winkler_similarity(first_l, first_r) >= 0.8", "label_for_charts": "jw>=0.8"},
                _else(),
            ],
        },
        {
            "output_column_name": "last",
            "comparison_description": "last name: exact, surname history, similar",
            "comparison_levels": [
                _null("last"),
                {
                    "sql_condition": "last_l = last_r",
                    "label_for_charts": "exact",
                    "tf_adjustment_column": "last",
                    "tf_adjustment_weight": 1.0,
                },
                {
                    "sql_condition": "len(list_intersect(surname_history_l, surname_history_r)) > 0",
                    "label_for_charts": "surname history",
                },
                {"sql_condition": "jaro_winkler_similarity(last_l, last_r) >= 0.9", "label_for_charts": "jw>=0.9"},
                {"sql_condition": "jaro_winkler_similarity(last_l, last_r) >= 0.8", "label_for_charts": "jw>=0.8"},
                _else(),
            ],
        },
        {
            "output_column_name": "dob",
            "comparison_description": "birthdate: exact, day/month swapped, one character, same year",
            "comparison_levels": [
                _null("dob"),
                {"sql_condition": "dob_l = dob_r", "label_for_charts": "exact"},
                {"sql_condition": "dob_l = dob_swapped_r", "label_for_charts": "day and month swapped"},
                {"sql_condition": "levenshtein(dob_l, dob_r) <= 1", "label_for_charts": "one character"},
                {"sql_condition": "birth_year_l = birth_year_r", "label_for_charts": "same year"},
                _else(),
            ],
        },
        {
            "output_column_name": "middle",
            "comparison_description": "middle name: exact, initial",
            "comparison_levels": [
                _null("middle"),
                {"sql_condition": "middle_l = middle_r AND length(middle_l) > 1", "label_for_charts": "exact"},
                {"sql_condition": "middle_initial_l = middle_initial_r", "label_for_charts": "initial"},
                _else(),
            ],
        },
        {
            "output_column_name": "sex",
            "comparison_description": "sex",
            "comparison_levels": [
                _null("sex"),
                {"sql_condition": "sex_l = sex_r", "label_for_charts": "exact"},
                _else(),
            ],
        },
        {
            "output_column_name": "zip",
            "comparison_description": "ZIP code",
            "comparison_levels": [
                _null("zip"),
                {"sql_condition": "zip_l = zip_r", "label_for_charts": "exact"},
                _else(),
            ],
        },
    ]


def settings(incremental: bool) -> dict:
    rules = [f"({r}) AND (l.changed OR r.changed)" if incremental else r for r in BLOCKING_RULES]
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [{"blocking_rule": r, "sql_dialect": "duckdb"} for r in rules],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }


def _linker(con: duckdb.DuckDBPyConnection, model: dict):
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register("sp_input", table_name="sp_input_registered")
    return Linker(sdf, model, log_level=logging.WARNING)


def train(con: duckdb.DuckDBPyConnection, *, u_max_pairs: int, seed: int) -> dict:
    """Train on all entities; returns the model as a dict (kept in the vault)."""
    linker = _linker(con, settings(incremental=False))
    linker.training.estimate_probability_two_random_records_match(
        ["l.state_id = r.state_id AND l.dob = r.dob", "l.ssn = r.ssn AND l.dob = r.dob"], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    labelled = con.execute("SELECT count(*) FROM sp_input WHERE det_label IS NOT NULL").fetchall()[0][0]
    if labelled:
        linker.training.estimate_m_from_label_column("det_label")
    model = linker.misc.save_model_to_json()
    linker.table_management.delete_tables_created_by_splink_from_db()
    if not model.get("probability_two_random_records_match"):
        # no pair agreed on the deterministic keys (a small or a first delivery): the
        # estimate is 0, whose log splink cannot take. The least prior the data allows
        # is one match among all its pairs.
        n = con.execute("SELECT count(*) FROM sp_input").fetchall()[0][0]
        model["probability_two_random_records_match"] = 1 / max(n * (n - 1) // 2, 2)
    return model


def predict(con: duckdb.DuckDBPyConnection, model: dict, *, incremental: bool, min_weight: float) -> int:
    """Score blocked pairs with a trained model into TEMP table `sp_pairs(id_l, id_r, match_weight)`."""
    scoring = dict(model)
    scoring.update({k: v for k, v in settings(incremental).items() if k == "blocking_rules_to_generate_predictions"})
    linker = _linker(con, scoring)
    result = linker.inference.predict(threshold_match_weight=min_weight, warning_mode="never")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE sp_pairs AS SELECT least(unique_id_l, unique_id_r) AS id_l, "
        f"greatest(unique_id_l, unique_id_r) AS id_r, match_weight FROM {result.physical_name}"
    )
    linker.table_management.delete_tables_created_by_splink_from_db()
    return con.execute("SELECT count(*) FROM sp_pairs").fetchall()[0][0]


def model_json(model: dict) -> str:
    return json.dumps(model, sort_keys=True)
