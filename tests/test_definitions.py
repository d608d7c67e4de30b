"""The code location loads (so a broken import fails CI, not the UI) and the dbt
models sit in the asset graph downstream of the ingest assets."""

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.lib.reference import FEEDS


def test_definitions_load_with_ingest_and_dbt_assets():
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/msds", "raw/ps_enrollment", "raw/ps_awards"} <= keys
    assert {
        "staging/stg_msds__records",
        "staging/stg_ps__enrollment",
        "staging/stg_ps__awards",
    } <= keys
    assert {"reference/code_sets", "reference/msds_collection_calendar"} <= keys


def test_staging_models_depend_on_their_raw_feed():
    graph = defs.resolve_asset_graph()
    for model, feed in (
        ("stg_msds__records", "msds"),
        ("stg_ps__enrollment", "ps_enrollment"),
        ("stg_ps__awards", "ps_awards"),
    ):
        parents = {p.to_user_string() for p in graph.get(dg.AssetKey(["staging", model])).parent_keys}
        assert f"raw/{feed}" in parents


def test_assets_are_grouped_by_stage():
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"ingest", "staging", "intermediate", "reference", "release", "publish"} <= groups
    assert graph.get(dg.AssetKey(["raw", "msds"])).group_name == "ingest"


def test_ingest_assets_are_partitioned_with_blocking_accounting_checks():
    graph = defs.resolve_asset_graph()
    for feed in FEEDS:
        node = graph.get(dg.AssetKey(["raw", feed]))
        assert node.partitions_def is not None
        checks = {k.name for k in node.check_keys}
        assert {"row_accounting", "ingest_contract"} <= checks
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"ingest_msds", "ingest_ps_enrollment", "marts"}


def test_workspace_points_at_the_code_location():
    import yaml

    from orchestration.lib.paths import REPO_ROOT

    ws = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    assert ws["load_from"][0]["python_module"]["module_name"] == "orchestration.definitions"


def test_a_changed_feed_rebuilds_its_own_descendants_and_nothing_a_feed_cannot_change():
    from orchestration.defs.incremental import affected_assets
    from orchestration.lib.reference import FEEDS

    graph = defs.resolve_asset_graph()
    downstream = defs.resolve_job_def("marts").asset_layer.selected_asset_keys

    def names(feeds):
        return {k.to_user_string() for k in affected_assets(set(feeds)).resolve(graph) & downstream}

    k12, awards = names(["msds"]), names(["ps_awards"])
    assert {"staging/stg_msds__records", "marts/fct_k12_accountability_students", "identity/research_ids",
            "release/sleds_release", "publish/public_summaries", "derived/msds_record_ages"} <= k12  # fmt: skip
    assert not {n for n in k12 if "ps" in n.split("/")[-1].split("_")[:3]} - {"marts/fct_pathways_hs_to_college"}
    assert "release/institution_marts" not in k12 and "release/institution_marts" in awards
    assert "release_institution/rel_institution__ps_awards" in awards and "staging/stg_msds__records" not in awards
    # whatever no feed can change depends on no feed and not on identity: only on reference data
    fed = {dg.AssetKey(["raw", f]) for f in FEEDS} | {dg.AssetKey(["identity", "research_ids"])}
    for key in downstream - affected_assets(set(FEEDS)).resolve(graph):
        assert not (dg.AssetSelection.assets(key).upstream().resolve(graph) & fed), key.to_user_string()
    with pytest.raises(ValueError, match="FEED_SOURCES"):
        affected_assets({"wages"})


def test_every_release_table_has_its_blocking_agreement_checks():
    from orchestration.defs.releases import INSTITUTION_TABLES, SLEDS_TABLES
    from orchestration.lib.agreements.checks import INSTITUTION_RULES, INSTITUTION_SCHEMA, RULES, SLEDS_SCHEMA

    graph = defs.resolve_asset_graph()
    assert len(SLEDS_TABLES) >= 4 and INSTITUTION_TABLES == ["rel_institution__ps_awards",
                                                             "rel_institution__ps_enrollment"]  # fmt: skip
    assert len(RULES) == 6 and INSTITUTION_RULES and set(INSTITUTION_RULES) < set(RULES)
    for schema, tables, rules in ((SLEDS_SCHEMA, SLEDS_TABLES, RULES),
                                  (INSTITUTION_SCHEMA, INSTITUTION_TABLES, INSTITUTION_RULES)):  # fmt: skip
        for table in tables:
            node = graph.get(dg.AssetKey([schema, table]))
            agreement = {k for k in node.check_keys if k.name in RULES}
            assert {k.name for k in agreement} == set(rules), table
            assert all(graph.get_check_spec(k).blocking for k in agreement), table
    # a failing institution check holds back the marts: they read these tables
    marts = graph.get(dg.AssetKey(["release", "institution_marts"]))
    assert {dg.AssetKey([INSTITUTION_SCHEMA, t]) for t in INSTITUTION_TABLES} <= set(marts.parent_keys)
