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

import numpy as np
import pandas as pd

from orchestration.lib import paths
from orchestration.lib.reference import FEEDS
from orchestration.lib.storage import warehouse_with_vault

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
    SELECT 'assessment', r.source_file, r.source_row, NULL, 'k12', i.research_id, NULL, v.last_name
    FROM wh.raw.assessment r
    JOIN wh.identity.record_research_ids i ON i.feed = 'assessment' AND i.record_token = r.record_token
    JOIN vault.landing.assessment_identity v ON v.record_token = r.record_token
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
SELECT c.*, p.sex, p.surname_changed, p.ps_marss
FROM (SELECT research_id, person_id, count(*) FILTER (WHERE sector = 'k12') AS k12,
             count(*) FILTER (WHERE sector = 'ps') AS ps
      FROM joined GROUP BY ALL) c
JOIN persons p USING (person_id)
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


def compute_accuracy(warehouse: Path, vault: Path, truth_dir: Path | None) -> dict:
    if truth_dir is None or not all((truth_dir / f"{f}.parquet").exists() for f in FEEDS):
        return {
            "ground_truth": None,
            "note": "no ground truth found (SLEDS_GROUND_TRUTH or <landing>/../ground_truth): accuracy figures skipped",
        }
    truth = " UNION ALL ".join(
        f"SELECT '{f}' AS feed, file, row_number, person_id FROM read_parquet('{truth_dir / f}.parquet')" for f in FEEDS
    )
    with warehouse_with_vault(warehouse, vault, vault_access="read", warehouse_access="read") as con:
        cells = con.execute(RECORDS_SQL.format(truth=truth)).df()
    cells["all"] = cells["k12"] + cells["ps"]
    out: dict = {"ground_truth": str(truth_dir), "records_evaluated": int(cells["all"].sum()), "record_pairs": {}}
    for a, b in (*SECTOR_PAIRS, ("all", "all")):
        out["record_pairs"][f"{a}-{b}" if a != "all" else "all"] = _ratios(_pair_metrics(cells, a, b))
    # by subgroup of the true person
    subgroups: dict = {}
    for dim in ("sex", "surname_changed", "ps_marss"):
        subgroups[dim] = {}
        for value in sorted(cells[dim].dropna().unique(), key=str):
            mask = (cells[dim] == value).to_numpy()
            res = {}
            for a, b in (("k12", "ps"), ("all", "all")):
                total = _pair_metrics(cells, a, b)
                g = _pair_metrics(cells[mask], a, b)
                rest = _pair_metrics(cells[~mask], a, b)
                fp = (total["pp"] - total["tp"]) - (rest["pp"] - rest["tp"])
                res["k12-ps" if a == "k12" else "all"] = _ratios({"tp": g["tp"], "pp": g["tp"] + fp, "ap": g["ap"]})
            subgroups[dim][str(value)] = {"persons": int(cells.loc[mask, "person_id"].nunique()), **res}
    out["record_pairs_by_subgroup"] = subgroups
    # clusters: a cell is one (research ID, true person) pair
    persons_per_rid = cells.groupby("research_id").size()
    rids_per_pid = cells.groupby("person_id").size()
    pure = persons_per_rid.index[persons_per_rid == 1]
    complete_pids = rids_per_pid.index[rids_per_pid == 1]
    complete = cells[cells["person_id"].isin(complete_pids)]
    exact = int(complete["research_id"].isin(pure).sum())
    k12_students = cells[cells["k12"] > 0].groupby("research_id").size()
    n_rid, n_pid = len(persons_per_rid), len(rids_per_pid)
    out["clusters"] = {
        "research_ids": int(n_rid),
        "true_persons": int(n_pid),
        "precision_pure_research_ids": round(len(pure) / n_rid, 6) if n_rid else None,
        "recall_complete_persons": round(len(complete_pids) / n_pid, 6) if n_pid else None,
        "exact_persons": round(exact / n_pid, 6) if n_pid else None,
        "research_ids_with_two_or_more_true_k12_students": int((k12_students > 1).sum()),
    }
    pred_ps = set(cells.loc[cells["ps"] > 0, "research_id"])
    pred_k12 = set(cells.loc[cells["k12"] > 0, "research_id"])
    by_pid = cells.groupby("person_id")[["k12", "ps"]].sum()
    true_ps = int((by_pid["ps"] > 0).sum())
    true_both = int(((by_pid["ps"] > 0) & (by_pid["k12"] > 0)).sum())
    out["link_rate"] = {
        "predicted_ps_persons_linked_to_k12": round(len(pred_ps & pred_k12) / len(pred_ps), 6) if pred_ps else None,
        "true_ps_persons_with_k12_records": round(true_both / true_ps, 6) if true_ps else None,
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
