"""Linkage accuracy against the generator's ground truth (the only pipeline code that
reads it; if there is none, the report says so and has no accuracy figures).

Ground truth: `<dir>/<feed>.parquet` with (file, row_number, person_id), joined to
the warehouse's raw rows on (source_file, source_row). Figures:

- record-pair precision and recall by sector pair (k12-k12, k12-ps, ps-ps, and
  all): a pair of records is predicted linked when both carry the same research ID
  and truly linked when both belong to the same person; counted from cell sizes
  (research ID x person x sector), no pair is ever materialised;
- the same by subgroup of the true person: sex, surname changed (more than one
  surname across the person's records), and for people with postsecondary records
  whether any of them carries a MARSS number; a false pair counts in a subgroup
  when either of its records belongs to a person in it;
- cluster precision (share of research IDs holding one person only), cluster
  recall (share of persons whose records all carry one research ID), exact
  clusters, and research IDs holding two or more true K-12 students (must be 0);
- link rate (share of persons with postsecondary records who are linked to K-12
  records), predicted and true.

Only counts and ratios leave this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration.lib import paths
from orchestration.lib.reference import FEEDS

SECTOR_PAIRS = (("k12", "k12"), ("k12", "ps"), ("ps", "ps"))


def ground_truth_dir() -> Path | None:
    """SLEDS_GROUND_TRUTH, else `<landing>/../ground_truth` when it exists."""
    env = os.environ.get("SLEDS_GROUND_TRUTH")
    if env:
        return Path(env)
    candidate = paths.landing_dir().parent / "ground_truth"
    return candidate if candidate.exists() else None


RECORDS_SQL = """
WITH truth AS ({truth}),
ids AS (
    SELECT 'msds' AS feed, r.source_file, r.source_row, upper(r.gender) AS sex, 'k12' AS sector, i.research_id,
           CAST(NULL AS VARCHAR) AS marss, v.last_name
    FROM wh.raw.msds r JOIN wh.identity.record_research_ids i ON i.feed = 'msds' AND i.record_token = r.record_token
    JOIN vault.landing.msds_identity v ON v.record_token = r.record_token
    UNION ALL
    SELECT 'ps_enrollment', r.source_file, r.source_row, upper(r.sex), 'ps', i.research_id,
           nullif(v.marss_number, 'NA'), v.last_name
    FROM wh.raw.ps_enrollment r
    JOIN wh.identity.record_research_ids i ON i.feed = 'ps_enrollment' AND i.record_token = r.record_token
    JOIN vault.landing.ps_enrollment_identity v ON v.record_token = r.record_token
    UNION ALL
    SELECT 'ps_awards', r.source_file, r.source_row, upper(r.sex), 'ps', i.research_id, NULL, v.last_name
    FROM wh.raw.ps_awards r
    JOIN wh.identity.record_research_ids i ON i.feed = 'ps_awards' AND i.record_token = r.record_token
    JOIN vault.landing.ps_awards_identity v ON v.record_token = r.record_token
),
joined AS (SELECT i.*, t.person_id FROM ids i JOIN truth t ON t.feed = i.feed AND t.file = i.source_file
           AND t.row_number = i.source_row),
