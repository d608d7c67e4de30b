"""The one way the pipeline runs: the Dagster jobs, executed in process.

`sleds build`, the tests' built warehouses and `make bench` all call `build()`:
plan the landing folder's partitions (orchestration/lib/ingest/plan.py), register
the new ones with the Dagster instance, run one ingest job per feed over the
partitions that changed, then the `marts` job (everything downstream). Every step
prints a progress line; per-step wall time, CPU and peak memory go to
SLEDS_HOME/reports/build_steps.json, which is what the benchmark reports.

This module imports Dagster; the stages it runs live in orchestration/lib.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib import build_state, paths, vault_at_rest

DOWNSTREAM_JOB = "marts"
DBT_STEP = "sleds_dbt_models"
# changes of these alone re-run only what the agreements decide (orchestration/defs/incremental.py)
REGISTRY_INPUTS = {"registry", "as_of"}


def ingest_job(feed: str) -> str:
    return f"ingest_{feed}"


@dataclass
class BuildResult:
    success: bool
    exit_code: int  # 0 built, 1 a step failed, 2 nothing could start (bad landing folder)
    message: str = ""
    partitions_planned: int = 0
    partitions_loaded: int = 0
    materialized: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # "asset:check" of every check evaluated
    steps: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    poll_cpu_s: float = 0.0  # CPU spent watching the runs for progress lines (make bench's budget)


def instance(home: Path | None = None):
    """The Dagster instance in SLEDS_HOME/dagster (the one `make ui` shows)."""
    import dagster as dg

    from orchestration.lib.dagster_home import ensure_dagster_home

    return dg.DagsterInstance.from_config(str(ensure_dagster_home(home or paths.sleds_home())))


def job_steps() -> dict[str, list[str]]:
    """Every build job and its step keys in execution order: what a full build runs."""
    from orchestration.definitions import defs
    from orchestration.lib.reference import FEEDS

    out = {}
    for name in [ingest_job(f) for f in FEEDS] + [DOWNSTREAM_JOB]:
        job = defs.resolve_job_def(name)
        out[name] = [node.name for node in job.graph.nodes_in_topological_order]
    return out


def build(
    landing: Path | None = None,
    *,
    full: bool = False,
    prune: bool = False,
    emit: Callable[[str], None] | None = None,
    poll_interval: float = 0.5,
) -> BuildResult:
    """Load what changed in `landing` and rebuild everything downstream; with `prune`,
    first retract the partitions whose files are gone (orchestration/lib/ingest/retract.py).
    Progress lines go to `emit` (default: this process's stdout as it is now; while a job
    runs, stdout itself is the run's log file, where dbt's output belongs)."""
    if emit is None:
        terminal = sys.stdout
        emit = lambda line: print(line, file=terminal, flush=True)  # noqa: E731
    from orchestration.lib.agreements.registry import as_of_date
    from orchestration.lib.ingest.landing import LandingError
    from orchestration.lib.ingest.plan import plan, runs_to_load

    landing = landing or paths.landing_dir()
    began = time.monotonic()
    # everything the build writes (vault, warehouse, logs, releases) is this account's
    # alone: files 0600, folders 0700; readers come through `sleds query` and extracts
    os.umask(0o077)
    # the plan first: a bad landing folder is reported before Dagster and the dbt
    # manifest take their seconds to load
    try:
        planned = plan(landing, paths.warehouse_path())
    except LandingError as exc:
        return BuildResult(False, 2, f"cannot build: {exc}")
    removed = _landing_report(landing, planned, emit, prune)
    retract = removed if prune else []
    emptied = emptied_feeds(planned, retract)
    if emptied:
        return BuildResult(False, 2, f"cannot build: --prune would retract every partition of {', '.join(emptied)}: "
                           f"{landing} holds none of their files (is SLEDS_LANDING right, the share mounted?). "
                           "Nothing was retracted.")  # fmt: skip
    todo = [p for p in planned if full or p.reason != "unchanged"]
    result = BuildResult(False, 1, partitions_planned=len(planned), partitions_loaded=len(todo))
    reasons = ", ".join(f"{sum(p.reason == r for p in todo)} {r}" for r in ("new", "changed", "contract changed"))
    emit(
        f"ingest: {len(planned)} partitions in the landing folder, {len(todo)} to load ({reasons}"
        f"{'; all reloaded (--full)' if full else ''})"
    )
    # what changed besides the landing files: anything but them makes the whole downstream due
    changed = ["--full"] if full else build_state.what_changed()
    if not todo and not changed and not retract:
        result.success, result.exit_code = True, 0
        result.message = (
            "nothing to do: every partition is loaded, and the code, reference data, agreements (as of "
            f"{as_of_date()}), warehouse, vault and releases are as the last "
            "successful build left them (sleds build --full rebuilds everything)"
        )
        return _finish(result, began)
    feeds = sorted({p.feed for p in todo} | {feed for feed, _ in retract}) if not changed else []
    registry_only = not todo and not retract and set(changed) <= REGISTRY_INPUTS
    what = "new, changed or retracted" if retract else "new or changed"
    emit(f"downstream due: {', '.join(changed) if changed else f'{what} partitions of ' + ', '.join(feeds)}")
    emit(f"[{time.monotonic() - began:7.1f}s] loading the pipeline definitions")
    dagster = instance()
    _recover(dagster, emit)
    interrupted = False
    try:
        if retract:
            try:
                _retract(retract, dagster, emit)
            except RetractionRefused as exc:  # refused before anything changed: the last build's state holds
                result.message = f"--prune: {exc}"
                return _finish(result, began)
        build_state.forget_downstream()  # from here until it is done, the downstream is due
        from orchestration.definitions import defs

        quiet = {"console": {"config": {"log_level": "WARNING"}}}
        stamp = lambda: f"[{time.monotonic() - began:7.1f}s]"  # noqa: E731
        for feed in dict.fromkeys(p.feed for p in planned):
            name = f"{feed}_partitions"
            known = set(dagster.get_dynamic_partitions(name))
            dagster.add_dynamic_partitions(name, [p.key for p in planned if p.feed == feed and p.key not in known])
            wanted = {p.key for p in todo if p.feed == feed}
            for block in runs_to_load(dagster.get_dynamic_partitions(name), wanted):
                op_config = {"force": bool(full), "landing": str(landing)}
                config = {"loggers": quiet, "ops": {f"raw__{feed}": {"config": op_config}}}
                tags = {"dagster/asset_partition_range_start": block[0], "dagster/asset_partition_range_end": block[-1]}
                emit(f"{stamp()} ingest {feed}: {len(block)} partition(s) in one run")
                outcome = _run_job(defs.resolve_job_def(ingest_job(feed)), dagster, config, tags, began, emit,
                                   poll_interval, result)  # fmt: skip
                if not outcome.success:
                    result.message = (
                        f"ingest of {feed} failed; the partitions listed as loaded are in the warehouse, "
                        "the others are unchanged. Fix the files and rerun."
                    )
                    return _finish(result, began)
        job = defs.resolve_job_def(DOWNSTREAM_JOB)
        config = {"loggers": quiet, "ops": {"governance__purges": {"config": {"landing": str(landing)}}}}
        if registry_only:
            outcome = _registry_pass(job, defs, dagster, config, began, emit, poll_interval, result)
        elif not feeds:
            emit(f"{stamp()} marts, quality checks and everything downstream")
            outcome = _run_job(job, dagster, config, None, began, emit, poll_interval, result)
        else:
            outcome = _downstream_of(feeds, job, defs, dagster, config, began, emit, poll_interval, result)
        result.success = outcome.success
        result.exit_code = 0 if outcome.success else 1
        # the state is recorded only with the vault sealed: a build that had to leave it
        # unsealed is not "done", so the next one rebuilds and seals it
        if outcome.success and _seal_vault(dagster, emit, result):
            build_state.record_downstream_done()
        status = "succeeded" if outcome.success else "FAILED"
        result.message = f"marts {status}: {len(result.materialized)} assets materialized"
        return _finish(result, began)
    except (BuildInterrupted, KeyboardInterrupt):
        interrupted = True  # the canceled run may still be writing the vault: leave it unsealed
        raise
    finally:
        if not interrupted:
            _seal_vault(dagster, emit, result)


def _downstream_of(feeds, job, defs, dagster, config, began, emit, poll_interval, result: BuildResult):
    """Only what the changed feeds can change (orchestration/defs/incremental.py), then a
    second pass for any other feed whose records identity moved to another research ID."""
    from orchestration.defs.incremental import affected_assets
    from orchestration.lib.identity.pipeline import latest_changes_by_feed

    graph = defs.resolve_asset_graph()
    total = len(job.asset_layer.selected_asset_keys)
    affected = affected_assets(set(feeds))
    keys = sorted(affected.resolve(graph) & job.asset_layer.selected_asset_keys)
    emit(f"[{time.monotonic() - began:7.1f}s] downstream of {', '.join(feeds)}: {len(keys)} of {total} assets")
    # with the changed feeds' raw re-checks (engines_agree), which gate what they feed
    outcome = _run_job(job, dagster, config, None, began, emit, poll_interval, result, asset_selection=keys,
                       check_selection=affected.resolve_checks(graph))  # fmt: skip
    if not outcome.success:
        return outcome
    moved = sorted(f for f, n in latest_changes_by_feed(paths.warehouse_path()).items() if f not in feeds and n != 0)
    if not moved:
        return outcome
    more = sorted(affected_assets(set(moved), identity=False).resolve(graph) & job.asset_layer.selected_asset_keys)
    emit(f"[{time.monotonic() - began:7.1f}s] identity moved records of {', '.join(moved)}: {len(more)} more assets")
    return _run_job(job, dagster, {"loggers": config["loggers"]}, None, began, emit, poll_interval, result,
                    asset_selection=more)  # fmt: skip


def _registry_pass(job, defs, dagster, config, began, emit, poll_interval, result: BuildResult):
    """Only what the agreements decide; then, if a purge deleted records, what they fed."""
    from orchestration.defs.incremental import POSTSECONDARY, affected_assets, registry_assets
    from orchestration.lib.agreements.purge import purged_since

    graph = defs.resolve_asset_graph()
    keys = sorted(registry_assets().resolve(graph) & job.asset_layer.selected_asset_keys)
    total = len(job.asset_layer.selected_asset_keys)
    emit(f"[{time.monotonic() - began:7.1f}s] what the agreements decide: {len(keys)} of {total} assets")
    started = dt.datetime.now(dt.UTC)
    outcome = _run_job(job, dagster, config, None, began, emit, poll_interval, result, asset_selection=keys)
    if not outcome.success or not purged_since(paths.warehouse_path(), started):
        return outcome
    more = sorted(affected_assets(set(POSTSECONDARY)).resolve(graph) & job.asset_layer.selected_asset_keys)
    emit(f"[{time.monotonic() - began:7.1f}s] a purge deleted records: {len(more)} more assets")
    return _run_job(job, dagster, config, None, began, emit, poll_interval, result, asset_selection=more)


class BuildInterrupted(Exception):
    """Ctrl-C or SIGTERM during a run: the run is canceled and its slots freed."""

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id} canceled, its warehouse slot freed")
        self.run_id = run_id


def _recover(dagster, emit: Callable[[str], None]) -> None:
    """Before anything runs: end the runs a killed build left (orchestration/recovery.py)
    and, when no other build runs, put right what a killed process left on disk."""
    from orchestration.lib.leftovers import find_leftovers, repair
    from orchestration.recovery import recover

    recovery = recover(dagster, emit)
    for state in recovery.running:
        emit(
            f"waiting: {state.describe()}. This build starts when it ends (Ctrl-C stops waiting; "
            "if that run is dead, `sleds doctor --repair --fail-run ID` ends it)"
        )
    if recovery.running:
        return  # its staging folders look like leftovers
    home = paths.sleds_home()
    for leftover in find_leftovers(home):
        if leftover.action == "seal":
            continue  # this build goes on with the vault's working copy and seals it at its end
        repair(leftover)
        emit(f"cleaned up {leftover.describe(home)}")


def _retract(removed: list[tuple[str, str]], dagster, emit: Callable[[str], None]) -> None:
    """`--prune`: each partition whose files are gone out of the warehouse, the vault and
    Dagster's partitions, an activity-log entry each."""
    from orchestration.lib.governance.activity_log import record_activity
    from orchestration.lib.ingest.retract import retract_partitions
    from orchestration.recovery import run_states

    live = [s for s in run_states(dagster) if not s.stale]
    if live:  # the retraction writes outside Dagster's one-writer pool: not under a run
        raise RetractionRefused(f"nothing retracted while {live[0].describe()}; rerun when it has ended")

    def retracted(done) -> None:
        name = f"{done.feed}_partitions"
        if dagster.has_dynamic_partition(name, done.partition):
            dagster.delete_dynamic_partition(name, done.partition)
        record_activity("partition_retracted", {"feed": done.feed, "partition": done.partition,
                                                "rows_deleted": done.rows_deleted})  # fmt: skip
        emit(f"retracted {done.feed} {done.partition}: {done.records} records out of the warehouse and the vault")

    retract_partitions(removed, paths.warehouse_path(), paths.vault_path(), on_retracted=retracted)


