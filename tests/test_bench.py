"""The benchmark harness's own logic (the timings themselves come from `make bench`,
never from tests)."""

from orchestration.lib import bench


def _results():
    stage = {"wall_s": 10.0, "cpu_s": 15.0, "peak_rss_gb": 1.5, "exit": 0}
    return {
        "scale": "tiny",
        "machine": {"cpus": 2, "memory_gb": 24},
        "stages": {
            "generate": {"skipped": "reused /x"},
            "ingest": stage,
            "identity": {**stage, "result": {"records_per_minute": 2_000_000}},
            "publish": {**stage, "peak_rss_gb": 3.0, "result": {"cells": 1000, "seconds": {"suppression": 1.0}}},
        },
        "overhead": {"ratio": 1.2},
        "incremental": {"wall_s": 40.0},
    }


def test_totals_exclude_generation_and_take_the_highest_peak():
    r = _results()
    totals = bench._totals(r)
    assert totals["build_wall_s"] == 30.0 and totals["build_cpu_s"] == 45.0
    assert totals["peak_rss_gb"] == 3.0
    assert totals["linkage_records_per_minute"] == 2_000_000
    assert totals["overhead_ratio"] == 1.2 and totals["incremental_wall_s"] == 40.0


def test_table_reports_every_stage_and_budget():
    r = _results()
    r["totals"] = bench._totals(r)
    text = bench.format_table(r)
    for word in ("ingest", "identity", "publish", "reused /x", "budget 1200 s", "budget 12 GB", "budget 1.3"):
        assert word in text


def test_hold_back_moves_the_last_srm_file_aside_and_back(tmp_path):
    landing = tmp_path / "landing"
    for year in ("2022-23", "2023-24"):
        (landing / "msds" / year).mkdir(parents=True)
        for part in ("01", "02"):
            (landing / "msds" / year / f"msds_srm_{year}_{part}.csv").write_text("x")
    aside, original = bench._hold_back(landing, tmp_path / "home")
    assert original.name == "msds_srm_2023-24_02.csv" and not original.exists() and aside.exists()
