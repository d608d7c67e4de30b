"""dbt models (staging -> marts -> releases) as Dagster assets with lineage."""

import datetime as dt
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.automation import DOWNSTREAM, EAGER
from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.lib import paths, storage
from orchestration.lib.dbt_prepare import dbt_env, dbt_executable, ensure_manifest

ensure_manifest()
dbt_project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


class SledsTranslator(DagsterDbtTranslator):
    """Groups follow the data flow: a model's folder (staging, marts, ...) is its group;
    seeds are reference data."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # a seed has no SQL: its description (seeds/_seeds.yml) without dagster-dbt's empty "Raw SQL" block
        if dbt_resource_props["resource_type"] == "seed":
            return dbt_resource_props.get("description") or super().get_description(dbt_resource_props)
        return super().get_description(dbt_resource_props)

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # under `dagster dev`, a model follows its parents (orchestration/defs/automation.py)
        return EAGER

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        # release models: the governance committee too; a model's dbt meta `sleds_owner` wins
        from orchestration.lib.governance.dbt_tags import governance_owners

        return governance_owners(dbt_resource_props)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        # person-level rows, restricted elements (gender identity, cumulative debt) and the
        # agreement clauses a model falls under, from its columns, schema and dbt meta
        from orchestration.lib.governance.dbt_tags import governance_tags

        return {**super().get_tags(dbt_resource_props), **governance_tags(dbt_resource_props)}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=SledsTranslator(),
    pool=WAREHOUSE_POOL,
)
def sleds_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    # dbt finds the warehouse through SLEDS_WAREHOUSE (profiles.yml), resolved now
    # so a changed SLEDS_HOME is honoured
    os.environ.update({k: v for k, v in dbt_env().items() if k == "SLEDS_WAREHOUSE"})
    storage.wait_until_writable(paths.warehouse_path())  # a reader of the warehouse: wait, don't crash dbt
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    # dbt holds DuckDB's single write lock until it exits, so nothing can be counted while
    # it runs: the events are held until it has, then carry their counts (what it built
    # before a failure too, then the failure is raised)
    events = list(invocation.stream())
    yield from with_build_metadata(events, _run_results(invocation), context.log)
    error = invocation.get_error()
    if error is not None:
        raise error


def _run_results(invocation) -> dict:
    try:
        return invocation.get_artifact("run_results.json")
    except (OSError, ValueError):  # dbt stopped before writing it: counts still come, timings do not
        return {}


ROW_COUNT = "dagster/row_count"  # Dagster's standard key (TableMetadataSet.row_count): the UI shows it
_COUNTED = ("model", "seed", "snapshot")  # what dbt builds as a relation (an ephemeral model is not one)


def _built_id(event) -> str | None:
    """The dbt unique_id of an event that materializes an asset (a check result has none)."""
    if isinstance(event, dg.Output | dg.AssetMaterialization) and "unique_id" in event.metadata:
        return event.metadata["unique_id"].value
    return None


def _relations(unique_ids: Iterable[str]) -> dict[str, str]:
    """unique_id -> the built relation as `"schema"."alias"` (no database: the catalog is
    whatever file the warehouse connection opens)."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"]
    out = {}
    for uid in unique_ids:
        node = nodes.get(uid)
        if node and node["resource_type"] in _COUNTED and node["config"].get("materialized") != "ephemeral":
            out[uid] = f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'
    return out


def row_counts(unique_ids: Iterable[str], con=None) -> dict[str, int]:
    """The rows of every built relation (tables, seeds and views alike), in one query.
    dagster-dbt's fetch_row_counts waits for dbt's lock the same way but skips views
    (the staging models) and opens a dbt adapter with a query per model."""
    relations = _relations(unique_ids)
    if not relations:
        return {}
    sql = " UNION ALL ".join(
        f"SELECT '{uid}' AS unique_id, count(*) AS n FROM {relation}" for uid, relation in sorted(relations.items())
    )
    if con is not None:
        return dict(con.execute(sql).fetchall())
    with storage.warehouse() as own:
        return dict(own.execute(sql).fetchall())


def _seconds(phase: Mapping[str, Any]) -> float | None:
    try:
        began = dt.datetime.fromisoformat(phase["started_at"])
        ended = dt.datetime.fromisoformat(phase["completed_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return round((ended - began).total_seconds(), 3)


def build_timings(run_results: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """unique_id -> dbt's own seconds for the node from run_results.json: in all, compiling
    and executing, and the whole dbt build's."""
    whole = run_results.get("elapsed_time")
    out: dict[str, dict[str, float]] = {}
    for result in run_results.get("results", []):
        seconds = {"dbt/execution_seconds": round(float(result.get("execution_time") or 0.0), 3)}
        for phase in result.get("timing", []):
            took = _seconds(phase)
            if took is not None and phase.get("name") in ("compile", "execute"):
                seconds[f"dbt/{phase['name']}_seconds"] = took
        if whole is not None:
            seconds["dbt/build_seconds"] = round(float(whole), 3)
        out[result["unique_id"]] = seconds
    return out


def with_build_metadata(events: list, run_results: Mapping[str, Any], log=None) -> Iterator:
    """The dbt events, each built asset's carrying `dagster/row_count` (the key Dagster's
    UI shows) and dbt's timings; a count that cannot be taken is logged, never fatal."""
    uids = [uid for uid in map(_built_id, events) if uid is not None]
    counts: dict[str, int] = {}
    began = time.monotonic()
    try:
        counts = row_counts(uids)
    except Exception as exc:  # metadata is not worth failing a build that succeeded
        if log is not None:
            log.warning(f"row counts not attached: {exc}")
    if log is not None and counts:
        log.info(f"row counts of {len(counts)} dbt relations in {time.monotonic() - began:.2f}s")
    timings = build_timings(run_results)
    for event in events:
        uid = _built_id(event)
        if uid is None:
            yield event
            continue
        extra: dict[str, Any] = dict(timings.get(uid, {}))
        if uid in counts:
            extra[ROW_COUNT] = dg.MetadataValue.int(int(counts[uid]))
        yield event.with_metadata({**event.metadata, **extra})


# everything downstream of ingest, in one run (Dagster's fixed cost is per run)
marts_job = dg.define_asset_job("marts", selection=DOWNSTREAM)  # with the raw assets' re-checks

defs = dg.Definitions(
    assets=[sleds_dbt_models],
    jobs=[marts_job],
    resources={
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            profiles_dir=paths.DBT_PROJECT_DIR,
            dbt_executable=dbt_executable(),
            global_config_flags=["--no-use-colors"],
        )
    },
)