class RetractionRefused(Exception):
    """`--prune` would retract what it must not, or cannot now."""


def emptied_feeds(planned, removed: list[tuple[str, str]]) -> list[str]:
    """Feeds of which --prune would retract every partition: the landing folder holds none
    of their files any more, more likely a wrong SLEDS_LANDING or an unmounted share than a
    withdrawal of every delivery."""
    present = {p.feed for p in planned}
    return sorted({feed for feed, _ in removed} - present)


def _landing_report(landing: Path, planned, emit: Callable[[str], None], prune: bool = False) -> list[tuple[str, str]]:
    """What the landing folder holds that is not loaded, and partitions loaded earlier that
    are gone from it (returned): a line each (up to 10) and SLEDS_HOME/reports/landing.json
    in full."""
    from orchestration.lib.ingest.landing import survey
    from orchestration.lib.ingest.plan import removed_partitions

    skipped = survey(landing)
    removed = removed_partitions(planned, paths.warehouse_path())
    out = _write_report("landing.json", {
        "landing": str(landing), "partitions": len(planned), "not_loaded": [vars(s) for s in skipped],
        "removed_partitions": [{"feed": f, "partition": k} for f, k in removed], "prune": prune,
    })  # fmt: skip
    for entry in skipped[:10]:
        emit(f"landing: not loaded: {entry.path}: {entry.why}")
    fate = "--prune retracts it" if prune else "it stays in the warehouse (`sleds build --prune` retracts it)"
    for feed, key in removed[:10]:
        emit(f"landing: {feed} {key} was loaded before and its files are gone: {fate}")
    if len(skipped) > 10 or len(removed) > 10:
        emit(f"landing: {len(skipped)} entries not loaded, {len(removed)} partitions gone in all: {out}")
    return removed


