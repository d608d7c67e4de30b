"""Governance tags and owners for the dbt assets in the Dagster graph (called from
`SledsTranslator` in orchestration/defs/marts.py), so the committee sees in the UI which
models hold person-level rows, which carry a restricted element, and under which
agreement clauses a release model falls.

Sources of truth, in order: the model's dbt `meta` (`sleds_owner`, `sleds_clauses`,
`pii`), then what the model is (its schema and its columns)."""

from collections.abc import Mapping
from typing import Any

from orchestration.lib.agreements.registry import clause_tags

RESTRICTED_COLUMNS = {
    "gender_identity": ("gender_identity_a", "gender_identity_b", "gender_identity_c", "gender_identity_d"),
    "cumulative_debt": ("cumulative_debt",),
}
RELEASE_CLAUSES = {
    "release_sleds": ["9(c)(i)", "9(c)(iv)", "9(c)(v)", "9(c)(vi)", "15", "28"],
    "release_institution": ["9(c)(iii)5", "28"],
}


def _meta(props: Mapping[str, Any]) -> dict:
    return {**(props.get("config", {}) or {}).get("meta", {}), **(props.get("meta") or {})}


def governance_tags(props: Mapping[str, Any]) -> dict[str, str]:
    """Tags (keys and values in Dagster's tag alphabet) for one dbt resource."""
    meta = _meta(props)
    tags: dict[str, str] = {}
    columns = set(props.get("columns") or {})
    schema = props.get("schema", "")
    if "research_id" in columns:
        tags["person_level"] = "research_id"
    for element, names in RESTRICTED_COLUMNS.items():
        if columns & set(names):
            tags[f"restricted_{element}"] = "guarded_by_registry" if schema == "release_sleds" else "present"
    clauses = list(RELEASE_CLAUSES.get(schema, []))
    if any(k.startswith("restricted_") for k in tags) and "9(c)(vi)" not in clauses:
        clauses.append("9(c)(vi)")
    clauses += [c for c in meta.get("sleds_clauses", []) or [] if c not in clauses]
    tags.update(clause_tags(clauses))
    if meta.get("pii"):
        tags["pii"] = "true"
    return tags


def governance_owners(props: Mapping[str, Any]) -> list[str]:
    meta = _meta(props)
    if meta.get("sleds_owner"):
        owner = meta["sleds_owner"]
        return [owner] if isinstance(owner, str) else list(owner)
    if props.get("schema", "").startswith("release_"):
        return ["team:governance-committee", "team:data-engineering"]
    return ["team:data-engineering"]
