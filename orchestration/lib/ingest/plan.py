"""Which partitions a build must (re)load: new ones, and ones whose files changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import storage
from orchestration.lib.contracts.suites import suite_sha
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.partitions import fingerprint, group_by_partition
from orchestration.lib.reference import FEEDS


@dataclass(frozen=True)
class PlannedPartition:
    feed: str
    key: str
    reason: str  # new | changed | contract changed | unchanged
    files_sha: str = ""  # of the partition's files and their hashes: what a load of them is


def _has_ledger(con) -> bool:
    """Whether the warehouse has its ingest ledger yet (not before the first load)."""
    return (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ingest' AND table_name = 'partition_loads'"
        ).fetchone()[0]
        > 0
    )


def plan(landing: Path, warehouse: Path) -> list[PlannedPartition]:
    loaded: dict[tuple[str, str], dict] = {}
    if warehouse.exists():
        with storage.warehouse(warehouse, read_only=True) as con:
            if _has_ledger(con):
                for feed, key, files, sha in con.execute(
                    "SELECT feed, partition_key, arg_max(files, loaded_at), arg_max(suite_sha, loaded_at) "
                    "FROM ingest.partition_loads GROUP BY ALL"
                ).fetchall():
                    loaded[(feed, key)] = (json.loads(files), sha)
    out = []
    for feed in FEEDS:
        contract = suite_sha(feed)
        for key, files in group_by_partition(discover(landing, feed)).items():
            before = loaded.get((feed, key))
            now = fingerprint(files)
            if before is None:
                reason = "new"
            elif before[0] != now:
                reason = "changed"
            else:
                reason = "unchanged" if before[1] == contract else "contract changed"
            out.append(PlannedPartition(feed, key, reason, storage.sha256_json([now, contract])))
    return out


def removed_partitions(planned: list[PlannedPartition], warehouse: Path) -> list[tuple[str, str]]:
    """(feed, partition) loaded, and not retracted since (one begun and cut short counts as
    removed still), whose files are no longer in the landing folder: they stay in the
    warehouse (a delivery is not withdrawn by deleting a file) and the landing report says
    so, unless `sleds build --prune` retracts them (retract.py)."""
    from orchestration.lib.ingest.retract import RETRACTED

    if not warehouse.exists():
        return []
    with storage.warehouse(warehouse, read_only=True) as con:
        query = (
            "SELECT feed, partition_key FROM ingest.partition_loads GROUP BY ALL "
            "HAVING arg_max(change, loaded_at) IS DISTINCT FROM ?"
        )
        loaded = con.execute(query, [RETRACTED]).fetchall() if _has_ledger(con) else []
    present = {(p.feed, p.key) for p in planned}
    return sorted((feed, key) for feed, key in loaded if (feed, key) not in present)


def runs_to_load(order: list[str], wanted: set[str]) -> list[list[str]]:
    """Runs of consecutive keys (in the Dagster instance's partition order) that are
    wanted: each run is one Dagster run over a partition range, so a build pays
    Dagster's per-run cost once per feed in the usual case."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for key in order:
        if key in wanted:
            current.append(key)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks
