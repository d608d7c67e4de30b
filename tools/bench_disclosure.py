"""A synthetic state-sized release to time suppression and audit.

    python -m tools.bench_disclosure --cells 100000
    python -m tools.bench_disclosure --cells 4000 --pin tests/fixtures/small_state_publication

--pin writes the release (tables.csv) and what the engine and the audit make of it today
(pinned_cells.csv: each cell's status and display; naive_findings.csv: the audit's findings
on the primary-only release) to a folder: tests/test_pinned_publication.py holds later engines to it, so
speed work cannot trade away safety.

One population (a fall K-12 collection): state -> districts -> schools, three tables under
NCES 2011-603 sharing it: enrollment by race (counts), enrollment by grade (counts) and a
proficiency rate by race. School sizes are log-normal, so small groups are common.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.lib.disclosure.tables import SummaryTable

RACES = {
    "White": 0.58,
    "Hispanic or Latino": 0.16,
    "Black or African American": 0.12,
    "Asian": 0.06,
    "Two or More Races": 0.05,
    "American Indian or Alaska Native": 0.02,
    "Native Hawaiian or Other Pacific Islander": 0.01,
}
PASS_RATE = [0.55, 0.42, 0.35, 0.68, 0.5, 0.38, 0.45]
GRADES = ["03", "04", "05", "06", "07", "08"]
CELLS_PER_UNIT = 2 * (1 + len(RACES)) + 1 + len(GRADES)
SCHOOLS_PER_DISTRICT = 8


def synthetic_release(n_cells: int, seed: int = 0, population: str = "k12_synthetic_fall") -> list[SummaryTable]:
    """Tables with about n_cells cells in all."""
    rng = np.random.default_rng(seed)
    n_units = max(3, n_cells // CELLS_PER_UNIT)
    n_districts = max(1, n_units // (SCHOOLS_PER_DISTRICT + 1))
    n_schools = n_units - n_districts - 1
    school_district = rng.integers(0, n_districts, n_schools)
    school_district[:n_districts] = np.arange(min(n_districts, n_schools))  # no empty district
    size = np.maximum(1, rng.lognormal(5.6, 0.8, n_schools).astype(int))
    race = rng.multinomial(size, list(RACES.values()))
    grade = rng.multinomial(size, [1 / len(GRADES)] * len(GRADES))
    passed = rng.binomial(race, PASS_RATE)

    def units():
        for s in range(n_schools):
            yield "school", f"S{s:05d}", f"D{school_district[s]:04d}", race[s], grade[s], passed[s]
        for d in range(n_districts):
            mask = school_district == d
            yield "district", f"D{d:04d}", "STATE", race[mask].sum(0), grade[mask].sum(0), passed[mask].sum(0)
        yield "state", "STATE", None, race.sum(0), grade.sum(0), passed.sum(0)

    by_race, by_grade, proficiency = [], [], []
    for level, unit, parent, r, g, p in units():
        key = {"level": level, "unit_id": unit, "parent_unit_id": parent}
        total = int(r.sum())
        by_race.append(key | {"grouping": "all", "category": "All Students", "n": total})
        by_grade.append(key | {"grouping": "all", "category": "All Students", "n": total})
        proficiency.append(key | {"grouping": "all", "category": "All Students", "n": total, "numerator": int(p.sum())})
        for name, n_r, p_r in zip(RACES, r, p, strict=True):
            by_race.append(key | {"grouping": "race_ethnicity", "category": name, "n": int(n_r)})
            proficiency.append(
                key | {"grouping": "race_ethnicity", "category": name, "n": int(n_r), "numerator": int(p_r)}
            )
        for name, n_g in zip(GRADES, g, strict=True):
            by_grade.append(key | {"grouping": "grade", "category": name, "n": int(n_g)})
    return [
        SummaryTable("enrollment_by_race", "nces_2011_603", "count", True, population, pd.DataFrame(by_race)),
        SummaryTable("enrollment_by_grade", "nces_2011_603", "count", False, population, pd.DataFrame(by_grade)),
        SummaryTable(
            "proficiency_by_race",
            "nces_2011_603",
            "rate",
            True,
            population,
            pd.DataFrame(proficiency),
            outcome="proficient",
        ),
    ]


TABLE_FIELDS = ["table_id", "policy", "measure", "other_information", "population", "outcome"]
CELL_FIELDS = ["level", "unit_id", "parent_unit_id", "grouping", "category", "n", "numerator"]
CELL_KEY = ["table_id", "unit_id", "grouping", "category"]


def save_release(tables: list[SummaryTable], path: Path) -> None:
    """The tables as one CSV: a row per cell, its table's fields repeated (load_release reads it)."""
    frames = []
    for t in tables:
        cells = t.cells.reindex(columns=CELL_FIELDS)
        meta = {field: getattr(t, field) for field in TABLE_FIELDS}
        frames.append(cells.assign(**(meta | {"outcome": t.outcome or ""})))
    frame = pd.concat(frames, ignore_index=True)[TABLE_FIELDS + CELL_FIELDS]
    frame["numerator"] = frame["numerator"].astype("Int64")
    frame.to_csv(path, index=False)