def _seal_vault(dagster, emit: Callable[[str], None], result: BuildResult) -> bool:
    """Seal the vault's working copy (orchestration/lib/vault_at_rest.py) unless another
    run is live or any process has it open; whether the vault is sealed now."""
    from orchestration.lib.sealing import SealError
    from orchestration.recovery import run_states

    if vault_at_rest.unsealed_working_copy() is None:
        return True
    live = [s for s in run_states(dagster) if not s.stale]
    if live:
        emit(f"the vault stays unsealed while {live[0].describe()}; the build after it seals it")
        return False
    began, cpu = time.monotonic(), time.process_time()
    try:
        done = vault_at_rest.seal()
    except SealError as exc:
        emit(f"the vault was NOT sealed: {exc}")
        result.message += f"\nwarning: the vault was not sealed: {exc}"
        return False
    if done == "in use":
        emit("the vault stays unsealed: another process has it open; the next build or `sleds doctor --repair` "
             "seals it")  # fmt: skip
        return False
    if done == "sealed":
        size = vault_at_rest.sealed_path(paths.vault_path()).stat().st_size
        wall = time.monotonic() - began
        emit(f"vault sealed ({size / 1e6:.1f} MB in {wall:.1f} s)")
        # a row of its own in build_steps.json, so `make bench` shows what encryption costs
        result.steps.append({"job": "build", "step": "vault_seal", "wall_s": round(wall, 2),
                             "cpu_s": round(time.process_time() - cpu, 2), "peak_rss_gb": 0.0,
                             "status": "succeeded", "megabytes": round(size / 1e6, 1)})  # fmt: skip
    return True


