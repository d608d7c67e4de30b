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
    for word in ("sleds_dbt_models", "public_summaries", "reused /x", "(budget <= 8 GB)", "(budget <= 15 s)"):
        assert word in text
    assert "incremental re-materialized 1 assets: marts/fct_k12_accountability_students" in text
    assert "noop re-materialized 0 assets: nothing" in text
    verdicts = {line["label"]: line["verdict"] for line in bench.budget_lines(r)}
    assert verdicts["peak memory"] == "pass" and verdicts["no-op rebuild"] == "pass"
    assert verdicts["synthetic 100k cells: suppression + audit"] == "not measured"
    assert "full build" not in verdicts  # a tiny build has no wall-time budget


def _state_results(build_wall_s: float) -> dict:
    steps = [
        {"job": "ingest_msds", "step": "raw__msds", "wall_s": 100.0, "cpu_s": 90.0, "peak_rss_gb": 2.0},
        {"job": "marts", "step": "msds_contract_recheck", "wall_s": 20.0, "cpu_s": 20.0, "peak_rss_gb": 1.0},
        {"job": "marts", "step": "identity__research_ids", "wall_s": 300.0, "cpu_s": 600.0, "peak_rss_gb": 5.0},
        {"job": "marts", "step": "sleds_dbt_models", "wall_s": 200.0, "cpu_s": 300.0, "peak_rss_gb": 4.0},
        {"job": "marts", "step": "publish__public_summaries", "wall_s": 50.0, "cpu_s": 50.0, "peak_rss_gb": 1.0},
    ]
    return {
        "scale": "state",
        "machine": {"cpus": 2, "memory_gb": 24},
        "build": {"wall_s": build_wall_s, "cpu_s": 1000.0, "peak_rss_gb": 6.0, "exit": 0},
        "steps": steps,
        "figures": {"records_per_minute": 2_500_000, "publish_cells": 50_000, "progress_poll_cpu_s": 30.0},
        "overhead": {"ratio": 1.25, "dbt_step_wall_s": 200.0, "bare_sql": {"result": {"seconds": 160.0}}},
        "floors": {"ingest": {"seconds": 60.0, "rows": 10, "files": 2}},
        "synthetic_disclosure": {"cells": 99_989, "suppression_seconds": 20.0, "audit_seconds": 15.0},
        "against": {"scale": "tenth", "file": "x", "steps": [{**steps[2], "cpu_s": 60.0}]},
    }


def test_budget_lines_hold_a_state_run_to_the_issue_17_budgets():
    figures = bench.budget_figures(_state_results(1000.0))
    assert figures["ingest_wall_s"] == 120.0  # the load and its contract re-check
    assert figures["ingest_floor_ratio"] == 2.0 and figures["floor_ratio"] == round(320 / 220, 2)
    assert figures["identity_scale_ratio"] == 10.0 and figures["poll_cpu_share"] == 0.03
    assert figures["synthetic_100k_s"] == 35.0
    verdicts = {line["label"]: line["verdict"] for line in bench.budget_lines(_state_results(1000.0))}
    assert verdicts["full build"] == "FAIL"  # 1,000 s against 900 s
    assert (
        verdicts["ingest against its bare floor"] == "FAIL"
        and verdicts["ingest + marts against their floors"] == "pass"
    )
    assert verdicts["identity CPU, state / tenth"] == "pass" and verdicts["linkage"] == "pass"  # a floor, >= 1M
    assert verdicts["synthetic 100k cells: suppression + audit"] == "FAIL"
    assert verdicts["progress polling share of build CPU"] == "FAIL"
    assert verdicts["one new collection"] == "not measured"
    assert "suppression + audit (publish step)" not in verdicts  # a tenth-scale budget
    assert {line["label"]: line["verdict"] for line in bench.budget_lines(_state_results(800.0))}[
        "full build"
    ] == "pass"


def test_every_budget_names_a_figure_and_known_scales():
    figures = bench.budget_figures(_state_results(1000.0))
    for budget in bench.BUDGETS:
        assert budget.figure in figures and set(budget.scales) <= set(bench.SCALES)


def test_the_ingest_floor_reads_every_landing_row_once_per_layout(tmp_path):
    landing = tmp_path / "landing"
    (landing / "msds" / "2023-24").mkdir(parents=True)
    (landing / "ps_awards" / "FY2024").mkdir(parents=True)
    (landing / "msds" / "2023-24" / "fall.csv").write_text('a,b\n1,"x, y"\n2,z\n')
    (landing / "msds" / "2023-24" / "eoy.csv").write_text("a,b,c\n1,2,3\n")
    (landing / "ps_awards" / "FY2024" / "one.csv").write_text("k\n7\n")
    floor = bench.bare_ingest(landing, tmp_path / "scratch.duckdb")
    assert floor["rows"] == 4 and floor["files"] == 3 and floor["layouts"] == 3
    assert not (tmp_path / "scratch.duckdb").exists()


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
