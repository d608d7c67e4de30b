"""Automation: what keeps the warehouse current under `dagster dev` with no command typed.

- `landing_folder` sensor: plans the landing folder as `sleds build` does
  (orchestration/lib/ingest/plan.py), registers new partitions and requests one ingest run
  per feed for the partitions that are new or whose files changed (a run key per set of
  file hashes, so the same files are never loaded twice and changed files always are).
- Declarative automation: every asset downstream of ingest is `eager`: once a feed's
  partition lands, its descendants are materialized, in the one-writer pool, by the
  `downstream_automation` sensor.
- `vault_sealer` sensor: a run started in the UI unseals the vault (its first vault-side
  stage does) and, unlike `sleds build`, nothing seals it at the run's end; the sensor seals
  it once no run is live and none has ended for SEAL_AFTER_IDLE_S (so not in the seconds
  between the runs of one build), and never while any process has it open.
- `agreements_daily` schedule: agreement statuses change with the date (expiry,
  destruction dates), so the downstream assets run every morning (job `agreements_daily`:
  the `marts` job without the raw re-checks, which no new data calls for and which would
  hold back the purges if one failed): the registry is
  re-evaluated, due purges are carried out and releases rebuilt; a release whose content
  did not change is not written or disclosed again (orchestration/lib/releases/content.py).

`sleds build` is the one-shot command-line equivalent over the same definitions."""

from __future__ import annotations

import dagster as dg
import duckdb

from orchestration.defs.ingest import RECHECKS, ingest_jobs
from orchestration.lib import paths
from orchestration.lib.ingest.landing import LandingError
from orchestration.lib.ingest.plan import plan, runs_to_load
from orchestration.lib.reference import FEEDS
from orchestration.lib.storage import sha256_json

# everything after ingest, with the raw assets' Great Expectations re-checks (they block it)
DOWNSTREAM = dg.AssetSelection.all() - dg.AssetSelection.groups("ingest") | RECHECKS
DAILY_CRON = "0 6 * * *"  # before the working day: statuses as of today
SEAL_AFTER_IDLE_S = 120  # longer than the gap between the runs of one build (its definitions load in ~40 s)
EAGER = dg.AutomationCondition.eager()


@dg.sensor(
    name="landing_folder",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    jobs=ingest_jobs,
    description="New or changed files in the landing folder (SLEDS_LANDING): registers their partitions and "
    "requests the ingest runs that load them.",
)
def landing_folder(context: dg.SensorEvaluationContext):
    landing = paths.landing_dir()
    # planning hashes every landing file (gigabytes at state scale): only when a file's name,
    # size or time, or the warehouse, changed since the last look
    looked = _signature(landing)
    if looked is not None and looked == context.cursor:
        return dg.SkipReason(f"no file in {landing} changed since the last look")
    try:
        planned = plan(landing, paths.warehouse_path())
    except LandingError as exc:
        return dg.SkipReason(f"the landing folder cannot be read: {exc}")
    except duckdb.IOException as exc:  # a run holds the warehouse: look again on the next tick
        return dg.SkipReason(f"the warehouse is busy ({str(exc).splitlines()[0][:120]}); retrying")
    todo = [p for p in planned if p.reason != "unchanged"]
    if not todo:
        context.update_cursor(looked)
        return dg.SkipReason(f"nothing new in {landing} ({len(planned)} partitions loaded)")
    additions, runs = [], []
    for feed in FEEDS:
        name = f"{feed}_partitions"
        known = list(context.instance.get_dynamic_partitions(name))
        new = [p.key for p in planned if p.feed == feed and p.key not in known]
        if new:
            additions.append(dg.AddDynamicPartitionsRequest(partitions_def_name=name, partition_keys=new))
        wanted = {p.key: p for p in todo if p.feed == feed}
        for block in runs_to_load(known + new, set(wanted)):
            runs.append(
                dg.RunRequest(
                    job_name=f"ingest_{feed}",
                    run_key=f"{feed}:{block[0]}..{block[-1]}:{sha256_json([wanted[k].files_sha for k in block])[:16]}",
                    run_config={"ops": {f"raw__{feed}": {"config": {"landing": str(landing)}}}},
                    tags={
                        "dagster/asset_partition_range_start": block[0],
                        "dagster/asset_partition_range_end": block[-1],
                        "sleds/reason": ", ".join(sorted({wanted[k].reason for k in block})),
                    },
                )
            )
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=additions, cursor=looked)


def _signature(landing) -> str | None:
    """Name, size and modification time of every landing file, and the warehouse's: what
    the last look saw (None when the folder cannot be listed: then plan and report)."""
    try:
        files = sorted(
            (p.relative_to(landing).as_posix(), st.st_size, st.st_mtime_ns)
            for p in landing.rglob("*")
            if p.is_file() and (st := p.stat())
        )
        warehouse = paths.warehouse_path()
        stamp = [warehouse.stat().st_size, warehouse.stat().st_mtime_ns] if warehouse.exists() else None
    except OSError:
        return None
    return sha256_json([files, stamp])


downstream_automation = dg.AutomationConditionSensorDefinition(
    "downstream_automation",
    target=DOWNSTREAM,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materializes what is downstream of a newly loaded partition (every downstream asset is eager).",
)


@dg.sensor(
    name="vault_sealer",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Seals the vault's working copy (encryption at rest) once no run has been live for "
    f"{SEAL_AFTER_IDLE_S} s: a run started in the UI leaves it unsealed; sleds build seals at its own end.",
)
def vault_sealer(context: dg.SensorEvaluationContext):
    import time

    from orchestration.lib import vault_at_rest
    from orchestration.lib.sealing import SealError
    from orchestration.recovery import run_states

    if vault_at_rest.unsealed_working_copy() is None:
        return dg.SkipReason("the vault is sealed")
    live = [s for s in run_states(context.instance) if not s.stale]
    if live:
        return dg.SkipReason(f"the vault stays unsealed while {live[0].describe()}")
    ended = context.instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
                                        dg.DagsterRunStatus.CANCELED]),
        limit=1, order_by="end_time",  # the run that ended last, not the one created last
    )  # fmt: skip
    last_end = ended[0].end_time if ended and ended[0].end_time else None
    if last_end is not None and time.time() - last_end < SEAL_AFTER_IDLE_S:
        return dg.SkipReason(f"a run ended {time.time() - last_end:.0f} s ago: waiting for {SEAL_AFTER_IDLE_S} s idle")
    try:
        done = vault_at_rest.seal()
    except SealError as exc:
        return dg.SkipReason(f"the vault was NOT sealed: {exc}")
    if done == "in use":
        return dg.SkipReason("another process has the vault open: trying again on the next tick")
    context.log.info(f"vault {done}: no run live")
    return dg.SkipReason(f"vault {done} (no run live for {SEAL_AFTER_IDLE_S} s)")


# the daily re-evaluation without the raw assets' re-checks: no feed changed, and a blocking
# re-check would otherwise hold back the purges clause 21 orders (governance/purges reads raw)
agreements_daily_job = dg.define_asset_job("agreements_daily", selection=DOWNSTREAM - RECHECKS)
agreements_daily = dg.ScheduleDefinition(
    name="agreements_daily",
    job=agreements_daily_job,
    cron_schedule=DAILY_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-evaluates agreement statuses for the day (expiry, destruction dates), runs the purges they "
    "order and rebuilds the releases; unchanged releases are not disclosed again.",
)


defs = dg.Definitions(sensors=[landing_folder, downstream_automation, vault_sealer], schedules=[agreements_daily])