def _failure_text(ev) -> str:
    """What a failed step says: our own `dg.Failure` reasons in full (they are written to name
    tables, cells and files, never a person); for any other error only its type, since an
    exception's text may quote the data it choked on (the full error is in the run's log)."""
    data = ev.event_specific_data
    described = getattr(getattr(data, "user_failure_data", None), "description", None)
    if described:
        return described.replace("\n", " ")[:1200]
    error = getattr(data, "error", None)
    kind = getattr(error, "cls_name", None) if error is not None else None
    return f"{kind} (see the run's log)" if kind else (ev.message or "").splitlines()[0][:300]


def _finish(result: BuildResult, began: float) -> BuildResult:
    result.seconds = round(time.monotonic() - began, 1)
    _write_report("build_steps.json", {
        "success": result.success, "seconds": result.seconds, "partitions_loaded": result.partitions_loaded,
        "message": result.message, "materialized": result.materialized, "steps": result.steps,
        "progress_poll_cpu_s": round(result.poll_cpu_s, 2),
    })  # fmt: skip
    _write_log_head(result)
    return result


def _write_report(name: str, doc: dict) -> Path:
    """SLEDS_HOME/reports/<name>, written aside and renamed into place."""
    out = paths.sleds_home() / "reports" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    return out


def _write_log_head(result: BuildResult) -> None:
    """The governance logs' head after every build (orchestration/lib/governance/log_heads.py),
    for the committee to archive; a head that could not be written or logs that do not
    verify are said, without hiding the build's own outcome."""
    from orchestration.lib.governance.log_heads import write_head

    try:
        head = write_head()
    except (OSError, ValueError) as exc:
        result.message += f"\nwarning: the governance log head was not written: {exc}"
        return
    if not head["verified"]:
        result.message += "\nwarning: the governance logs do not verify: run `sleds audit --verify`"


