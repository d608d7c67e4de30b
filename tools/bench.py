"""`make bench`: time the real build, step by step, on one scale.

The benchmark runs exactly what a user runs: `sleds generate`, then `sleds build`
(the Dagster jobs of orchestration/runner.py), each in its own process so wall
time, CPU time (user + system, children included) and peak memory are read from
the OS when it ends. The build writes its per-step figures (wall time from
Dagster's events, CPU and memory sampled while each step ran) to
SLEDS_HOME/reports/build_steps.json; the table lists every step of the jobs.

Besides the steps it measures:
- the overhead ratio: the dbt models' compiled SQL run bare in DuckDB (no dbt, no
  Dagster) against the build's own dbt step;
- an incremental build: one collection held back from the full build, then added and
  built with `sleds build` (ingest of that partition + only what it can change);
- a no-op rebuild: `sleds build` again with nothing new ("nothing to do");
- a registry edit: one agreement withdraws permission to name its institution (the
  benchmark's own copy of the registry, SLEDS_AGREEMENTS_DIR), then `sleds build`.
Each of these lists the assets it re-materialized.

Results go to SLEDS_HOME/bench/bench-<scale>.json and a table on stdout.
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
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.generate.scales import SCALES


@dataclass(frozen=True)
class Budget:
    """One budget line: a figure of the run, its limit, and the scales it holds at."""

    label: str
    figure: str  # key of budget_figures()
    limit: float
    unit: str
    scales: tuple[str, ...] = tuple(SCALES)
    at_least: bool = False  # a floor (records per minute), not a ceiling


# issue 17 (state-scale speed) and issue 14 (incremental builds); scale names from SCALES
BUDGETS = [
    Budget("full build", "build_wall_s", 15 * 60, "s", ("state",)),
    Budget("full build", "build_wall_s", 2 * 60, "s", ("tenth",)),
    Budget("peak memory", "peak_rss_gb", 8, "GB"),
    Budget("ingest + marts against their floors", "floor_ratio", 1.5, "x", ("tenth", "state")),
    Budget("ingest against its bare floor", "ingest_floor_ratio", 1.5, "x", ("tenth", "state")),
    Budget("identity CPU, state / tenth", "identity_scale_ratio", 12, "x", ("state",)),
    Budget("suppression + audit (publish step)", "publish_wall_s", 60, "s", ("tenth",)),
    Budget("synthetic 100k cells: suppression + audit", "synthetic_100k_s", 30, "s"),
    Budget("marts: dbt step against bare SQL", "overhead_ratio", 1.3, "x", ("state",)),
    Budget("progress polling share of build CPU", "poll_cpu_share", 0.02, ""),
    Budget("linkage", "linkage_records_per_minute", 1_000_000, "records/min", at_least=True),
    Budget("one new collection", "incremental_wall_s", 30, "s", ("demo",)),
    Budget("one new collection", "incremental_wall_s", 120, "s", ("state",)),
    Budget("no-op rebuild", "noop_wall_s", 15, "s"),
]
INGEST_STEPS = ("raw__",)  # ingest steps start so; their contract re-checks end with RECHECK
RECHECK = "_contract_recheck"
IDENTITY_STEP = "identity__research_ids"
PUBLISH_STEP = "publish__public_summaries"
DBT_STEP = "sleds_dbt_models"


# ------------------------------------------------------------------ what the build reports


def build_steps(home: Path) -> list[dict]:
    """The last build's steps (job, step, wall_s, cpu_s, peak_rss_gb, status)."""
    return json.loads((home / "reports" / "build_steps.json").read_text())["steps"]


def build_report(home: Path) -> dict:
    """The last build's whole report (steps, what it materialized, its message)."""
    return json.loads((home / "reports" / "build_steps.json").read_text())


