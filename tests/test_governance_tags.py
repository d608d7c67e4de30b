"""Lineage a committee can audit in Dagster: dbt assets carry owners and governance tags."""

import dagster as dg


def test_dbt_assets_carry_restricted_element_and_clause_tags():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    awards = specs["release_sleds/rel_sleds__ps_awards"]
    assert awards.tags["restricted_cumulative_debt"] == "guarded_by_registry"
    assert awards.tags["restricted_gender_identity"] == "guarded_by_registry"
    assert awards.tags["clause_9_c_vi"] == "agreement" and awards.tags["person_level"] == "research_id"
    assert "team:governance-committee" in awards.owners
    mart = specs["marts/fct_ps_awards"]
    assert mart.tags["restricted_cumulative_debt"] == "present" and mart.owners == ["team:data-engineering"]
    assert "restricted_cumulative_debt" not in specs["release_sleds/rel_sleds__pathways"].tags
    institution = specs["release_institution/rel_institution__ps_awards"]
    assert institution.tags["clause_9_c_iii_5"] == "agreement"
    release = graph.get(dg.AssetKey(["release_sleds", "rel_sleds__ps_awards"]))
    assert dg.AssetKey(["marts", "fct_ps_awards"]) in release.parent_keys
