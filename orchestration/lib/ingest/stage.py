"""The ingest stage: load the given partitions of one feed from the landing folder.

One call is one Dagster step (the `raw/<feed>` asset over a range of partitions):
each partition still commits on its own, so a failure in one leaves the others
loaded. The report carries what the asset shows as metadata and checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.ingest.landing import LandingError, discover
from orchestration.lib.ingest.load import PartitionReport, ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition


@dataclass
class FeedIngestReport:
    feed: str
    partitions: list[PartitionReport] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # partition -> why nothing of it was written

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.partitions)

    @property
    def balanced(self) -> bool:
        return all(r.balanced for r in self.partitions)

    @property
    def failures_by_rule(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.partitions:
            for rule, n in r.failures_by_rule.items():
                out[rule] = out.get(rule, 0) + n
        return out

    @property
    def suite_sha(self) -> str:
        return self.partitions[0].suite_sha if self.partitions else ""

    def partition_rows(self) -> list[dict]:
        return [
            {"partition": r.partition_key, "rows_read": r.rows_read, "rows_loaded": r.rows_loaded,
             "rows_quarantined": r.rows_quarantined, "change": r.change, "batch_id": r.batch_id,
             "files": r.files, "validation_result": r.validation_file}
            for r in self.partitions
        ]  # fmt: skip


def ingest_feed(
    feed: str,
    partition_keys: Iterable[str] | None = None,
    *,
    landing: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda msg: None,
) -> FeedIngestReport:
    """Load `partition_keys` of `feed` (all partitions in the landing folder when None)."""
    landing = landing or paths.landing_dir()
    available = group_by_partition(discover(landing, feed))
    report = FeedIngestReport(feed)
    for key in available if partition_keys is None else partition_keys:
        files = available.get(key)
        if not files:
            report.failed[key] = f"no {feed} files for it under {landing / feed} (docs/feeds.md)"
            continue
        try:
            done = ingest_partition(
                feed, key, files, paths.warehouse_path(), paths.vault_path(), paths.validation_dir(), force=force
            )
        except LandingError as exc:
            report.failed[key] = str(exc)
            log(f"partition {key}: FAILED: {exc}")
            continue
        report.partitions.append(done)
        log(
            f"partition {key}: {done.rows_read:,} read, {done.rows_loaded:,} loaded, "
            f"{done.rows_quarantined:,} quarantined ({done.change}) in {done.seconds:.1f}s"
        )
    return report
