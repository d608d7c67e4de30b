"""Great Expectations re-checks what the SQL contract engine decided.

Ingest quarantines with the suite compiled to SQL (contracts.sql), because GX on
pandas is far too slow for state scale. Once per feed and build, this takes a
sample of the feed's rows (every quarantined row up to half the sample, the rest
spread evenly over the loaded rows by a hash of the record token), rebuilds the
full rows from the warehouse and the vault, and runs the very same suite in GX
chunk by chunk. The rows and rules GX finds failing must be exactly the ones the
SQL engine finds on the same rows; any difference fails the check and names the
rows. It reads the vault, so it belongs to the ingest stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.contracts.derived import derived_select
from orchestration.lib.contracts.sql import row_failures_sql
from orchestration.lib.contracts.suites import load_rules
from orchestration.lib.contracts.validate import GxChecker
from orchestration.lib.reference import feed_layout
from orchestration.lib.storage import warehouse_with_vault

CHUNK_ROWS = 50_000


@dataclass
class RecheckReport:
    feed: str
    rows_checked: int = 0
    quarantined_rows_checked: int = 0
    gx_failures: int = 0
    sql_failures: int = 0
    only_gx: list = field(default_factory=list)
    only_sql: list = field(default_factory=list)
    statistics: dict = field(default_factory=dict)
    gx_validations: list[dict] = field(default_factory=list)  # GX's own results per chunk, counts only

    @property
    def agree(self) -> bool:
        return not self.only_gx and not self.only_sql


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def recheck_feed(feed: str, warehouse: Path, vault: Path, sample_rows: int = 100_000) -> RecheckReport:
    report = RecheckReport(feed)
    rules = load_rules(feed)
    layout = feed_layout(feed)
    public = [c.name for c in layout if not c.pii]
    pii = [c.name for c in layout if c.pii]
    with warehouse_with_vault(warehouse, vault, vault_access="read", warehouse_access="read") as con:
        cols = ", ".join([f"r.{_q(c)}" for c in public] + [f"v.{_q(c)}" for c in pii])
        half = sample_rows // 2
        con.execute(
            f"""CREATE TEMP TABLE sample AS
            WITH q AS (SELECT * FROM vault.landing.{feed}_quarantine  -- as delivered: the warehouse withholds values
                       WHERE record_token IN (SELECT record_token FROM wh.raw.{feed}_quarantine)
                       ORDER BY source_file, source_row LIMIT {half}),
                 l AS (SELECT * FROM wh.raw.{feed} ORDER BY hash(record_token)
                       LIMIT {sample_rows} - (SELECT count(*) FROM q)),
                 rows AS (SELECT * FROM q UNION ALL SELECT * FROM l)
            SELECT r.record_token, r.source_file, r.source_row, {cols}
            FROM rows r JOIN vault.landing.{feed}_identity v USING (record_token)"""
        )
        con.execute(
            f"CREATE TEMP TABLE checked AS SELECT {derived_select(feed)}, "
            "row_number() OVER (ORDER BY source_file, source_row) AS _ord FROM sample"
        )
        row_rules = [r for r in rules if r.scope == "row"]
        sql_found = {(f, int(r), int(i)) for f, r, i in con.execute(row_failures_sql(row_rules, "checked")).fetchall()}
        report.rows_checked = con.execute("SELECT count(*) FROM checked").fetchone()[0]
        report.quarantined_rows_checked = con.execute(
            f"SELECT count(*) FROM sample s SEMI JOIN wh.raw.{feed}_quarantine q USING (record_token)"
        ).fetchone()[0]
        checker = GxChecker(feed, rules)
        for start in range(0, report.rows_checked, CHUNK_ROWS):
            chunk = con.execute(
                "SELECT * EXCLUDE (_ord, record_token) FROM checked WHERE _ord > ? AND _ord <= ? ORDER BY _ord",
                [start, start + CHUNK_ROWS],
            ).to_arrow_table()
            checker.check(chunk)
    gx_found = checker.result.failures
    report.gx_failures, report.sql_failures = len(gx_found), len(sql_found)
    report.only_gx = sorted(gx_found - sql_found)[:10]
    report.only_sql = sorted(sql_found - gx_found)[:10]
    report.gx_validations = checker.result.validations
    report.statistics = {rules[i].rule: s for i, s in checker.result.statistics.items() if s["unexpected"]}
    return report
