"""Which downstream assets a build re-materializes when only some feeds changed.

Everything downstream of ingest depends on identity, and identity on every feed, so
Dagster's lineage alone would rebuild the postsecondary marts for a new K-12 file. The
dbt graph is finer: a model reads a feed through its source (`source:raw.msds`), and
reads identity only to put research IDs on that same feed's records. So for a set of
changed feeds the build runs: the registry and purges (cheap, and a destruction date
applies to new records too), each changed feed's re-check, identity, the dbt models
downstream of the changed feeds' sources, and the releases and publication those models
feed. Identity then reports, per feed, how many records' research IDs changed; a feed
outside the set whose records moved (a new K-12 record joining two college records into
one person) is rebuilt in a second pass, so the shortcut never leaves a mart stale.

An edit of the agreement registry (or a new as-of day) changes what the agreements decide:
the registry, the purges, the models that read the agreements and the releases and
publication. A purge that deleted records is followed by a pass over the postsecondary
feeds' descendants (identity included), since records are gone."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import build_dbt_asset_selection

from orchestration.defs.governance import REGISTRY_KEYS
from orchestration.defs.ingest import recheck_check_key
from orchestration.defs.marts import sleds_dbt_models

# each feed's dbt sources (the derived ages are computed from K-12 records only)
FEED_SOURCES = {
    "msds": ("source:raw.msds+", "source:derived.msds_record_ages+"),
    "assessment": ("source:raw.assessment+",),
    "ps_enrollment": ("source:raw.ps_enrollment+",),
    "ps_awards": ("source:raw.ps_awards+",),
}
POSTSECONDARY = frozenset({"ps_enrollment", "ps_awards"})
PURGES = dg.AssetKey(["governance", "purges"])
ALWAYS = [*REGISTRY_KEYS, PURGES, dg.AssetKey(["identity", "research_ids"])]
GOVERNANCE_SOURCES = ("source:governance.agreements+", "source:governance.agreement_restrictions+")
RELEASES = [
    dg.AssetKey(["release", "sleds_release"]),
    dg.AssetKey(["publish", "public_summaries"]),
]
INSTITUTION_MARTS = dg.AssetKey(["release", "institution_marts"])


def affected_assets(feeds: set[str], *, identity: bool = True) -> dg.AssetSelection:
    """The downstream assets that can change when only `feeds` changed (see the module
    docstring); `identity=False` for a second pass after identity already ran."""
    unknown = set(feeds) - set(FEED_SOURCES)
    if unknown:
        raise ValueError(f"no dbt sources listed for feed(s) {sorted(unknown)} in FEED_SOURCES")
    keys = list(ALWAYS) if identity else []
    if "msds" in feeds and identity:
        keys.append(dg.AssetKey(["derived", "msds_record_ages"]))
    keys += RELEASES
    if feeds & POSTSECONDARY:
        keys.append(INSTITUTION_MARTS)
    models = build_dbt_asset_selection(
        [sleds_dbt_models], dbt_select=" ".join(s for feed in sorted(feeds) for s in FEED_SOURCES[feed])
    )
    checks = dg.AssetSelection.checks(*(recheck_check_key(f) for f in sorted(feeds))) if identity else None
    selection = dg.AssetSelection.assets(*keys) | models
    return selection | checks if checks is not None else selection


def registry_assets() -> dg.AssetSelection:
    """What an agreement registry edit or a new as-of day can change (module docstring)."""
    models = build_dbt_asset_selection([sleds_dbt_models], dbt_select=" ".join(GOVERNANCE_SOURCES))
    return dg.AssetSelection.assets(*REGISTRY_KEYS, PURGES, *RELEASES, INSTITUTION_MARTS) | models
