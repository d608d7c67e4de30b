"""`make bench` / `sleds bench`: time every stage of the pipeline on one scale.

Each stage runs in its own process (`python -m orchestration.lib.bench stage NAME`),
so wall time, CPU time (user + system, children included) and peak memory (max RSS)
are the stage's own, read from the OS when the process ends. Results go to
SLEDS_HOME/bench/bench-<scale>.json and a table on stdout.

Besides the stages it measures:
- the overhead ratio: the dbt models' compiled SQL run bare in DuckDB (no dbt, no
  Dagster) against the same models materialized through Dagster (dagster-dbt);
- an incremental build: one collection held back from the full build, then added and
  built with `sleds build` (ingest of that partition + everything downstream).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("generate", "ingest", "identity", "governance", "marts", "releases", "publish")
BUDGETS = {
    "full_build_seconds": 20 * 60,
    "peak_memory_gb": 12,
    "incremental_seconds": 90,
    "linkage_records_per_minute": 1_000_000,
    "overhead_ratio": 1.3,
}


# ------------------------------------------------------------------ stage bodies


def _stage(name: str, scale: str, feeds: Path) -> dict:
    """Runs inside the stage's own process; returns figures worth recording."""
    from orchestration.lib import local_build, paths

    landing = feeds / "landing"
    if name == "generate":
        from orchestration.lib.generate.run import generate

        summary = generate(scale, 42, feeds)
        return {"rows": summary["rows"]}
    if name == "ingest":
        from orchestration.lib.contracts.recheck import recheck_feed
        from orchestration.lib.reference import FEEDS

        reports = local_build.ingest_landing(landing)
        agree = all(recheck_feed(f, paths.warehouse_path(), paths.vault_path()).agree for f in FEEDS)
        rows = sum(r.rows_read for r in reports)
        return {"partitions": len(reports), "rows": rows, "quarantined": sum(r.rows_quarantined for r in reports),
                "gx_agrees": agree}  # fmt: skip
    if name == "identity":
        from orchestration.lib.identity.pipeline import run_identity

        report = run_identity(paths.warehouse_path(), paths.vault_path(), paths.sleds_home())
        counts = report.as_dict().get("counts", {})
        return {"records": counts.get("records"), "persons": counts.get("persons"),
                "records_per_minute": counts.get("records_per_minute")}  # fmt: skip
    if name == "governance":
        from orchestration.lib.derived.ages import build_record_ages

        statuses = local_build.load_agreements()
        local_build.purge(landing)
        build_record_ages(paths.warehouse_path(), paths.vault_path())
        return {"agreements": statuses}
    if name == "marts":
        local_build.dbt("build", "--exclude", "path:models/release")
        return {}
    if name == "releases":
        import datetime as dt

        import duckdb

        from orchestration.lib.agreements.checks import SLEDS_SCHEMA, check_sleds_release, release_allowlist
        from orchestration.lib.dbt_prepare import ensure_manifest
        from orchestration.lib.releases.export import export_institution_marts, export_sleds_release

        local_build.dbt("build", "--select", "path:models/release")
        con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
        failed = [r.name for r in check_sleds_release(con, release_allowlist(ensure_manifest(), SLEDS_SCHEMA))
                  if not r.passed]  # fmt: skip
        con.close()
        m = export_sleds_release(paths.warehouse_path(), paths.releases_dir(), run_id="bench", as_of=dt.date.today(),
                                 clauses=[])  # fmt: skip
        marts, _ = export_institution_marts(paths.warehouse_path(), paths.releases_dir(), run_id="bench",
                                            as_of=dt.date.today(), clauses=[])  # fmt: skip
        return {"checks_failed": failed, "sleds_rows": m.tables, "institution_marts": len(marts)}
    if name == "publish":
        import datetime as dt

        import duckdb

        from orchestration.lib.publish.release import publish
        from orchestration.lib.publish.summaries import build_summary_tables

        con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
        tables = build_summary_tables(con)
        con.close()
        pub = publish(tables, paths.releases_dir() / "public", run_id="bench", as_of=dt.date.today())
        return {"cells": sum(pub.tables.values()), "seconds": pub.seconds, "audit": pub.audit}
    raise SystemExit(f"unknown stage {name}")


