"""Clause 21 (data destruction): when an agreement's destruction date has come, every
record that institution provided is deleted from the warehouse, the vault and (by the
next release build) every release, and each deletion is logged.

Runs on every build right after ingest, so a reload of a landing partition cannot bring
the institution's records back into anything downstream. The landing files are the
steward's to remove; the report lists those still present."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.agreements.registry import Registry
from orchestration.lib.storage import warehouse_attached, warehouse_with_vault

PURGE_LOG = (
    "CREATE TABLE IF NOT EXISTS wh.governance.purge_log (purged_at TIMESTAMP WITH TIME ZONE, agreement_id VARCHAR, "
    "institution_code VARCHAR, destruction_date DATE, table_name VARCHAR, rows_deleted BIGINT)"
)
FEEDS = ("ps_enrollment", "ps_awards")
# vault identity tables that hold source keys (orchestration/lib/identity): table -> key columns
IDENTITY_KEY_COLUMNS = {
    "source_keys": ("source_key",),
    "entities": ("entity_key",),
    "splink_edges": ("key_l", "key_r"),
    "review_queue": ("key_l", "key_r"),
    "review_decisions": ("key_l", "key_r"),
}


@dataclass
class PurgeReport:
    institutions: list[str] = field(default_factory=list)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    landing_files_remaining: list[str] = field(default_factory=list)


def _exists(con, catalog: str, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [catalog, schema, table],
        ).fetchall()[0][0]
    )


def purged_since(warehouse: Path, since: dt.datetime) -> bool:
    """Whether a purge deleted any record at or after `since` (governance.purge_log)."""
    with warehouse_attached(warehouse, read_only=True) as con:
        if not _exists(con, "wh", "governance", "purge_log"):
            return False
        return (
            con.execute("SELECT count(*) FROM wh.governance.purge_log WHERE purged_at >= ?", [since]).fetchone()[0] > 0
        )


def purge_destroyed(registry: Registry, warehouse: Path, vault: Path, landing: Path | None = None) -> PurgeReport:
    report = PurgeReport()
    due = [a for a in registry.agreements if a.status(registry.as_of) == "destroyed"]
    with warehouse_with_vault(warehouse, vault, vault_access="write") as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS wh.governance")
        con.execute(PURGE_LOG)
        now = dt.datetime.now(dt.UTC)
        for agreement in due:
            report.institutions.append(agreement.institution_code)
            deleted = _purge_institution(con, agreement.institution_code)
            for table, rows in deleted.items():
                report.rows_deleted[table] = report.rows_deleted.get(table, 0) + rows
                if rows:
                    con.execute(
                        "INSERT INTO wh.governance.purge_log VALUES (?, ?, ?, ?, ?, ?)",
                        [now, agreement.agreement_id, agreement.institution_code, agreement.destruction_date,
                         table, rows],
                    )  # fmt: skip
            if landing is not None:
                report.landing_files_remaining += sorted(
                    str(p.relative_to(landing)) for p in landing.rglob(f"*_{agreement.institution_code}_*")
                )
    return report


# a row is the institution's if it says so, or if it came in the institution's own file
# (docs/feeds.md: ..._<code>_FY<yyyy>...): a quarantined row may carry a garbled or, in
# the warehouse, a withheld institution_code, and must go all the same
_OF_INSTITUTION = "(institution_code = ? OR contains(source_file, ?))"


def _purge_institution(con, institution: str) -> dict[str, int]:
    deleted: dict[str, int] = {}
    con.execute("CREATE OR REPLACE TEMP TABLE doomed (feed VARCHAR, record_token UUID)")
    for feed in FEEDS:
        for table in (feed, f"{feed}_quarantine"):
            if _exists(con, "wh", "raw", table):
                con.execute(
                    f"INSERT INTO doomed SELECT ?, record_token FROM wh.raw.{table} WHERE {_OF_INSTITUTION}",
                    [feed, institution, f"_{institution}_FY"],
                )
    # the warehouse withholds doubtful values of quarantined rows (institution_code
    # among them): the vault's copy of those rows names the institution
    for feed in FEEDS:
        if _exists(con, "vault", "landing", f"{feed}_quarantine"):
            con.execute(
                f"INSERT INTO doomed SELECT ?, record_token FROM vault.landing.{feed}_quarantine "
                f"WHERE {_OF_INSTITUTION}",
                [feed, institution, f"_{institution}_FY"],
            )
    # vault first: PII is what destruction is about; a crash after it leaves only
    # research-ID rows, which the next run's purge deletes
    for feed in FEEDS:
        for table in (f"{feed}_identity", f"{feed}_quarantine"):
            if _exists(con, "vault", "landing", table):
                deleted[f"vault.landing.{table}"] = _delete(
                    con, f"vault.landing.{table}", "record_token IN (SELECT record_token FROM doomed)"
                )
    # the identity crosswalk keys postsecondary entities as P:<institution>:<student number>
    prefix = f"P:{institution}:%"
    for table, columns in IDENTITY_KEY_COLUMNS.items():
        if _exists(con, "vault", "identity", table):
            where = " OR ".join(f"{c} LIKE ?" for c in columns)
            deleted[f"vault.identity.{table}"] = _delete(con, f"vault.identity.{table}", where, [prefix] * len(columns))
    con.execute("BEGIN TRANSACTION")
    for feed in FEEDS:
        for table in (feed, f"{feed}_quarantine"):
            if _exists(con, "wh", "raw", table):
                deleted[f"raw.{table}"] = _delete(
                    con, f"wh.raw.{table}", "record_token IN (SELECT record_token FROM doomed)"
                )
    if _exists(con, "wh", "ingest", "quarantine_reasons"):
        deleted["ingest.quarantine_reasons"] = _delete(
            con, "wh.ingest.quarantine_reasons", "record_token IN (SELECT record_token FROM doomed)"
        )
    if _exists(con, "wh", "identity", "record_research_ids"):
        deleted["identity.record_research_ids"] = _delete(
            con,
            "wh.identity.record_research_ids",
            "record_token IN (SELECT record_token FROM doomed)",  # random UUIDs: unique across feeds
        )
    con.execute("COMMIT")
    return deleted


def _delete(con, table: str, where: str, params: list | None = None) -> int:
    before = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    con.execute(f"DELETE FROM {table} WHERE {where}", params or [])
    return before - con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
