"""dbt models (staging -> marts -> releases) as Dagster assets with lineage."""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.automation import EAGER
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
    yield from dbt.cli(["build"], context=context).stream()


# everything downstream of ingest, in one run (Dagster's fixed cost is per run)
marts_job = dg.define_asset_job("marts", selection=dg.AssetSelection.all() - dg.AssetSelection.groups("ingest"))

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
