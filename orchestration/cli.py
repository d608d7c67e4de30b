"""`sleds`: the product's command line.

sleds generate --scale {tiny,demo,tenth,state} --seed N --out DIR
sleds build            materialize every asset in process (what the UI shows)
sleds query "SQL"      read-only SQL against a release (SLEDS release by default; never the vault)
sleds extract          a project extract of the SLEDS release with project-scoped IDs (logged)
sleds audit            the governance report (static HTML); --verify [--head H] checks both governance logs
sleds doctor           runs a killed build left, and half-written folders; --repair ends and cleans them
sleds vault rotate-key seal the vault and the project keys under a new key (stewards)
sleds info             where everything lives
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.generate.scales import SCALES


def _print(msg: str) -> None:
    print(msg, flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.lib.generate.run import generate

    out = Path(args.out).resolve()
    _print(f"generating {args.scale} feeds (seed {args.seed}) into {out}")
    summary = generate(args.scale, args.seed, out, fmt=args.format, progress=lambda m: _print(f"  {m}"))
    for feed, rows in summary["rows"].items():
        _print(f"  {feed:<14} {summary['files'][feed]:>6,} files {rows:>12,} rows")
    _print(f"done in {summary['seconds']}s: landing folder {out / 'landing'}")
    _print(f"ground truth (never read by the pipeline): {out / 'ground_truth'}")
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) stops a build as Ctrl-C does."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def cmd_build(args: argparse.Namespace) -> int:
    import os

    from orchestration.runner import BuildInterrupted, build

    landing = paths.landing_dir()
    _print(f"SLEDS_HOME    {paths.sleds_home()}")
    _print(f"landing       {landing}")
    _stop_on_sigterm()
    try:
        result = build(landing, full=bool(args.full), prune=bool(args.prune))
    except (BuildInterrupted, KeyboardInterrupt) as exc:
        what = f"{exc}; " if isinstance(exc, BuildInterrupted) else ""
        _print(
            f"\nbuild interrupted: {what}nothing half-written is visible (every write is staged), and "
            "the next `sleds build` keeps every partition already loaded and redoes the rest"
        )
        _activity("build_interrupted", {"landing": str(landing), "run_id": getattr(exc, "run_id", None)})
        from orchestration.lib.build_runner import stop_descendants

        stop_descendants()  # dbt runs in a child: SIGTERM to this process alone would leave it writing
        sys.stderr.flush()
        # the run's thread may be inside a DuckDB write: end here rather than wait for it
        # (an interrupted write is rolled back when the file is next opened)
        os._exit(130)
    _print(("\n" + result.message) if result.message else "")
    if result.exit_code == 2:
        return 2
    if result.success:
        _summary()
    _print(f"total {result.seconds:.0f}s")
    _activity("build", {"landing": str(landing), "full": bool(args.full), "prune": bool(args.prune),
                        "partitions_loaded": result.partitions_loaded,
                        "succeeded": bool(result.success), "seconds": round(result.seconds)})  # fmt: skip
    return result.exit_code


def _summary() -> None:
    from orchestration.lib import storage

    with storage.warehouse() as con:
        rows = con.execute(
            "select schema_name, table_name, estimated_size from duckdb_tables() order by schema_name, table_name"
        ).fetchall()
        views = con.execute(
            "select schema_name, view_name from duckdb_views() where not internal order by schema_name, view_name"
        ).fetchall()
    _print("")
    _print("warehouse contents:")
    for schema, name, size in rows:
        _print(f"  table {schema}.{name:<34} ~{size:>10,} rows")
    for schema, name in views:
        _print(f"  view  {schema}.{name}")
    _print("")
    _print("next:")
    _print("  make ui                                     the Dagster UI with the lineage graph")
    _print('  .venv/bin/sleds query "show tables"          the SLEDS release, as a researcher sees it')
    _print(
        '  .venv/bin/sleds query --warehouse "select collection, count(*) from staging.stg_msds__records group by 1"'
    )  # noqa: E501
    _print("  .venv/bin/sleds audit                       the governance report (HTML)")
    _print(f"  output folder: {paths.sleds_home()}")


def _activity(action: str, detail: dict) -> None:
    from orchestration.lib.governance.activity_log import record_activity

    try:
        record_activity(action, detail)
    except OSError as exc:  # the log must not hide the command's own outcome
        print(f"warning: activity log not written: {exc}", file=sys.stderr)


def _write_table(table, fmt: str, output: str | None, max_rows: int) -> int:
    if fmt == "table":
        import duckdb

        con = duckdb.connect()
        try:
            con.from_arrow(table).show(max_rows=max_rows)
        finally:
            con.close()
    elif fmt == "parquet":
        if not output:
            _print("--format parquet needs --output FILE")
            return 2
        import pyarrow.parquet as pq

        pq.write_table(table, output)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, output or sys.stdout.buffer)
    return 0


def _authorize(command: str, target: str | None = None):
    """The access check (orchestration/lib/governance/access.py): the decision, after
    printing its notice if the grant is implicit; AccessRefused otherwise."""
    from orchestration.lib.governance.access import authorize

    decision = authorize(command, target)
    if decision.notice:
        print(decision.notice, file=sys.stderr)
    return decision


def cmd_query(args: argparse.Namespace) -> int:
    import uuid

    import duckdb

    from orchestration.lib.governance.access import AccessRefused, file_limits
    from orchestration.lib.governance.query_access import (
        LimitsError,
        QueryRefused,
        QueryStopped,
        QueryTimedOut,
        Release,
        query_limits,
        resolve_release,
        run_query,
    )
    from orchestration.lib.storage import FileBusy

    where = "warehouse" if args.warehouse else (args.release or "sleds")
    # the id ties the start entry to the finished one: a query killed or still running
    # shows as a start without an end
    detail = {"query_id": uuid.uuid4().hex[:16], "release": where, "sql": args.sql[:2000], "format": args.format}
    _activity("query_started", detail)

    def finished(action: str, outcome: str, code: int, message: str | None = None, **extra) -> int:
        if message:
            print(message, file=sys.stderr)
        _activity(action, {**detail, "outcome": outcome, **extra})
        return code

    try:
        if args.warehouse:
            # data engineers: the internal warehouse, read-only, external access off; the
            # vault is refused all the same
            _authorize("query --warehouse")
            wh = paths.warehouse_path()
            if not wh.exists():
                return finished("query_refused", "refused", 2, f"no warehouse at {wh}: run `sleds build` (or "
                                "`make demo`) first", reason="no warehouse")  # fmt: skip
            release = Release("warehouse", wh)
        else:
            _authorize("query", where)
            release = resolve_release(args.release)
        limits = query_limits(file_limits())
        table = run_query(args.sql, release, internal=args.warehouse, limits=limits)
    except AccessRefused as exc:
        return finished("query_refused", "refused", 2, str(exc), **exc.log_detail())
    except QueryRefused as exc:
        return finished("query_refused", "refused", 2, str(exc), reason=str(exc)[:300])
    except LimitsError as exc:
        return finished("query_failed", "error", 2, f"query not run: {exc}", reason=str(exc)[:300])
    except QueryStopped as exc:
        code = 3 if isinstance(exc, QueryTimedOut) else 1
        return finished("query_failed", exc.outcome, code, str(exc), reason=str(exc)[:300])
    except FileBusy as exc:
        return finished("query_failed", "error", 1, f"query not run: {exc}", reason="file busy")
    except duckdb.Error as exc:
        return finished("query_failed", "error", 1, f"query failed: {exc}", reason=type(exc).__name__)
    except KeyboardInterrupt:
        return finished("query_failed", "error", 130, "query interrupted", reason="interrupted")
    _activity("query", {**detail, "outcome": "ok", "rows": table.num_rows})
    return _write_table(table, args.format, args.output, args.max_rows)


def cmd_extract(args: argparse.Namespace) -> int:
    from orchestration.lib.governance.access import AccessRefused
    from orchestration.lib.governance.extract import ExtractError, write_extract
    from orchestration.lib.identity.project_ids import ProjectKeyError, create_project_key, key_file, plain_key_file

    tables = [t for part in (args.tables or []) for t in part.split(",") if t] or None
    try:
        _authorize("extract", args.project)
        if args.create_key and not key_file(args.project).exists() and not plain_key_file(args.project).exists():
            _authorize("extract --create-key", args.project)
            create_project_key(args.project)
            _activity("project_key_created", {"project": args.project})
            _print(f"created a key for project {args.project} in {key_file(args.project)}")
        result = write_extract(args.project, Path(args.out).resolve(), tables=tables, recipient=args.recipient)
    except AccessRefused as exc:
        _print(f"no extract written: {exc}")
        _activity("extract_refused", {"project": args.project, **exc.log_detail()})
        return 2
    except (ExtractError, ProjectKeyError) as exc:
        _print(f"no extract written: {exc}")
        _activity("extract_refused", {"project": args.project, "reason": str(exc)[:300]})
        return 2
    _activity(
        "extract",
        {"project": args.project, "folder": str(result.folder), "tables": result.tables,
         "disclosure_seq": result.disclosure["seq"]},
    )  # fmt: skip
    _print(f"project extract for {args.project} written to {result.folder}")
    for table, rows in result.tables.items():
        _print(f"  {table:<40} {rows:>10,} rows")
    _print(f"recorded in the disclosure log as entry {result.disclosure['seq']} ({result.disclosure['hash'][:16]}...)")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from orchestration.lib.governance.access import AccessRefused
    from orchestration.lib.governance.disclosure_log import disclosure_log_path

    command = "audit --verify" if args.verify else "audit"
    try:
        _authorize(command)
    except AccessRefused as exc:
        print(str(exc), file=sys.stderr)
        _activity("audit_refused", exc.log_detail())
        return 2
    if args.verify:
        from orchestration.lib.governance.activity_log import activity_log_path
        from orchestration.lib.governance.log_heads import verify_logs

        result = verify_logs(head=args.head)
        _activity("audit_verify", {"ok": result.ok, "findings": len(result.findings), "first_bad": result.first_bad,
                                   "disclosure": result.counts["disclosure"], "activity": result.counts["activity"],
                                   "head": result.head_used})  # fmt: skip
        for line in result.report_lines():
            _print(line)
        _print(f"  {disclosure_log_path()}")
        _print(f"  {activity_log_path()}")
        return 0 if result.ok else 1
    if args.head:
        _print("--head goes with --verify")
        return 2
    from orchestration.lib.governance.report import PdfUnavailable, write_pdf, write_report

    out = Path(args.out).resolve() if args.out else None
    began = time.monotonic()

    def step(message: str) -> None:
        _print(f"[{time.monotonic() - began:5.1f}s] {message}")

    report = write_report(out, progress=step)
    pdf, pdf_error = None, ""
    if args.pdf:
        step("printing the PDF with headless Chromium")
        try:
            pdf = write_pdf(report.path)
        except PdfUnavailable as exc:
            pdf_error = str(exc)
    _activity("report_generated", {"report": str(report.path), "sections": report.sections,
                                   "chain_ok": report.chain_ok, "pdf": str(pdf) if pdf else None})  # fmt: skip
    _print(f"governance report: {report.path}")
    _print(f"  open it in a browser (file://{report.path}); no server needed")
    if pdf:
        _print(f"  PDF: {pdf}")
    if not report.chain_ok:
        _print("  WARNING: the disclosure log does not verify; see the report's disclosure section")
    if pdf_error:
        print(f"PDF not written: {pdf_error}", file=sys.stderr)
        return 1
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from orchestration.lib.leftovers import find_leftovers, repair
    from orchestration.recovery import recover, run_states
    from orchestration.runner import instance

    home = paths.sleds_home()
    dagster = instance(home)
    states = run_states(dagster)
    leftovers = find_leftovers(home)
    for state in states:
        _print(("stale    " if state.stale else "running  ") + state.describe())
    for leftover in leftovers:
        _print(f"leftover {leftover.describe(home)}")
    if not args.repair:
        if not states and not leftovers:
            _print("nothing to repair: no run holds the warehouse, no half-written folder or file")
        if any(s.stale for s in states) or leftovers:
            _print("`sleds doctor --repair` ends the stale runs and cleans up (a build does it too)")
        for state in states:
            if state.verdict == "unowned":
                short = state.run_id[:8]
                _print(f"if nothing runs run {short} any more: sleds doctor --repair --fail-run {short}")
        return 0
    recovery = recover(dagster, _print, fail_runs=args.fail_run or ())
    _activity("doctor_repair", {"runs_ended": [s.run_id for s in recovery.repaired],
                                "runs_running": [s.run_id for s in recovery.running]})  # fmt: skip
    if recovery.running:
        _print("leftover folders kept: a build is running, and its staging folders look the same")
        return 1
    for leftover in leftovers:
        repair(leftover)
    _print(f"repaired: {len(recovery.repaired)} run(s) ended, {len(leftovers)} leftover(s) cleaned up")
    return 0


def cmd_vault(args: argparse.Namespace) -> int:
    """`sleds vault rotate-key`: the vault and the project keys sealed under a new key."""
    from orchestration.lib import vault_at_rest
    from orchestration.lib.governance.access import AccessRefused
    from orchestration.lib.sealing import SealError

    try:
        _authorize("vault rotate-key")
        _print(vault_at_rest.rotate_key())
    except AccessRefused as exc:
        print(str(exc), file=sys.stderr)
        _activity("vault_refused", exc.log_detail())
        return 2
    except SealError as exc:
        _print(f"the key was not rotated: {exc}")
        return 1
    _activity("vault_key_rotated", {"key_file": str(vault_at_rest.key_path())})
    _print("keep a copy of the new key where the agency keeps its keys: the old one opens nothing now")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    _print(f"SLEDS_HOME   {paths.sleds_home()}")
    _print(f"landing      {paths.landing_dir()}")
    _print(f"warehouse    {paths.warehouse_path()}")
    from orchestration.lib.sealing import key_path

    _print(f"vault        {paths.vault_path()}.sealed (a working copy without .sealed only during a build)")
    _print(f"vault key    {key_path()} (SLEDS_VAULT_KEY_FILE)")
    _print(f"dbt project  {paths.DBT_PROJECT_DIR}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sleds", description="Statewide longitudinal education data warehouse")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write synthetic feeds (landing folder + ground truth)")
    g.add_argument("--scale", choices=list(SCALES), default="demo")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--out", default=str(paths.demo_dir()), help="output folder (default: %(default)s)")
    g.add_argument("--format", choices=["csv", "parquet"], default="csv")
    g.set_defaults(func=cmd_generate)
    b = sub.add_parser("build", help="materialize every asset in process, with progress")
    b.add_argument("--full", action="store_true", help="reload every partition, even unchanged ones")
    b.add_argument("--prune", action="store_true", help="retract the partitions whose files left the landing folder "
                   "(their records leave the warehouse and the vault; logged)")  # fmt: skip
    b.set_defaults(func=cmd_build)
    q = sub.add_parser("query", help="read-only SQL against a release you are entitled to (never the vault)")
    q.add_argument("sql")
    q.add_argument("--release", default="sleds", help="sleds (default), institution:<code> or public")
    q.add_argument(
        "--warehouse", action="store_true", help="data engineers: the internal warehouse instead (read-only, no vault)"
    )
    q.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    q.add_argument("--output", help="file to write (csv, parquet)")
    q.add_argument("--max-rows", type=int, default=40)
    q.set_defaults(func=cmd_query)
    x = sub.add_parser("extract", help="a project extract of the SLEDS release with project-scoped IDs (logged)")
    x.add_argument("--project", required=True, help="the approved project (its key: SLEDS_PROJECT_KEY_<P> or file)")
    x.add_argument("--tables", nargs="*", help="release tables (default: all), space or comma separated")
    x.add_argument("--out", required=True, help="folder to write (must not exist or be empty)")
    x.add_argument("--recipient", help="who receives it, for the disclosure log (default: project:<P>)")
    x.add_argument("--create-key", action="store_true", help="create the project's key file if it has none")
    x.set_defaults(func=cmd_extract)
    a = sub.add_parser("audit", help="the governance report (static HTML); --verify checks both governance logs")
    a.add_argument("--verify", action="store_true", help="verify the disclosure and activity logs' chains and exit")
    a.add_argument("--head", metavar="H", help="with --verify: the head token (d<seq>-<hash>.a<seq>-<hash>) or head "
                   "file the committee archived (default: governance/head.json and its archive)")  # fmt: skip
    a.add_argument("--out", help="report file (default: SLEDS_HOME/reports/governance.html)")
    a.add_argument("--pdf", action="store_true", help="also print the report to PDF beside it (governance.pdf) with "
                   "headless Chromium (Debian: apt-get install chromium); exit 1 if it cannot")  # fmt: skip
    a.set_defaults(func=cmd_audit)
    d = sub.add_parser("doctor", help="report runs a killed build left and half-written folders; --repair fixes them")
    d.add_argument("--repair", action="store_true", help="end stale runs, free their slots, clean up leftovers")
    d.add_argument("--fail-run", action="append", metavar="RUN_ID",
                   help="with --repair: also end this run (one not started by sleds build, known dead)")  # fmt: skip
    d.set_defaults(func=cmd_doctor)
    v = sub.add_parser("vault", help="the vault's encryption key (stewards)")
    v.add_argument("action", choices=["rotate-key"], help="seal the vault and the project keys under a new key")
    v.set_defaults(func=cmd_vault)
    i = sub.add_parser("info", help="where everything lives")
    i.set_defaults(func=cmd_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