def _bare_sql(home: Path) -> dict:
    """The dbt models' compiled SQL, executed directly in DuckDB on a copy of the
    warehouse, in the manifest's dependency order (no dbt, no Dagster)."""
    import duckdb

    from orchestration.lib import paths
    from orchestration.lib.dbt_prepare import ensure_manifest

    local = __import__("orchestration.lib.local_build", fromlist=["dbt"])
    local.dbt("compile")
    manifest = json.loads(ensure_manifest().read_text())
    nodes = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    order, seen = [], set()

    def visit(uid):
        if uid in seen or uid not in nodes:
            return
        seen.add(uid)
        for dep in nodes[uid]["depends_on"]["nodes"]:
            visit(dep)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    copy = home / "bench" / "bare.duckdb"
    shutil.copy(paths.warehouse_path(), copy)
    con = duckdb.connect(str(copy))
    began = time.monotonic()
    for uid in order:
        node = nodes[uid]
        sql = (paths.DBT_PROJECT_DIR / "target" / "compiled" / "sleds" / node["original_file_path"]).read_text()
        sql = sql.replace(f'"{paths.warehouse_path().stem}".', f'"{copy.stem}".')
        kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
        con.execute(f'CREATE OR REPLACE {kind} "{node["schema"]}"."{node["name"]}" AS {sql}')
    seconds = time.monotonic() - began
    con.close()
    copy.unlink()
    return {"models": len(order), "seconds": round(seconds, 2)}


# ------------------------------------------------------------------ driver


def _measure(argv: list[str], env: dict) -> dict:
    began = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    figures = {
        "wall_s": round(time.monotonic() - began, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 1024 / 1024, 2),
        "exit": proc.returncode,
    }
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if proc.returncode == 0 and last.startswith("{"):
        figures["result"] = json.loads(last)
    elif proc.returncode != 0:
        figures["error"] = (err or out)[-3000:]
    return figures


def run_bench(scale: str, home: Path, feeds: Path | None, *, incremental: bool = True, overhead: bool = True) -> dict:
    from orchestration.lib.dagster_home import ensure_dagster_home

    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SLEDS_HOME": str(home), "DAGSTER_HOME": str(ensure_dagster_home(home))}
    generate = feeds is None or not (feeds / "landing").exists()
    feeds = feeds or home / "feeds"
    results: dict = {"scale": scale, "machine": _machine(), "stages": {}, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    held = None
    for stage in STAGES:
        if stage == "generate" and not generate:
            results["stages"]["generate"] = {"skipped": f"reused {feeds}"}
            continue
        if stage == "ingest" and incremental:
            held = _hold_back(feeds / "landing", home)
        print(f"[bench {scale}] {stage} ...", flush=True)
        figures = _measure([sys.executable, "-m", "orchestration.lib.bench", "stage", stage, "--scale", scale,
                            "--feeds", str(feeds)], env)  # fmt: skip
        results["stages"][stage] = figures
        _save(results, home)  # a long run interrupted later keeps what it measured
        print(f"[bench {scale}] {stage}: {figures['wall_s']} s wall, {figures['cpu_s']} s CPU, "
              f"{figures['peak_rss_gb']} GB peak" + (" FAILED" if figures["exit"] else ""), flush=True)  # fmt: skip
        if figures["exit"]:
            print(figures.get("error", ""), flush=True)
            break
    if overhead and all(s.get("exit", 0) == 0 for s in results["stages"].values()):
        print(f"[bench {scale}] overhead: bare SQL vs Dagster + dbt ...", flush=True)
        results["overhead"] = _overhead(home, env)
    if incremental and held and all(s.get("exit", 0) == 0 for s in results["stages"].values()):
        print(f"[bench {scale}] incremental: adding {held[1].name} back and building ...", flush=True)
        shutil.move(str(held[0]), str(held[1]))
        env_inc = {**env, "SLEDS_LANDING": str(feeds / "landing")}
        results["incremental"] = {"collection": held[1].name, **_measure([_sleds(), "build"], env_inc)}
    elif held:
        shutil.move(str(held[0]), str(held[1]))
    out = _save(results, home)
    print(format_table(results), flush=True)
    print(f"written {out}", flush=True)
    return results


def _save(results: dict, home: Path) -> Path:
    results["totals"] = _totals(results)
    out = home / "bench" / f"bench-{results['scale']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    return out


def _sleds() -> str:
    beside = Path(sys.executable).with_name("sleds")
    return str(beside) if beside.exists() else "sleds"


def _hold_back(landing: Path, home: Path):
    """Move the last school year's last SRM file aside: the incremental run adds it back."""
    srm = sorted((landing / "msds").glob("*/msds_srm_*.csv")) + sorted((landing / "msds").glob("*/msds_srm_*.parquet"))
    if not srm:
        return None
    target = srm[-1]
    aside = home / "bench" / "held" / target.name
    aside.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(target), str(aside))
    return aside, target


