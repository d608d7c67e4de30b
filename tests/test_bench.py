"""The benchmark harness: it times the product's own build, so its step list is the
Dagster jobs' step list (the timings themselves come from `make bench`, never from
tests)."""

import json

from orchestration import runner
from tools import bench


def _results():
    step = {"job": "marts", "step": "sleds_dbt_models", "wall_s": 10.0, "cpu_s": 15.0, "peak_rss_gb": 1.5}
    return {
        "scale": "tiny",
        "machine": {"cpus": 2, "memory_gb": 24},
        "generate": {"skipped": "reused /x"},
        "build": {"wall_s": 30.0, "cpu_s": 45.0, "peak_rss_gb": 1.0, "exit": 0},
        "steps": [step, {**step, "step": "public_summaries", "peak_rss_gb": 3.0}],
        "figures": {"records_per_minute": 2_000_000, "publish_cells": 1000, "publish_seconds": {"audit": 1.0}},
        "overhead": {"ratio": 1.2},
        "incremental": {"wall_s": 40.0, "materialized": ["marts/fct_k12_accountability_students"]},
        "noop": {"wall_s": 3.0, "materialized": []},
        "registry_edit": {"wall_s": 20.0, "materialized": ["release/sleds_release"]},
    }


def test_totals_come_from_the_build_process_and_its_steps():
    totals = bench._totals(_results())
    assert totals["build_wall_s"] == 30.0 and totals["build_cpu_s"] == 45.0
    assert totals["peak_rss_gb"] == 3.0  # the highest of the process and every step
    assert totals["linkage_records_per_minute"] == 2_000_000
    assert totals["overhead_ratio"] == 1.2 and totals["incremental_wall_s"] == 40.0
    assert totals["noop_wall_s"] == 3.0 and totals["registry_edit_wall_s"] == 20.0


def test_table_reports_every_step_and_budget():
    r = _results()
    r["totals"] = bench._totals(r)
    text = bench.format_table(r)
    for word in ("sleds_dbt_models", "public_summaries", "reused /x", "budget 1200 s", "budget 12 GB", "budget 1.3"):
        assert word in text
    assert "incremental re-materialized 1 assets: marts/fct_k12_accountability_students" in text
    assert "noop re-materialized 0 assets: nothing" in text and "budget 15 s" in text


def test_overhead_is_the_dbt_step_against_the_bare_sql():
    steps = _results()["steps"]
    assert bench._overhead({"result": {"seconds": 5.0}}, steps)["ratio"] == 2.0
    assert bench._overhead({"result": {"seconds": 5.0}}, [])["ratio"] is None


def test_hold_back_moves_the_last_srm_file_aside(tmp_path):
    landing = tmp_path / "landing"
    for year in ("2022-23", "2023-24"):
        (landing / "msds" / year).mkdir(parents=True)
        for part in ("01", "02"):
            (landing / "msds" / year / f"msds_srm_{year}_{part}.csv").write_text("x")
    aside, original = bench._hold_back(landing, tmp_path / "home")
    assert original.name == "msds_srm_2023-24_02.csv" and not original.exists() and aside.exists()


def test_the_benchmark_times_exactly_the_steps_of_the_build_jobs(tiny_warehouse):
    """The tiny warehouse was built by runner.build (what `sleds build` runs); the
    benchmark reads the same report, so its step list is the jobs' step list."""
    timed = {(s["job"], s["step"]) for s in bench.build_steps(tiny_warehouse) if s["step"] != "(between steps)"}
    jobs = {(job, step) for job, steps in runner.job_steps().items() for step in steps}
    assert timed == jobs | {("build", "vault_seal")}  # and what sealing the vault cost
    report = json.loads((tiny_warehouse / "reports" / "build_steps.json").read_text())
    assert report["success"] and all(s["status"] == "succeeded" for s in report["steps"] if s["status"])