def build_figures(home: Path) -> dict:
    """Figures the build leaves in SLEDS_HOME: linkage speed, cells published."""
    out: dict = {}
    linkage = home / "reports" / "linkage_accuracy.json"
    if linkage.exists():
        counts = json.loads(linkage.read_text())["run"].get("counts", {})
        out.update(records=counts.get("records"), persons=counts.get("persons"),
                   records_per_minute=counts.get("records_per_minute"))  # fmt: skip
    report = home / "reports" / "build_steps.json"
    if report.exists():
        out["progress_poll_cpu_s"] = json.loads(report.read_text()).get("progress_poll_cpu_s")
    public = home / "releases" / "public" / "manifest.json"
    if public.exists():
        manifest = json.loads(public.read_text())
        out.update(publish_cells=sum(manifest["tables"].values()), publish_seconds=manifest.get("seconds"))
    return out


def bare_sql(home: Path) -> dict:
    """The dbt models' compiled SQL, executed directly in DuckDB on a copy of the
    warehouse, in the manifest's dependency order (no dbt, no Dagster)."""
    from orchestration.lib import paths, storage
    from orchestration.lib.dbt_prepare import ensure_manifest, run_dbt

    run_dbt("compile")
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
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(paths.warehouse_path(), copy)
    with storage.warehouse(copy, read_only=False) as con:
        began = time.monotonic()
        for uid in order:
            node = nodes[uid]
            sql = (paths.DBT_PROJECT_DIR / "target" / "compiled" / "sleds" / node["original_file_path"]).read_text()
            sql = sql.replace(f'"{paths.warehouse_path().stem}".', f'"{copy.stem}".')
            kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
            con.execute(f'CREATE OR REPLACE {kind} "{node["schema"]}"."{node["name"]}" AS {sql}')
        seconds = time.monotonic() - began
    copy.unlink()
    return {"models": len(order), "seconds": round(seconds, 2)}


def bare_ingest(landing: Path, scratch: Path) -> dict:
    """The ingest floor: every landing file read into DuckDB, one statement per feed and
    file layout (header line), columns as text, nothing sniffed, no contract, no vault
    split, no validation: what reading and writing the rows cost."""
    import duckdb

    layouts: dict[tuple[str, str], list[str]] = {}
    for path in sorted(landing.rglob("*.csv")):
        with path.open(encoding="utf-8") as handle:
            header = handle.readline().rstrip("\r\n")
        layouts.setdefault((path.relative_to(landing).parts[0], header), []).append(str(path))
    scratch.unlink(missing_ok=True)
    rows = 0
    with duckdb.connect(str(scratch)) as con:
        con.execute("SET enable_progress_bar = false")
        began = time.monotonic()
        for number, ((feed, header), paths) in enumerate(layouts.items()):
            columns = {name: "VARCHAR" for name in header.split(",")}
            con.execute(f'CREATE TABLE "{feed}_{number}" AS SELECT * FROM read_csv(?, header = true, '
                        "auto_detect = false, delim = ',', quote = '\"', columns = ?)", [paths, columns])  # fmt: skip
            rows += con.execute(f'SELECT count(*) FROM "{feed}_{number}"').fetchone()[0]
        con.execute("CHECKPOINT")
        seconds = time.monotonic() - began
    scratch.unlink(missing_ok=True)
    return {"files": sum(map(len, layouts.values())), "layouts": len(layouts), "rows": rows,
            "seconds": round(seconds, 2)}  # fmt: skip


# ------------------------------------------------------------------ driver


def _measure(argv: list[str], env: dict) -> dict:
    began = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()  # reads both pipes while it runs: a chatty build cannot block
    figures = {"wall_s": round(time.monotonic() - began, 1), "exit": proc.returncode}
    return figures | {"_out": out, "_err": err}


def _with_result(figures: dict) -> dict:
    """A measured child's last stdout line read as its JSON result (its error text if it failed)."""
    lines = figures.pop("_out").strip().splitlines()
    err = figures.pop("_err")
    figures["result"] = json.loads(lines[-1]) if not figures["exit"] and lines else {"error": err[-2000:]}
    return figures


def _json_child(argv: list[str], env: dict) -> dict:
    """Run a measuring child; its JSON result with the child's wall time and exit status."""
    figures = _with_result(_measure(argv, env))
    return {**figures.pop("result"), **figures}


