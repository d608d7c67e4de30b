"""Governance tags and owners for the dbt assets in the Dagster graph (called from
`SledsTranslator` in orchestration/defs/marts.py), so the committee sees in the UI which
models hold person-level rows, which carry a restricted element, and under which
agreement clauses a release model falls.

Sources of truth, in order: the model's dbt `meta` (`sleds_owner`, `sleds_clauses`,
`pii`), then what the model is (its schema and its columns). The clauses of a release
schema's audience, the clauses a restricted element falls under and the columns of each
restricted element are the agreement policy's (orchestration/lib/agreements/policy.py)."""

from collections.abc import Mapping
from typing import Any

from orchestration.lib.agreements import policy
from orchestration.lib.agreements.registry import clause_tags

# the governance scope whose clauses a model carrying a restricted element falls under
RESTRICTIONS_SCOPE = "agreement_restrictions"


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
    for element, names in policy.restricted_columns().items():
        if columns & set(names):
            tags[f"restricted_{element}"] = "guarded_by_registry" if schema == "release_sleds" else "present"
    audience = policy.release_schemas().get(schema)
    clauses = policy.clauses_for(audience) if audience else []
    if any(k.startswith("restricted_") for k in tags):
        clauses += [c for c in policy.clauses_for(RESTRICTIONS_SCOPE) if c not in clauses]
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