def _overhead(home: Path, env: dict) -> dict:
    bare = _measure([sys.executable, "-m", "orchestration.lib.bench", "bare"], env)
    select = "group:staging or group:intermediate or group:marts or group:reference or group:release"
    pipeline = _measure(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "orchestration.definitions",
         "--select", select],
        env,
    )  # fmt: skip
    bare_s = (bare.get("result") or {}).get("seconds")
    ratio = round(pipeline["wall_s"] / bare_s, 2) if bare_s and not pipeline["exit"] else None
    return {"bare_sql": bare, "dagster_dbt": pipeline, "ratio": ratio}


def _totals(results: dict) -> dict:
    stages = [s for s in results["stages"].values() if "wall_s" in s]
    build = [v for k, v in results["stages"].items() if k != "generate" and "wall_s" in v]
    ident = (results["stages"].get("identity", {}).get("result") or {}).get("records_per_minute")
    publish = results["stages"].get("publish", {}).get("result") or {}
    return {
        "build_wall_s": round(sum(s["wall_s"] for s in build), 1),
        "build_cpu_s": round(sum(s["cpu_s"] for s in build), 1),
        "peak_rss_gb": max((s["peak_rss_gb"] for s in stages), default=None),
        "linkage_records_per_minute": ident,
        "publish_cells": publish.get("cells"),
        "publish_seconds": publish.get("seconds"),
        "overhead_ratio": (results.get("overhead") or {}).get("ratio"),
        "incremental_wall_s": (results.get("incremental") or {}).get("wall_s"),
    }


def _machine() -> dict:
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (ValueError, OSError):
        pass
    return {"cpus": os.cpu_count(), "memory_gb": mem, "python": platform.python_version(),
            "platform": platform.platform()}  # fmt: skip


def format_table(results: dict) -> str:
    lines = [f"benchmark: scale {results['scale']}, {results['machine']['cpus']} CPUs, "
             f"{results['machine']['memory_gb']} GB", "",
             f"{'stage':<12}{'wall s':>10}{'CPU s':>10}{'peak GB':>10}"]  # fmt: skip
    for name, s in results["stages"].items():
        if "wall_s" in s:
            lines.append(f"{name:<12}{s['wall_s']:>10}{s['cpu_s']:>10}{s['peak_rss_gb']:>10}")
        else:
            lines.append(f"{name:<12}{'-':>10}  {s.get('skipped', '')}")
    t = results["totals"]
    lines += ["", "against the budgets (issue 9):"]
    lines.append(f"  full build (ingest..publish)  {t['build_wall_s']} s   (budget {BUDGETS['full_build_seconds']} s)")
    lines.append(f"  peak memory                   {t['peak_rss_gb']} GB  (budget {BUDGETS['peak_memory_gb']} GB)")
    lines.append(f"  linkage                       {t['linkage_records_per_minute']} records/min "
                 f"(budget {BUDGETS['linkage_records_per_minute']:,})")  # fmt: skip
    lines.append(f"  suppression + audit           {t['publish_cells']} cells in {t['publish_seconds']} s")
    lines.append(f"  overhead ratio                {t['overhead_ratio']}   (budget {BUDGETS['overhead_ratio']})")
    lines.append(
        f"  one new collection            {t['incremental_wall_s']} s   (budget {BUDGETS['incremental_seconds']} s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.lib.bench")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="time every stage")
    run.add_argument("--scale", choices=["tiny", "demo", "state"], default="demo")
    run.add_argument("--home", default=None, help="scratch SLEDS_HOME (default SLEDS_HOME/bench-<scale>)")
    run.add_argument("--feeds", default=None, help="reuse feeds generated earlier (a folder with landing/)")
    run.add_argument("--no-incremental", action="store_true")
    run.add_argument("--no-overhead", action="store_true")
    stage = sub.add_parser("stage", help=argparse.SUPPRESS)
    stage.add_argument("name", choices=STAGES)
    stage.add_argument("--scale", default="demo")
    stage.add_argument("--feeds", required=True)
    sub.add_parser("bare", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cmd == "stage":
        print(json.dumps(_stage(args.name, args.scale, Path(args.feeds)), default=str))
        return 0
    if args.cmd == "bare":
        from orchestration.lib import paths

        print(json.dumps(_bare_sql(paths.sleds_home())))
        return 0
    from orchestration.lib import paths

    home = Path(args.home) if args.home else paths.sleds_home().parent / f"bench-{args.scale}"
    if home.exists() and not args.feeds:
        shutil.rmtree(home)
    elif home.exists():
        for sub_dir in ("warehouse.duckdb", "vault", "releases", "identity", "reports", "governance"):
            target = home / sub_dir
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    run_bench(args.scale, home, Path(args.feeds) if args.feeds else None,
              incremental=not args.no_incremental, overhead=not args.no_overhead)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
