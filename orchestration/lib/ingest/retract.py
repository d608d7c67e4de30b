"""Retracting partitions whose files left the landing folder (`sleds build --prune`).

A delivery is not withdrawn by deleting its file: without `--prune` a partition whose files
are gone stays loaded and the landing report names it (plan.removed_partitions). With it,
the steward says the delivery is withdrawn, and each such partition is taken out of the
warehouse and the vault, rows and quarantine alike, with an entry in the ingest ledger
(change `retracted`, no files) so the plan no longer counts it as loaded. If its files
come back, they load as a change of that partition.

Identity needs nothing of its own: each identity run rebuilds its entities from the
vault's landing tables, so a person whose records were all in the retracted partitions
has their research ID retired, and records elsewhere keep theirs. The crosswalk keeps
that person's source key (a UIC, an institution and student number) with present =
false (ids.py), as for any key that disappears, so that a returning delivery comes back
to the same research ID; names, birthdates and SSNs of the retracted rows are deleted.
(Destruction under clause 21, purge.py, deletes the keys too.) The downstream of the retracted feeds is then rebuilt by
the same build, like the downstream of a changed partition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.storage import warehouse_with_vault

RETRACTED = "retracted"  # the ingest ledger's `change` of a retraction
RETRACTING = "retracting"  # ... of one begun: still a removed partition (plan.py), so a rerun finishes it


@dataclass
class Retraction:
    feed: str
    partition: str
    rows_deleted: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Loaded and quarantined records taken out of the warehouse."""
        return self.rows_deleted.get("raw", 0) + self.rows_deleted.get("raw_quarantine", 0)


def _exists(con, catalog: str, schema: str, table: str) -> bool:
    query = "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?"
    return con.execute(query, [catalog, schema, table]).fetchone()[0] > 0


def _delete(con, table: str, where: str, params: list) -> int:
    (deleted,) = con.execute(f"DELETE FROM {table} WHERE {where}", params).fetchone()
    return int(deleted)


def _ledger(con, change: str, feed: str, key: str) -> None:
    """A ledger row for the partition with no files: the plan sees any return of its files
    as a change (they load again), and removed_partitions sees it removed until `retracted`."""
    con.execute(
        "INSERT INTO wh.ingest.partition_loads SELECT feed, partition_key, NULL, now(), '[]', 0, 0, 0, ?, "
        "CAST(batch_id AS VARCHAR), NULL, '{}', NULL FROM wh.ingest.partition_loads "
        "WHERE feed = ? AND partition_key = ? AND batch_id IS NOT NULL ORDER BY loaded_at DESC LIMIT 1",
        [change, feed, key],
    )


def retract_partitions(
    removed: list[tuple[str, str]],
    warehouse: Path,
    vault: Path,
    on_retracted: Callable[[Retraction], None] = lambda done: None,
) -> list[Retraction]:
    """Take each (feed, partition) out of the vault and the warehouse, calling `on_retracted`
    as each is done (the caller logs it then, not after the whole list)."""
    done = []
    with warehouse_with_vault(warehouse, vault, vault_access="write") as con:
        for feed, key in removed:
            out = Retraction(feed, key)
            # begun, on record before anything is deleted: a crash from here on leaves the
            # partition "removed" (a rerun with --prune finishes it) and files that come
            # back load again, whatever was deleted by then
            _ledger(con, RETRACTING, feed, key)
            # the vault first, as the purge does: PII is what a withdrawal is about
            for part, table in (("vault_identity", f"{feed}_identity"), ("vault_quarantine", f"{feed}_quarantine")):
                if _exists(con, "vault", "landing", table):
                    out.rows_deleted[part] = _delete(con, f"vault.landing.{table}", "partition_key = ?", [key])
            con.execute("BEGIN TRANSACTION")
            for part, table in (("raw", f"raw.{feed}"), ("raw_quarantine", f"raw.{feed}_quarantine")):
                schema, name = table.split(".")
                if _exists(con, "wh", schema, name):
                    out.rows_deleted[part] = _delete(con, f"wh.{table}", "partition_key = ?", [key])
            out.rows_deleted["quarantine_reasons"] = _delete(
                con, "wh.ingest.quarantine_reasons", "feed = ? AND partition_key = ?", [feed, key]
            )
            # the ledger keeps every load; the retraction is its latest row, with no files
            _ledger(con, RETRACTED, feed, key)
            con.execute("COMMIT")
            done.append(out)
            on_retracted(out)
    return done
