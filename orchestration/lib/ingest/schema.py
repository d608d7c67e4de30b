"""Tables ingest writes, created on first use (CREATE ... IF NOT EXISTS)."""

from __future__ import annotations


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_tables(con, feed: str, pii: list[str], public: list[str]) -> None:
    """Warehouse (attached as wh) and vault (attached as vault) tables for one feed."""
    head = "partition_key VARCHAR, batch_id UUID, record_token UUID, source_file VARCHAR, source_row BIGINT"
    pub = ", ".join(f"{_q(c)} VARCHAR" for c in public)
    ids = ", ".join(f"{_q(c)} VARCHAR" for c in pii)
    for stmt in (
        "CREATE SCHEMA IF NOT EXISTS wh.raw",
        "CREATE SCHEMA IF NOT EXISTS wh.ingest",
        "CREATE SCHEMA IF NOT EXISTS vault.landing",
        f"CREATE TABLE IF NOT EXISTS wh.raw.{feed} ({head}, {pub})",
        f"CREATE TABLE IF NOT EXISTS wh.raw.{feed}_quarantine ({head}, {pub})",
        f"CREATE TABLE IF NOT EXISTS vault.landing.{feed}_identity ({head}, {ids})",
        # quarantined rows as delivered: their values may be anything (load.py)
        f"CREATE TABLE IF NOT EXISTS vault.landing.{feed}_quarantine ({head}, {pub})",
        "CREATE TABLE IF NOT EXISTS wh.ingest.quarantine_reasons (feed VARCHAR, partition_key VARCHAR, "
        "batch_id UUID, record_token UUID, source_file VARCHAR, source_row BIGINT, rule_index INTEGER, "
        "rule VARCHAR, column_name VARCHAR, value VARCHAR)",
        "CREATE TABLE IF NOT EXISTS wh.ingest.partition_loads (feed VARCHAR, partition_key VARCHAR, "
        "batch_id UUID, loaded_at TIMESTAMP WITH TIME ZONE, files VARCHAR, rows_read BIGINT, rows_loaded BIGINT, "
        "rows_quarantined BIGINT, change VARCHAR, previous_batch_id VARCHAR, suite_sha VARCHAR, "
        "failures_by_rule VARCHAR, validation_file VARCHAR)",
    ):
        con.execute(stmt)
