"""The publish stage: build the summary tables from the marts, suppress and audit
them (orchestration/lib/publish/release.py) and record the publication in the
disclosure log. One function per Dagster step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestration.lib import paths, storage
from orchestration.lib.agreements.registry import as_of_date, load_registry
from orchestration.lib.governance.activity_log import record_activity
from orchestration.lib.governance.disclosure_log import append_disclosure, latest_disclosure, manifest_sha256
from orchestration.lib.publish.release import Publication, publish
from orchestration.lib.publish.summaries import build_summary_tables


@dataclass
class PublicReport:
    publication: Publication
    disclosure: dict


def publish_public(*, run_id: str, clauses: list[str], log: Callable[[str], None] = lambda m: None) -> PublicReport:
    with storage.warehouse() as con:
        tables = build_summary_tables(con)
    log(f"{len(tables)} summary tables, {sum(len(t.cells) for t in tables):,} cells: suppressing")
    pub = publish(tables, paths.releases_dir() / "public", run_id=run_id, as_of=as_of_date(), log=log)
    if pub.unchanged:  # the same inputs as the publication out there: a re-send is no new disclosure
        # a crash between the swap and the log leaves it unrecorded: then it is recorded now, once
        entry = latest_disclosure(
            release="public_summaries", recipient="public", manifest_sha256=manifest_sha256(pub.manifest)
        )
        if entry is not None:
            log(f"public summaries unchanged (disclosure log entry {entry['seq']}): nothing written")
            record_activity("publication_unchanged", {"release": "public_summaries", "seq": entry["seq"]})
            return PublicReport(pub, entry)
    # the public tables disclose summary data of every institution with students in them
    institutions = [a.institution_code for a in load_registry().agreements]
    entry = append_disclosure(
        kind="publication", recipient="public", release="public_summaries", manifest=pub.manifest,
        clauses=clauses, institutions=institutions, run_id=run_id, changes=pub.changes or None,
    )  # fmt: skip
    return PublicReport(pub, entry)