def _run_job(
    job, dagster, run_config, tags, began, emit, poll_interval, result: BuildResult, asset_selection=None,
    check_selection=(),
):  # fmt: skip
    """Execute a job in process, one terminal line per step, materialization, check
    and ingested partition; dbt's own output goes to SLEDS_HOME/logs. With
    `asset_selection`, only those assets run, with their own checks and those of
    `check_selection` the job holds (a check on an asset outside the run, such as a raw
    asset's re-check, is not one of the selected assets' own)."""
    import dagster as dg

    if asset_selection is not None:
        held = job.asset_layer.asset_graph.asset_check_keys
        selected = set(asset_selection)
        checks = {c for c in held if c.asset_key in selected} | (set(check_selection) & held)
        # execute_in_process takes assets only: a subset job carries the checks too
        job, asset_selection = job.get_subset(asset_selection=selected, asset_check_selection=checks), None

    from orchestration.lib.build_runner import StepClock, StepLine, run_with_progress
    from orchestration.recovery import cancel_run, owner_tags

    run_id = str(uuid.uuid4())
    tags = {**(tags or {}), **owner_tags()}  # a later build can tell if this process died
    cursor: dict = {"at": None}  # where the last poll stopped reading the run's events
    clock = StepClock(job.name)
    kinds = {
        dg.DagsterEventType.STEP_START: "started",
        dg.DagsterEventType.STEP_SUCCESS: "finished",
        dg.DagsterEventType.ASSET_MATERIALIZATION: "materialized",
        dg.DagsterEventType.STEP_FAILURE: "failed",
        dg.DagsterEventType.ASSET_CHECK_EVALUATION: "checked",
    }

    def new_events():
        # only the events written since the last poll (a long run has many thousands)
        while True:
            page = dagster.get_records_for_run(run_id, cursor=cursor["at"], limit=1000)
            cursor["at"] = page.cursor
            yield from (r.event_log_entry for r in page.records)
            if not page.has_more:
                return

    def poll() -> list[StepLine]:
        lines = []
        for rec in new_events():
            ev = rec.dagster_event
            if ev is None:  # what our steps say while they work (dbt's own chatter stays in the log file)
                message = rec.user_message or ""
                if message.startswith("partition "):
                    lines.append(StepLine("ingested", "", message))
                elif message.startswith(("public summaries unchanged", "release unchanged")):
                    lines.append(StepLine("published", "", message))
                elif message and rec.step_key and DBT_STEP not in rec.step_key and rec.level >= logging.INFO:
                    lines.append(StepLine("working", rec.step_key, message.splitlines()[0][:200]))
                continue
            kind = kinds.get(ev.event_type)
            if kind is None:
                continue
            if kind == "started":
                clock.started(rec.step_key, rec.timestamp)
                step, message = rec.step_key, ""
            elif kind in ("finished", "failed"):
                clock.ended(rec.step_key, rec.timestamp, "succeeded" if kind == "finished" else "failed")
                step = rec.step_key
                took = clock.steps.get(step, {}).get("wall_s", 0.0)
                message = f"in {took:.1f}s" if kind == "finished" else _failure_text(ev)
            elif kind == "materialized":
                step, message = ev.asset_key.to_user_string(), ""
                if ev.partition:
                    continue  # ranged ingest runs report per partition above
            else:
                data = ev.event_specific_data
                step = f"{data.asset_key.to_user_string()}:{data.check_name}"
                warn = getattr(data.severity, "name", "") == "WARN"
                message = "passed" if data.passed else ("warning (see metadata)" if warn else "FAILED")
            lines.append(StepLine(kind, step, message))
        clock.sample()
        return lines

    paths.logs_dir().mkdir(parents=True, exist_ok=True)
    log_path = paths.logs_dir() / f"run-{run_id}.log"
    terminal = sys.stdout
    run_began = time.time()
    with log_path.open("w", encoding="utf-8") as log:
        sys.stdout = log  # dagster-dbt echoes dbt's event stream to stdout
        try:
            outcome = run_with_progress(
                lambda: job.execute_in_process(
                    instance=dagster,
                    run_id=run_id,
                    raise_on_error=False,
                    run_config=run_config,
                    tags=tags,
                    asset_selection=asset_selection,
                ),
                poll,
                emit,
                interval=poll_interval,
                began=began,
            )
        except KeyboardInterrupt:
            sys.stdout = terminal
            cancel_run(dagster, run_id)
            raise BuildInterrupted(run_id) from None
        finally:
            sys.stdout = terminal
    result.steps.extend(clock.timings(run_wall_s=time.time() - run_began))
    result.materialized.extend(outcome.materialized)
    result.checked.extend(outcome.checked)
    result.poll_cpu_s += outcome.poll_cpu_s
    if outcome.error is not None:
        emit(f"run {run_id} crashed: {outcome.error!r}")
    for failure in outcome.failures:
        emit(f"  failed: {failure}")
    if not outcome.success:
        emit(f"  run {run_id}: full log {log_path}; details in the UI (make ui)")
    return outcome
