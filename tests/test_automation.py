"""Under `dagster dev`, a file dropped into the landing folder is loaded and everything
downstream of it rebuilt with no command typed: the landing sensor and the declarative
automation, driven here through Dagster's own testing APIs (a sensor tick, an
automation evaluation) on a copy of the built tiny warehouse, with the runs they request
executed as the daemon would launch them."""

import csv
import shutil
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.ingest import recheck_check_key
from tests.conftest import copy_home


def _requested(result) -> set[dg.AssetKey]:
    return {key for key, n in result._requested_partitions_by_asset_key.items() if n}


def _requested_checks(result) -> set[dg.AssetCheckKey]:
    return {s.key for s in result._requested_subsets if isinstance(s.key, dg.AssetCheckKey) and not s.is_empty}


@pytest.mark.integration
def test_a_file_dropped_into_the_landing_folder_is_loaded_and_its_descendants_built(
    tiny_warehouse, tiny_feeds, tmp_path, monkeypatch
):
    from orchestration import runner
    from orchestration.definitions import defs

    home = copy_home(tiny_warehouse, tmp_path / "home")
    landing = Path(shutil.copytree(tiny_feeds / "landing", tmp_path / "landing"))
    monkeypatch.setenv("SLEDS_HOME", str(home))
    monkeypatch.setenv("SLEDS_LANDING", str(landing))
    instance = runner.instance()
    sensor = defs.resolve_sensor_def("landing_folder")
    cursor: dict = {"at": None}

    def tick():  # one sensor evaluation, carrying the cursor as the daemon does
        context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor["at"])
        out = sensor(context)
        cursor["at"] = out.cursor if isinstance(out, dg.SensorResult) else context.cursor
        return out

    idle = tick()
    assert isinstance(idle, dg.SkipReason) and "nothing new" in idle.skip_message
    again = tick()  # nothing touched since: not even planned (planning hashes every file)
    assert isinstance(again, dg.SkipReason) and "changed since the last look" in again.skip_message
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert settled.total_requested == 0, "a built warehouse has nothing due"

    # a steward drops one more SRM submission for 2023-24 into the landing folder
    source = sorted(landing.glob("msds/2023-24/msds_srm_*.csv"))[0]
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, first = reader.fieldnames, next(reader)
    first["migrant"] = {"Y": "N", "N": "Y"}[first["migrant"]]
    with (source.parent / "msds_srm_2023-24_03.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerow(first)

    found = tick()
    assert isinstance(found, dg.SensorResult)
    (request,) = found.run_requests
    assert request.job_name == "ingest_msds"
    assert (
        request.tags["dagster/asset_partition_range_start"]
        == "2023-24_srm"
        == (request.tags["dagster/asset_partition_range_end"])
    )
    loaded = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags, raise_on_error=False
    )
    assert loaded.success
    assert "nothing new" in tick().skip_message, "the loaded files are not requested again"
    assert "changed since the last look" in tick().skip_message

    # the automation now asks for exactly what is downstream of the K-12 feed ...
    due = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    graph = defs.resolve_asset_graph()
    raw = dg.AssetKey(["raw", "msds"])
    descendants = dg.AssetSelection.assets(raw).downstream(include_self=False).resolve(graph)
    assert _requested(due) == descendants
    # ... and the raw asset's blocking re-check, which the descendants wait for
    assert _requested_checks(due) == {recheck_check_key("msds")}
    # ... which, run as the daemon would (the assets with their own checks, and the re-check), leaves nothing due
    job = defs.resolve_job_def("marts")
    own = {c for c in job.asset_layer.asset_graph.asset_check_keys if c.asset_key in descendants}
    built = job.get_subset(
        asset_selection=set(descendants), asset_check_selection=own | _requested_checks(due)
    ).execute_in_process(instance=instance, raise_on_error=False)
    assert built.success
    assert recheck_check_key("msds") in {e.asset_check_key for e in built.get_asset_check_evaluations()}
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=due.cursor)
    assert after.total_requested == 0


def test_the_daily_schedule_re_evaluates_agreements_through_the_downstream_job():
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("agreements_daily")
    assert schedule.job_name == "agreements_daily" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def("agreements_daily")
    names = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert names == {k.to_user_string() for k in defs.resolve_job_def("marts").asset_layer.selected_asset_keys}
    assert {"governance/agreements", "governance/purges", "release/sleds_release", "publish/public_summaries"} <= names
    # without the raw re-checks: a failing one would hold back the purges clause 21 orders
    daily = {c.name for c in job.asset_layer.asset_graph.asset_check_keys}
    marts = {c.name for c in defs.resolve_job_def("marts").asset_layer.asset_graph.asset_check_keys}
    assert "engines_agree" in marts and "engines_agree" not in daily and marts - daily == {"engines_agree"}
    (request,) = schedule.evaluate_tick(dg.build_schedule_context()).run_requests
    assert request.run_config == {}


@pytest.mark.integration
def test_the_vault_sealer_seals_what_a_ui_run_left_unsealed_once_nothing_runs(tiny_warehouse, tmp_path, monkeypatch):
    """A run started in the UI unseals the vault and does not seal it at its end (only
    `sleds build` does); the sensor seals it, but not while a run is live, nor in the
    seconds after one ended (the gap between the runs of one build)."""
    from orchestration import runner
    from orchestration.definitions import defs
    from orchestration.defs import automation
    from orchestration.lib import paths, vault_at_rest

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    instance = runner.instance()
    sensor = defs.resolve_sensor_def("vault_sealer")

    def tick() -> str:
        return sensor(dg.build_sensor_context(instance=instance, definitions=defs)).skip_message

    assert tick() == "the vault is sealed"
    sealed = vault_at_rest.sealed_path(paths.vault_path())
    before = sealed.read_bytes()
    vault_at_rest.ensure_working_copy(paths.vault_path())  # what a UI run's first vault-side stage does
    run = instance.add_run(dg.DagsterRun(job_name="marts", status=dg.DagsterRunStatus.STARTED))  # no owner: the UI
    assert "stays unsealed while run" in tick() and vault_at_rest.unsealed_working_copy() is not None
    instance.report_run_failed(run, message="ended for the test")
    assert "waiting for" in tick() and vault_at_rest.unsealed_working_copy() is not None
    monkeypatch.setattr(automation, "SEAL_AFTER_IDLE_S", 0)
    assert tick().startswith("vault unchanged")  # only read since it was unsealed: the sealed file stays
    assert vault_at_rest.unsealed_working_copy() is None and sealed.read_bytes() == before
