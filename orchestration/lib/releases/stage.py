"""The release stage: the SLEDS release and the institution data marts, each
written out only after the agreement rules are re-checked on what would ship, and
each recorded in the disclosure log. One function per Dagster step."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestration.lib import paths, storage
from orchestration.lib.agreements.checks import SLEDS_SCHEMA, RuleCheck, check_sleds_release, release_allowlist
from orchestration.lib.agreements.registry import load_registry
from orchestration.lib.dbt_prepare import ensure_manifest
from orchestration.lib.governance.disclosure_log import append_disclosure
from orchestration.lib.releases.export import ReleaseManifest, export_institution_marts, export_sleds_release


class ReleaseBlocked(RuntimeError):
    """An agreement rule failed on the built release: nothing was written."""


@dataclass
class SledsReleaseReport:
    manifest: ReleaseManifest
    disclosure: dict


@dataclass
class InstitutionMartsReport:
    manifests: list[ReleaseManifest] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    disclosures: list[dict] = field(default_factory=list)


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


def release_sleds(*, run_id: str, clauses: list[str]) -> SledsReleaseReport:
    # re-checked here even though the blocking asset checks ran: a release is written
    # only from tables this process has just seen pass
    failed = [r for r in check_release_tables() if not r.passed]
    if failed:
        raise ReleaseBlocked(
            "SLEDS release not published: " + "; ".join(f"{r.name} (clause {r.clause}): {r.detail}" for r in failed)
        )
    registry = load_registry()
    manifest = export_sleds_release(
        paths.warehouse_path(), paths.releases_dir(), run_id=run_id, as_of=registry.as_of, clauses=clauses
    )
    covered = set(manifest.agreements)
    institutions = [a.institution_code for a in registry.agreements if a.agreement_id in covered]
    entry = append_disclosure(
        kind="release", recipient="SLEDS", release=manifest.release, manifest=manifest.as_dict(),
        clauses=manifest.clauses, institutions=institutions, run_id=run_id,
    )  # fmt: skip
    return SledsReleaseReport(manifest, entry)


def release_institution_marts(*, run_id: str, clauses: list[str]) -> InstitutionMartsReport:
    registry = load_registry()
    manifests, skipped = export_institution_marts(
        paths.warehouse_path(), paths.releases_dir(), run_id=run_id, as_of=registry.as_of, clauses=clauses
    )
    report = InstitutionMartsReport(manifests, skipped)
    for manifest in manifests:
        code = manifest.audience.split(":", 1)[1]
        report.disclosures.append(
            append_disclosure(
                kind="release",
                recipient=f"institution {code}",
                release=manifest.release,
                manifest=manifest.as_dict(),
                clauses=manifest.clauses,
                institutions=[code],
                run_id=run_id,
            )  # fmt: skip
        )
    return report
