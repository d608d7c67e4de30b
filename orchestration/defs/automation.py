"""Automation: what keeps the warehouse current under `dagster dev` with no command typed.

- `landing_folder` sensor: plans the landing folder as `sleds build` does
  (orchestration/lib/ingest/plan.py), registers new partitions and requests one ingest run
  per feed for the partitions that are new or whose files changed (a run key per set of
  file hashes, so the same files are never loaded twice and changed files always are).
- Declarative automation: every asset downstream of ingest is `eager`: once a feed's
  partition lands, its descendants are materialized, in the one-writer pool, by the
  `downstream_automation` sensor.
- `agreements_daily` schedule: agreement statuses change with the date (expiry,
  destruction dates), so the downstream job runs every morning: the registry is
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


agreements_daily = dg.ScheduleDefinition(
    name="agreements_daily",
    job_name="marts",
    cron_schedule=DAILY_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-evaluates agreement statuses for the day (expiry, destruction dates), runs the purges they "
    "order and rebuilds the releases; unchanged releases are not disclosed again.",
)


defs = dg.Definitions(sensors=[landing_folder, downstream_automation], schedules=[agreements_daily])