persons AS (
    SELECT person_id, mode(sex) AS sex,
           count(DISTINCT upper(replace(replace(last_name, '-', ''), ' ', ''))) > 1 AS surname_changed,
           CASE WHEN NOT bool_or(sector = 'ps') THEN 'no postsecondary records'
                WHEN count(marss) > 0 THEN 'a record carries a MARSS number' ELSE 'no MARSS number' END AS ps_marss
    FROM joined GROUP BY person_id
)
SELECT j.research_id, j.person_id, j.sector, p.sex, p.surname_changed, p.ps_marss
FROM joined j JOIN persons p USING (person_id)
"""


def _pairs(counts: pd.DataFrame, by: list[str], a: str, b: str) -> float:
    g = counts.groupby(by, sort=False)[[a, b]].sum() if by else counts[[a, b]]
    if a == b:
        x = g[a].to_numpy(dtype=np.float64)
        return float((x * (x - 1) / 2).sum())
    return float((g[a].to_numpy(dtype=np.float64) * g[b].to_numpy(dtype=np.float64)).sum())


def _pair_metrics(cells: pd.DataFrame, a: str, b: str) -> dict:
    """cells: one row per (research_id, person_id) with record counts per sector."""
    tp = _pairs(cells, [], a, b)
    pp = _pairs(cells, ["research_id"], a, b)
    ap = _pairs(cells, ["person_id"], a, b)
    return {"tp": tp, "pp": pp, "ap": ap}


def _ratios(m: dict) -> dict:
    return {
        "precision": round(m["tp"] / m["pp"], 6) if m["pp"] else None,
        "recall": round(m["tp"] / m["ap"], 6) if m["ap"] else None,
        "true_pairs": int(m["ap"]),
        "predicted_pairs": int(m["pp"]),
        "correct_pairs": int(m["tp"]),
    }


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    cells = frame.groupby(["research_id", "person_id", "sector"]).size().unstack("sector", fill_value=0)
    for s in ("k12", "ps"):
        if s not in cells:
            cells[s] = 0
    cells["all"] = cells["k12"] + cells["ps"]
    return cells.reset_index()


def compute_accuracy(warehouse: Path, vault: Path, truth_dir: Path | None) -> dict:
    if truth_dir is None or not all((truth_dir / f"{f}.parquet").exists() for f in FEEDS):
        return {
            "ground_truth": None,
            "note": "no ground truth found (SLEDS_GROUND_TRUTH or <landing>/../ground_truth): accuracy figures skipped",
        }
    truth = " UNION ALL ".join(
        f"SELECT '{f}' AS feed, file, row_number, person_id FROM read_parquet('{truth_dir / f}.parquet')" for f in FEEDS
    )
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        con.execute(f"ATTACH '{vault}' AS vault (READ_ONLY)")
        frame = con.execute(RECORDS_SQL.format(truth=truth)).df()
    finally:
        con.close()
    cells = _cells(frame)
    out: dict = {"ground_truth": str(truth_dir), "records_evaluated": int(len(frame)), "record_pairs": {}}
    for a, b in (*SECTOR_PAIRS, ("all", "all")):
        out["record_pairs"][f"{a}-{b}" if a != "all" else "all"] = _ratios(_pair_metrics(cells, a, b))
    # by subgroup of the true person
    subgroups: dict = {}
    for dim in ("sex", "surname_changed", "ps_marss"):
        person_dim = frame.groupby("person_id")[dim].first()
        subgroups[dim] = {}
        for value in sorted(person_dim.dropna().unique(), key=str):
            in_g = set(person_dim.index[person_dim == value])
            mask = cells["person_id"].isin(in_g)
            res = {}
            for a, b in (("k12", "ps"), ("all", "all")):
                total = _pair_metrics(cells, a, b)
                g = _pair_metrics(cells[mask], a, b)
                rest = _pair_metrics(cells[~mask], a, b)
                fp = (total["pp"] - total["tp"]) - (rest["pp"] - rest["tp"])
                res["k12-ps" if a == "k12" else "all"] = _ratios({"tp": g["tp"], "pp": g["tp"] + fp, "ap": g["ap"]})
            subgroups[dim][str(value)] = {"persons": len(in_g), **res}
    out["record_pairs_by_subgroup"] = subgroups
    # clusters
    per_rid = frame.groupby("research_id")["person_id"].nunique()
    per_pid = frame.groupby("person_id")["research_id"].nunique()
    pure = set(per_rid.index[per_rid == 1])
    complete = per_pid[per_pid == 1]
    pid_rid = frame.drop_duplicates("person_id").set_index("person_id")["research_id"]
    exact = sum(1 for p in complete.index if pid_rid[p] in pure)
    k12 = frame[frame["sector"] == "k12"].groupby("research_id")["person_id"].nunique()
    ps_persons = frame[frame["sector"] == "ps"]
    true_ps = set(ps_persons["person_id"])
    true_k12 = set(frame.loc[frame["sector"] == "k12", "person_id"])
    pred_ps = set(ps_persons["research_id"])
    pred_k12 = set(frame.loc[frame["sector"] == "k12", "research_id"])
    out["clusters"] = {
        "research_ids": int(len(per_rid)),
        "true_persons": int(len(per_pid)),
        "precision_pure_research_ids": round(len(pure) / len(per_rid), 6) if len(per_rid) else None,
        "recall_complete_persons": round(len(complete) / len(per_pid), 6) if len(per_pid) else None,
        "exact_persons": round(exact / len(per_pid), 6) if len(per_pid) else None,
        "research_ids_with_two_or_more_true_k12_students": int((k12 > 1).sum()),
    }
    out["link_rate"] = {
        "predicted_ps_persons_linked_to_k12": round(len(pred_ps & pred_k12) / len(pred_ps), 6) if pred_ps else None,
        "true_ps_persons_with_k12_records": round(len(true_ps & true_k12) / len(true_ps), 6) if true_ps else None,
    }
    return out


def write_report(run: dict, accuracy: dict, out: Path | None = None) -> Path:
    """SLEDS_HOME/reports/linkage_accuracy.json: the run's counts, timings and cluster
    sizes with the accuracy figures (written whole, then renamed)."""
    import json

    out = out or paths.sleds_home() / "reports" / "linkage_accuracy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"run": run, "accuracy": accuracy}
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, out)
    return out


def headline(run: dict, accuracy: dict) -> dict[str, float | int | str | None]:
    """The figures worth a glance (Dagster metadata, the build line)."""
    counts = run.get("counts", {})
    out: dict[str, float | int | str | None] = {
        "records": counts.get("records"),
        "source_entities": counts.get("entities"),
        "persons": counts.get("persons"),
        "new_research_ids": counts.get("new_ids"),
        "merged_research_ids": counts.get("merged_ids"),
        "review_queue": counts.get("review_queue"),
        "records_per_minute": counts.get("records_per_minute"),
        "mode": run.get("mode"),
    }
    pairs = accuracy.get("record_pairs") or {}
    for name, m in pairs.items():
        out[f"{name}_pair_precision"] = m["precision"]
        out[f"{name}_pair_recall"] = m["recall"]
    clusters = accuracy.get("clusters") or {}
    if clusters:
        out["cluster_precision"] = clusters["precision_pure_research_ids"]
        out["cluster_recall"] = clusters["recall_complete_persons"]
        out["research_ids_with_two_k12_students"] = clusters["research_ids_with_two_or_more_true_k12_students"]
    if not pairs:
        out["accuracy"] = accuracy.get("note")
    return out