def load_release(path: Path) -> list[SummaryTable]:
    """The tables save_release wrote, in the order it wrote them."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    tables = []
    for table_id in frame["table_id"].unique():
        rows = frame[frame["table_id"] == table_id]
        meta = rows.iloc[0]
        cells = rows[CELL_FIELDS].reset_index(drop=True)
        cells["parent_unit_id"] = cells["parent_unit_id"].replace("", None)
        cells["n"] = cells["n"].astype(int)
        if meta["measure"] == "rate":
            cells["numerator"] = cells["numerator"].astype(int)
        else:
            cells = cells.drop(columns="numerator")
        tables.append(SummaryTable(table_id, meta["policy"], meta["measure"], meta["other_information"] == "True",
                                   meta["population"], cells, outcome=meta["outcome"] or None))  # fmt: skip
    return tables


FINDING_KEY = CELL_KEY + ["quantity", "equation", "attacker", "reason"]


def pinned_result(tables: list[SummaryTable]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What is pinned: the engine's status and display per cell, and the audit's findings on
    the naive publication of the same tables (primary suppression only)."""
    from orchestration.lib.disclosure.audit import audit_release
    from orchestration.lib.disclosure.engine import run_suppression

    run = run_suppression(tables)
    if not run.passed:
        raise RuntimeError("the engine's own release does not pass its audit: nothing to pin")
    naive = run_suppression(tables, complementary="none", audit=False).cells
    findings = audit_release(naive, tables=tables).disclosed[FINDING_KEY].drop_duplicates()
    cells = run.cells[CELL_KEY + ["status", "display", "reason"]]
    return cells.reset_index(drop=True), findings.sort_values(FINDING_KEY).reset_index(drop=True)


def benchmark(n_cells: int, seed: int = 0, backend: str = "auto") -> dict:
    """Seconds for suppression (with its audit-driven fixpoint) and for a final independent audit."""
    from orchestration.lib.disclosure.audit import audit_release
    from orchestration.lib.disclosure.engine import run_suppression

    tables = synthetic_release(n_cells, seed)
    start = time.perf_counter()
    run = run_suppression(tables, backend=backend)
    suppressed_at = time.perf_counter()
    audit = audit_release(run.cells, tables=tables, backend=backend)
    done = time.perf_counter()
    return {
        "cells": len(run.cells),
        "suppressed": int((run.cells["status"] == "suppressed").sum()),
        "recoded": int((run.cells["status"] == "recoded").sum()),
        "iterations": run.iterations,
        "suppression_seconds": round(suppressed_at - start, 2),
        "audit_seconds": round(done - suppressed_at, 2),
        "audited_quantities": len(audit.cells),
        "disclosed": len(audit.disclosed),
        "passed": audit.passed,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto", choices=["auto", "highs", "linprog"])
    parser.add_argument("--json", action="store_true", help="one JSON line (what make bench reads)")
    parser.add_argument("--pin", type=Path, help="write the release and today's result to this folder")
    args = parser.parse_args(argv)
    if args.pin:
        args.pin.mkdir(parents=True, exist_ok=True)
        save_release(synthetic_release(args.cells, args.seed), args.pin / "tables.csv")
        tables = load_release(args.pin / "tables.csv")  # pin what the test will read back
        cells, findings = pinned_result(tables)
        cells.to_csv(args.pin / "pinned_cells.csv", index=False)
        findings.to_csv(args.pin / "naive_findings.csv", index=False)
        print(f"pinned {sum(len(t.cells) for t in tables)} cells in {args.pin}")
        return
    result = benchmark(args.cells, args.seed, args.backend)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
