"""Partitions of each feed: the unit that is validated, loaded and replaced together.

- msds: school year x collection (all SRM submissions of a year form one partition)
- assessment: school year x testing window (fall, spring)
- ps_enrollment: fiscal year x term
- ps_awards: fiscal year
"""

from __future__ import annotations

from collections import defaultdict

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.storage import sha256_file


def partition_key(f: LandingFile) -> str:
    x = f.fields
    if f.feed == "msds":
        return f"{x['school_year']}_{x['collection']}"
    if f.feed == "assessment":
        return f"{x['school_year']}_{x['window']}"
    if f.feed == "ps_enrollment":
        return f"FY{x['fiscal_year']}_{x['term']}"
    return f"FY{x['fiscal_year']}"


def group_by_partition(files: list[LandingFile]) -> dict[str, list[LandingFile]]:
    groups: dict[str, list[LandingFile]] = defaultdict(list)
    for f in files:
        groups[partition_key(f)].append(f)
    return {k: sorted(v, key=lambda f: f.relpath) for k, v in sorted(groups.items())}


def fingerprint(files: list[LandingFile]) -> dict[str, str]:
    """relpath -> SHA-256 of the file's bytes: what a load is recorded against."""
    return {f.relpath: sha256_file(f.path) for f in files}