def _measure_usage(argv: list[str], env: dict, log: Path) -> dict:
    """Run argv with output to `log`; wall, CPU and peak memory of it and its children."""
    began = time.monotonic()
    with log.open("w") as sink:
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
    figures = {
        "wall_s": round(time.monotonic() - began, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 1024 / 1024, 2),
        "exit": os.waitstatus_to_exitcode(status),
        "log": str(log),
    }
    if figures["exit"]:
        figures["error"] = log.read_text()[-3000:]
    return figures


def _sleds() -> str:
    beside = Path(sys.executable).with_name("sleds")
    return str(beside) if beside.exists() else "sleds"


def run_bench(
    scale: str,
    home: Path,
    feeds: Path | None,
    *,
    incremental: bool = True,
    overhead: bool = True,
    disclosure_cells: int = 0,
    against: Path | None = None,
) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    (home / "bench").mkdir(exist_ok=True)
    env = {**os.environ, "SLEDS_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)  # the build uses SLEDS_HOME/dagster
    results: dict = {"scale": scale, "machine": _machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if against:  # an earlier run at another scale, for the ratios between scales
        other = json.loads(against.read_text())
        results["against"] = {"file": str(against), "scale": other["scale"], "steps": other.get("steps", [])}
    if feeds is None or not (feeds / "landing").exists():
        feeds = feeds or home / "feeds"
        print(f"[bench {scale}] generate ...", flush=True)
        results["generate"] = _measure_usage([_sleds(), "generate", "--scale", scale, "--seed", "42", "--out",
                                              str(feeds)], env, home / "bench" / "generate.log")  # fmt: skip
    else:
        results["generate"] = {"skipped": f"reused {feeds}"}
    _save(results, home)
    held = _hold_back(feeds / "landing", home) if incremental else None
    env_build = {**env, "SLEDS_LANDING": str(feeds / "landing"), "SLEDS_AGREEMENTS_DIR": str(_registry(home))}
    print(f"[bench {scale}] sleds build ...", flush=True)
    try:
        _build_and_measure(results, home, env, env_build, held, overhead)
    finally:
        if held and held[0].exists():  # the landing folder is left as it was given
            shutil.move(str(held[0]), str(held[1]))
    if overhead:
        print(f"[bench {scale}] ingest floor: the landing files read bare into DuckDB ...", flush=True)
        scratch = home / "bench" / "bare-ingest.duckdb"
        argv = [sys.executable, "-m", "tools.bench", "bare-ingest", str(feeds / "landing"), str(scratch)]
        results["floors"] = {"ingest": _json_child(argv, env)}
        _save(results, home)
    if disclosure_cells:
        print(f"[bench {scale}] synthetic release of {disclosure_cells:,} cells: suppression + audit ...", flush=True)
        results["synthetic_disclosure"] = _json_child([sys.executable, "-m", "tools.bench_disclosure", "--cells",
                                                       str(disclosure_cells), "--json"], env)  # fmt: skip
    out = _save(results, home)
    print(format_table(results), flush=True)
    print(f"written {out}", flush=True)
    return results


def _build_and_measure(results: dict, home: Path, env: dict, env_build: dict, held, overhead: bool) -> None:
    scale = results["scale"]
    results["build"] = _measure_usage([_sleds(), "build"], env_build, home / "bench" / "build.log")
    _save(results, home)
    if results["build"]["exit"]:
        print(results["build"].get("error", ""), flush=True)
    else:
        results["steps"] = build_steps(home)
        results["figures"] = build_figures(home)
        _save(results, home)
        if overhead:
            print(f"[bench {scale}] overhead: bare SQL vs the build's dbt step ...", flush=True)
            bare = _measure([sys.executable, "-m", "tools.bench", "bare"], env)
            results["overhead"] = _overhead(_with_result(bare), results["steps"])
        if held:
            print(f"[bench {scale}] incremental: adding {held[1].name} back and building ...", flush=True)
            shutil.move(str(held[0]), str(held[1]))
            results["incremental"] = {
                "collection": held[1].name,
                **_measure_usage([_sleds(), "build"], env_build, home / "bench" / "incremental.log"),
            }
            _add_report(results["incremental"], home)
            _save(results, home)
        print(f"[bench {scale}] no-op: building again with nothing new ...", flush=True)
        results["noop"] = _measure_usage([_sleds(), "build"], env_build, home / "bench" / "noop.log")
        _add_report(results["noop"], home)
        _save(results, home)
        print(f"[bench {scale}] registry edit: one agreement withdraws permission to be named ...", flush=True)
        results["registry_edit"] = {"edit": _edit_registry(Path(env_build["SLEDS_AGREEMENTS_DIR"]))}
        results["registry_edit"].update(_measure_usage([_sleds(), "build"], env_build, home / "bench" / "registry.log"))
        _add_report(results["registry_edit"], home)


def _wall(steps: list[dict], wanted) -> float | None:
    walls = [s["wall_s"] for s in steps if wanted(s["step"])]
    return round(sum(walls), 2) if walls else None


def _ratio(num: float | None, den: float | None, digits: int = 2) -> float | None:
    return round(num / den, digits) if num and den else None


def budget_figures(results: dict) -> dict:
    """The figures BUDGETS holds a run to (None where this run did not measure one)."""
    t = results.get("totals") or _totals(results)
    steps = results.get("steps") or []
    figures = results.get("figures") or {}
    overhead = results.get("overhead") or {}
    ingest = _wall(steps, lambda step: step.startswith(INGEST_STEPS) or step.endswith(RECHECK))
    ingest_floor = ((results.get("floors") or {}).get("ingest") or {}).get("seconds")
    marts_floor = ((overhead.get("bare_sql") or {}).get("result") or {}).get("seconds")
    dbt = overhead.get("dbt_step_wall_s")
    floors = ingest_floor + marts_floor if ingest_floor and marts_floor else None
    synthetic = results.get("synthetic_disclosure") or {}
    against = results.get("against") or {}
    return {
        "build_wall_s": t.get("build_wall_s"),
        "peak_rss_gb": t.get("peak_rss_gb"),
        "ingest_wall_s": ingest,
        "floor_ratio": _ratio(ingest + dbt, floors) if ingest and dbt else None,
        "ingest_floor_ratio": _ratio(ingest, ingest_floor),
        "identity_scale_ratio": _ratio(_cpu(steps, IDENTITY_STEP), _cpu(against.get("steps") or [], IDENTITY_STEP), 1),
        "publish_wall_s": _wall(steps, lambda step: step == PUBLISH_STEP),
        "synthetic_100k_s": (synthetic.get("suppression_seconds", 0) + synthetic.get("audit_seconds", 0))
        if synthetic.get("cells", 0) >= 90_000
        else None,  # fmt: skip
        "overhead_ratio": t.get("overhead_ratio"),
        "poll_cpu_share": _ratio(figures.get("progress_poll_cpu_s"), t.get("build_cpu_s"), 4),
        "linkage_records_per_minute": t.get("linkage_records_per_minute"),
        "incremental_wall_s": t.get("incremental_wall_s"),
        "noop_wall_s": t.get("noop_wall_s"),
    }


def _cpu(steps: list[dict], name: str) -> float | None:
    return next((s["cpu_s"] for s in steps if s["step"] == name), None)


def budget_lines(results: dict) -> list[dict]:
    """A pass/FAIL line per budget of this run's scale; 'not measured' where the run has no figure."""
    figures = budget_figures(results)
    lines = []
    for b in BUDGETS:
        if results["scale"] not in b.scales:
            continue
        measured = figures.get(b.figure)
        if measured is None:
            verdict = "not measured"
        else:
            verdict = "pass" if (measured >= b.limit if b.at_least else measured <= b.limit) else "FAIL"
        lines.append({"label": b.label, "measured": measured, "limit": b.limit, "unit": b.unit,
                      "at_least": b.at_least, "verdict": verdict})  # fmt: skip
    return lines


def _add_report(figures: dict, home: Path) -> None:
    """The build's own report of a measured `sleds build`: its steps and what it materialized."""
    if figures.get("exit"):
        return
    report = build_report(home)
    figures.update(steps=report["steps"], materialized=report.get("materialized", []), message=report.get("message"))


def _registry(home: Path) -> Path:
    """The benchmark's own copy of the agreement registry, which the registry edit changes."""
    from orchestration.lib import paths
    from orchestration.lib.build_state import REGISTRY_FILES

    folder = home / "bench" / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    for name in REGISTRY_FILES:
        shutil.copy(paths.SEEDS_DIR / name, folder / name)
    return folder


def _edit_registry(folder: Path) -> str:
    """The first agreement that permits naming its institution withdraws that permission."""
    import csv

    path = folder / "agreements.csv"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    row = next(r for r in rows if r["permit_institution_identification"] == "Y")
    row["permit_institution_identification"] = "N"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return f"{row['agreement_id']}: permit_institution_identification Y -> N"


def _overhead(bare: dict, steps: list[dict]) -> dict:
    dbt = [s for s in steps if s["step"] == DBT_STEP]
    bare_s = (bare.get("result") or {}).get("seconds")
    dbt_s = dbt[0]["wall_s"] if dbt else None
    ratio = round(dbt_s / bare_s, 2) if bare_s and dbt_s else None
    return {"bare_sql": bare, "dbt_step_wall_s": dbt_s, "ratio": ratio}


def _save(results: dict, home: Path) -> Path:
    results["totals"] = _totals(results)
    results["budgets"] = budget_lines(results)
    out = home / "bench" / f"bench-{results['scale']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    return out


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


def _totals(results: dict) -> dict:
    build = results.get("build") or {}
    figures = results.get("figures") or {}
    return {
        "build_wall_s": build.get("wall_s"),
        "build_cpu_s": build.get("cpu_s"),
        "peak_rss_gb": max([build.get("peak_rss_gb") or 0] + [s["peak_rss_gb"] for s in results.get("steps", [])])
        or None,
        "linkage_records_per_minute": figures.get("records_per_minute"),
        "publish_cells": figures.get("publish_cells"),
        "publish_seconds": figures.get("publish_seconds"),
        "overhead_ratio": (results.get("overhead") or {}).get("ratio"),
        "incremental_wall_s": (results.get("incremental") or {}).get("wall_s"),
        "noop_wall_s": (results.get("noop") or {}).get("wall_s"),
        "registry_edit_wall_s": (results.get("registry_edit") or {}).get("wall_s"),
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
             f"{'job':<22}{'step':<58}{'wall s':>9}{'CPU s':>9}{'peak GB':>9}"]  # fmt: skip
    gen = results.get("generate") or {}
    if "wall_s" in gen:
        lines.append(f"{'(sleds generate)':<80}{gen['wall_s']:>9}{gen['cpu_s']:>9}{gen['peak_rss_gb']:>9}")
    elif gen:
        lines.append(f"{'(sleds generate)':<80}  {gen.get('skipped', '')}")
    for s in results.get("steps", []):
        lines.append(f"{s['job']:<22}{s['step']:<58}{s['wall_s']:>9}{s['cpu_s']:>9}{s['peak_rss_gb']:>9}")
    build = results.get("build") or {}
    if build:
        lines.append(f"{'sleds build (whole process)':<80}{build['wall_s']:>9}{build['cpu_s']:>9}"
                     f"{build['peak_rss_gb']:>9}" + ("  FAILED" if build.get("exit") else ""))  # fmt: skip
    lines += ["", "against the budgets:"]
    for b in budget_lines(results):
        sign = ">=" if b["at_least"] else "<="
        measured = "-" if b["measured"] is None else f"{b['measured']:,}"
        limit = f"(budget {sign} {b['limit']:,} {b['unit']})"
        lines.append(f"  {b['verdict']:<13}{b['label']:<44}{measured:>14} {b['unit']:<12}{limit}")
    lines += ["", "other figures:"]
    t, f = results["totals"], budget_figures(results)
    floors = results.get("floors") or {}
    ingest_floor = floors.get("ingest") or {}
    lines.append(f"  published cells               {t['publish_cells']}")
    lines.append(f"  ingest steps (load + re-check) {f['ingest_wall_s']} s; bare floor {ingest_floor.get('seconds')} s "
                 f"({ingest_floor.get('rows')} rows, {ingest_floor.get('files')} files)")  # fmt: skip
    bare = ((results.get("overhead") or {}).get("bare_sql") or {}).get("result") or {}
    lines.append(f"  marts: dbt step {(results.get('overhead') or {}).get('dbt_step_wall_s')} s; "
                 f"bare SQL {bare.get('seconds')} s ({bare.get('models')} models)")  # fmt: skip
    synthetic = results.get("synthetic_disclosure") or {}
    if synthetic:
        lines.append(f"  synthetic release             {synthetic.get('cells')} cells: suppression "
                     f"{synthetic.get('suppression_seconds')} s, audit {synthetic.get('audit_seconds')} s, "
                     f"{synthetic.get('suppressed')} suppressed, {synthetic.get('disclosed')} disclosed")  # fmt: skip
    against = results.get("against") or {}
    if against:
        lines.append(f"  compared with                 {against['scale']} run {against['file']}")
    lines.append(f"  one registry edit             {t.get('registry_edit_wall_s')} s")
    for name in ("incremental", "noop", "registry_edit"):
        done = results.get(name) or {}
        if "materialized" in done:
            listing = ", ".join(done["materialized"]) or "nothing"
            lines.append(f"  {name} re-materialized {len(done['materialized'])} assets: {listing}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="time a whole build, step by step")
    run.add_argument("--scale", choices=list(SCALES), default="demo")
    run.add_argument("--home", default=None, help="scratch SLEDS_HOME (default SLEDS_HOME/../bench-<scale>)")
    run.add_argument("--feeds", default=None, help="reuse feeds generated earlier (a folder with landing/)")
    run.add_argument("--no-incremental", action="store_true")
    run.add_argument("--no-overhead", action="store_true", help="skip the floors (bare SQL, bare ingest)")
    run.add_argument("--disclosure-cells", type=int, default=0,
                     help="also time suppression + audit of a synthetic release this big (budget: 100000)")  # fmt: skip
    run.add_argument("--against", default=None, help="bench-<scale>.json of another scale (state / tenth ratios)")
    report = sub.add_parser("report", help="print the table and budget lines of a saved bench-<scale>.json")
    report.add_argument("results")
    sub.add_parser("bare", help=argparse.SUPPRESS)
    ingest = sub.add_parser("bare-ingest", help=argparse.SUPPRESS)
    ingest.add_argument("landing")
    ingest.add_argument("scratch")
    args = parser.parse_args(argv)
    from orchestration.lib import paths

    if args.cmd == "bare":
        print(json.dumps(bare_sql(paths.sleds_home())))
        return 0
    if args.cmd == "bare-ingest":
        print(json.dumps(bare_ingest(Path(args.landing), Path(args.scratch))))
        return 0
    if args.cmd == "report":
        results = json.loads(Path(args.results).read_text())
        results["totals"] = _totals(results)
        print(format_table(results))
        return 0
    home = Path(args.home) if args.home else paths.sleds_home().parent / f"bench-{args.scale}"
    if home.exists():
        # a fresh build every time; generated feeds inside the scratch home are kept
        # only when --feeds points at them
        for entry in home.iterdir():
            if args.feeds and entry.resolve() == Path(args.feeds).resolve():
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    run_bench(args.scale, home, Path(args.feeds) if args.feeds else None,
              incremental=not args.no_incremental, overhead=not args.no_overhead,
              disclosure_cells=args.disclosure_cells, against=Path(args.against) if args.against else None)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
