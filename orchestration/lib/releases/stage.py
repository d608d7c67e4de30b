"""The release stage: the SLEDS release and the institution data marts, each
written out only after the agreement rules are re-checked on what would ship, and
each recorded in the disclosure log once: a release whose content is what the
recipient already has is not written or disclosed again (the activity log says
"release_unchanged"); a changed one is one new entry naming the rows it changed.
One function per Dagster step."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestration.lib import paths, storage
from orchestration.lib.agreements.checks import (
    INSTITUTION_SCHEMA,
    SLEDS_SCHEMA,
    RuleCheck,
    check_institution_release,
    check_sleds_release,
    release_allowlist,
)
from orchestration.lib.agreements.registry import load_registry
from orchestration.lib.dbt_prepare import ensure_manifest
from orchestration.lib.governance.activity_log import record_activity
from orchestration.lib.governance.disclosure_log import append_disclosure, latest_disclosure, manifest_sha256
from orchestration.lib.releases.export import (
    ExportedRelease,
    ReleaseManifest,
    export_institution_marts,
    export_sleds_release,
)


class ReleaseBlocked(RuntimeError):
    """An agreement rule failed on the built release: nothing was written."""


@dataclass
class SledsReleaseReport:
    manifest: ReleaseManifest
    disclosure: dict
    unchanged: bool = False


@dataclass
class InstitutionMartsReport:
    manifests: list[ReleaseManifest] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    disclosures: list[dict] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # institutions whose mart was already out there


def check_release_tables() -> list[RuleCheck]:
    """Every agreement rule on the built `release_sleds` tables (read-only)."""
    allowlist = release_allowlist(ensure_manifest(), SLEDS_SCHEMA)
    with storage.warehouse() as con:
        return check_sleds_release(con, allowlist)


def check_each_release_table(tables: list[str]) -> dict[str, list[RuleCheck]]:
    """Every agreement rule, table by table (one asset check each), on one connection."""
    allowlist = release_allowlist(ensure_manifest(), SLEDS_SCHEMA)
    with storage.warehouse() as con:
        return {table: check_sleds_release(con, allowlist, only=[table]) for table in tables}


def check_institution_tables() -> list[RuleCheck]:
    """Every rule that concerns the institution marts on the built `release_institution` tables."""
    allowlist = release_allowlist(ensure_manifest(), INSTITUTION_SCHEMA)
    with storage.warehouse() as con:
        return check_institution_release(con, allowlist)


def check_each_institution_table(tables: list[str]) -> dict[str, list[RuleCheck]]:
    """The institution marts' rules, table by table (one asset check each), on one connection."""
    allowlist = release_allowlist(ensure_manifest(), INSTITUTION_SCHEMA)
    with storage.warehouse() as con:
        return {table: check_institution_release(con, allowlist, only=[table]) for table in tables}


def _refuse(what: str, results: list[RuleCheck]) -> None:
    failed = [r for r in results if not r.passed]
    if failed:
        raise ReleaseBlocked(f"{what} not published: " + "; ".join(
            f"{r.name} (clause {r.clause}): {r.detail}" for r in failed
        ))  # fmt: skip


def release_sleds(*, run_id: str, clauses: list[str]) -> SledsReleaseReport:
    # re-checked here even though the blocking asset checks ran: a release is written
    # only from tables this process has just seen pass
    _refuse("SLEDS release", check_release_tables())
    registry = load_registry()
    exported = export_sleds_release(
        paths.warehouse_path(), paths.releases_dir(), run_id=run_id, as_of=registry.as_of, clauses=clauses
    )
    covered = set(exported.manifest.agreements)
    institutions = [a.institution_code for a in registry.agreements if a.agreement_id in covered]
    entry, again = _record(exported, recipient="SLEDS", institutions=institutions, run_id=run_id)
    return SledsReleaseReport(exported.manifest, entry, unchanged=again)


def release_institution_marts(*, run_id: str, clauses: list[str]) -> InstitutionMartsReport:
    # as for the SLEDS release: written only from tables this process has just seen pass
    _refuse("institution marts", check_institution_tables())
    registry = load_registry()
    exported, skipped = export_institution_marts(
        paths.warehouse_path(), paths.releases_dir(), run_id=run_id, as_of=registry.as_of, clauses=clauses
    )
    report = InstitutionMartsReport([e.manifest for e in exported], skipped)
    for release in exported:
        code = release.manifest.audience.split(":", 1)[1]
        entry, again = _record(release, recipient=f"institution {code}", institutions=[code], run_id=run_id)
        report.disclosures.append(entry)
        if again:
            report.unchanged.append(code)
    return report


def _record(exported: ExportedRelease, *, recipient: str, institutions: list[str], run_id: str) -> tuple[dict, bool]:
    """The disclosure entry of this release and whether it was already recorded: a folder
    kept because its content was unchanged was disclosed when it was written (a crash
    between writing and logging leaves it unrecorded: then it is recorded now, once)."""
    manifest = exported.manifest.as_dict()
    if exported.unchanged:
        entry = latest_disclosure(
            release=manifest["release"], recipient=recipient, manifest_sha256=manifest_sha256(manifest)
        )
        if entry is not None:
            record_activity(
                "release_unchanged",
                {"release": manifest["release"], "recipient": recipient, "seq": entry["seq"],
                 "content_sha256": manifest["content_sha256"]},
            )  # fmt: skip
            return entry, True
    entry = append_disclosure(
        kind="release", recipient=recipient, release=manifest["release"], manifest=manifest,
        clauses=manifest["clauses"], institutions=institutions, run_id=run_id, changes=exported.changes or None,
    )  # fmt: skip
    return entry, False
