"""Load one partition of a feed: validate, quarantine, split PII, replace atomically.

For every partition:
1. read its files (text, exact row numbers) into an in-memory staging table, each
   row with a fresh random record token (not derived from any identifier);
2. apply the feed's suite (expectations/<feed>.json) compiled to SQL, which finds
   every failing row (Great Expectations re-checks a sample of every feed with the
   same suite and must agree: orchestration.lib.contracts.recheck);
3. write PII columns of every row (loaded or quarantined), and every column of each
   quarantined row, to the vault, then in ONE warehouse transaction replace the
   partition's loaded rows, quarantined rows, quarantine reasons and ledger entry,
   then drop the vault's superseded rows.

A quarantined row's values are not all trusted to be what their column says: a value
a failing rule read may be anything (a name in a code column, a birthdate where the
term start belongs), and a row failing the form (a code list, a pattern, a date format,
a length or a range) of two or more columns is most likely shifted, so none of its
values is where the header says. The warehouse copy of a quarantined row therefore
withholds (NULL) every value a failing rule read (the sources of a derived column
included), and every value of a row whose layout is in doubt; reasons
name the rule and the column, never the value. The vault keeps the row as delivered
(`landing.<feed>_quarantine`) for the vault-side tools.

A crash at any point leaves the warehouse on its previous good state (step 3's
transaction either commits or not) and the vault a superset of what the
warehouse refers to; the next run completes and cleans up. For every partition
rows read = rows loaded + rows quarantined, checked against the tables written.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from orchestration.lib.contracts.derived import derived_select, source_columns
from orchestration.lib.contracts.sql import partition_failures_sql, row_failures_sql
from orchestration.lib.contracts.suites import load_rules, suite_sha
from orchestration.lib.faults import fault_point
from orchestration.lib.ingest.landing import LandingError, LandingFile
from orchestration.lib.ingest.partitions import fingerprint
from orchestration.lib.ingest.read import read_batches
from orchestration.lib.ingest.schema import ensure_tables
from orchestration.lib.reference import feed_layout
from orchestration.lib.storage import warehouse_with_vault


@dataclass
class PartitionReport:
    feed: str
    partition_key: str
    batch_id: str
    files: dict[str, str]  # relpath -> sha256
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    failures_by_rule: dict[str, int] = field(default_factory=dict)
    suite_sha: str = ""
    change: str = "new"  # new | unchanged | corrected | reloaded
    previous_batch_id: str | None = None
    skipped: bool = False
    seconds: float = 0.0
    validation_file: str | None = None

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined


# expectation types that check a value's form: a value failing one may be anything
FORM_RULES = frozenset(
    {
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_match_strftime_format",
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_be_between",
    }
)
LAYOUT_DOUBT_COLUMNS = 2  # a typo breaks one column's form; a shifted row breaks several


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ingest_partition(
    feed: str,
    key: str,
    files: list[LandingFile],
    warehouse: Path,
    vault: Path,
    results_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] = lambda msg: None,
) -> PartitionReport:
    began = time.monotonic()
    layout = feed_layout(feed)
    names = [c.name for c in layout]
    pii = [c.name for c in layout if c.pii]
    public = [c.name for c in layout if not c.pii]
    rules = load_rules(feed)
    report = PartitionReport(feed, key, str(uuid.uuid4()), fingerprint(files), suite_sha=suite_sha(feed))
    with warehouse_with_vault(warehouse, vault, vault_access="write") as con:
        ensure_tables(con, feed, pii, public)
        previous = con.execute(
            "SELECT batch_id, files, suite_sha FROM wh.ingest.partition_loads WHERE feed = ? AND partition_key = ? "
            "ORDER BY loaded_at DESC LIMIT 1",
            [feed, key],
        ).fetchone()
        if previous:
            report.previous_batch_id = None if previous[0] is None else str(previous[0])  # None: a retraction
            same = json.loads(previous[1]) == report.files
            report.change = "unchanged" if same else "corrected"
            if same and previous[2] != report.suite_sha:
                report.change = "revalidated"  # the suite changed: same files, new contract
            elif same and not force:
                report.skipped = True
                report.seconds = time.monotonic() - began
                return _counts_from_ledger(con, report)
            elif same:
                report.change = "reloaded"

        # 1. stage every row of every file (text, in file order), the files' batches gathered
        # into chunks of about CHUNK_ROWS: a term of enrollment is one small file per
        # institution, and one INSERT per file cost more than reading them
        cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {_q(c)}" for c in names)
        con.execute(
            f"CREATE TEMP TABLE incoming AS SELECT CAST(NULL AS UUID) AS record_token, "
            f"CAST(NULL AS VARCHAR) AS source_file, CAST(NULL AS BIGINT) AS source_row, {cols} LIMIT 0"
        )
        select = ", ".join(_q(c) for c in names)
        for chunk in _chunks(files, names, report, progress, f"{feed} {key}"):
            con.register("chunk", chunk)
            con.execute(f"INSERT INTO incoming SELECT gen_random_uuid(), source_file, source_row, {select} FROM chunk")
            con.unregister("chunk")
        fault_point("ingest_after_read")

        # 2. contracts: the suite compiled to SQL decides what is quarantined
        # derived columns computed once (the rules read them many times)
        con.execute(f"CREATE TEMP TABLE checked AS SELECT {derived_select(feed)} FROM incoming")
        con.execute(
            "CREATE TEMP TABLE failures AS "
            f"{row_failures_sql(list(rules), 'checked')}\nUNION ALL\n{partition_failures_sql(list(rules), 'checked')}"
        )
        by_rule = dict(
            con.execute("SELECT rule_index, count(*) FROM failures GROUP BY rule_index ORDER BY 1").fetchall()
        )
        report.failures_by_rule = {rules[i].rule: n for i, n in by_rule.items()}
        con.execute("CREATE TEMP TABLE quarantined AS SELECT DISTINCT source_file, source_row FROM failures")
        report.rows_quarantined = con.execute("SELECT count(*) FROM quarantined").fetchone()[0]
        report.rows_loaded = report.rows_read - report.rows_quarantined
        report.validation_file = _write_validation(results_dir, report, rules, by_rule)

        # 3. vault first (a superset is harmless), then one warehouse transaction
        lineage = "record_token, source_file, source_row"
        pii_cols = ", ".join(_q(c) for c in pii)
        con.execute(
            f"INSERT INTO vault.landing.{feed}_identity SELECT ?, ?::UUID, {lineage}, {pii_cols} FROM incoming",
            [key, report.batch_id],
        )
        public_cols = ", ".join(_q(c) for c in public)
        con.execute(
            f"INSERT INTO vault.landing.{feed}_quarantine SELECT ?, ?::UUID, {lineage}, {public_cols} FROM incoming i "
            "SEMI JOIN quarantined q ON q.source_file = i.source_file AND q.source_row = i.source_row",
            [key, report.batch_id],
        )
        fault_point("ingest_after_vault_insert")
        _replace_in_warehouse(con, feed, key, report, rules, public, pii)
        fault_point("ingest_after_warehouse_commit")
        for table in (f"{feed}_identity", f"{feed}_quarantine"):
            con.execute(
                f"DELETE FROM vault.landing.{table} WHERE partition_key = ? AND batch_id <> ?::UUID",
                [key, report.batch_id],
            )
        _verify_accounting(con, feed, key, report)
    report.seconds = round(time.monotonic() - began, 2)
    return report


CHUNK_ROWS = 200_000  # rows staged per INSERT: few statements, bounded memory


def _chunks(files: list[LandingFile], names: list[str], report: PartitionReport, progress, label: str):
    """Tables of (source_file, source_row, columns as text) of about CHUNK_ROWS rows, in file order."""
    batches, rows = [], 0
    fields = [pa.field("source_file", pa.string()), pa.field("source_row", pa.int64())]
    schema = pa.schema(fields + [pa.field(c, pa.string()) for c in names])
    for f in files:
        for batch in read_batches(f, names):
            source = pa.array([f.relpath] * batch.num_rows, pa.string())
            batches.append(pa.RecordBatch.from_arrays([source, *batch.columns], schema=schema))
            rows += batch.num_rows
            report.rows_read += batch.num_rows
            if rows >= CHUNK_ROWS:
                yield pa.Table.from_batches(batches, schema=schema)
                batches, rows = [], 0
        progress(f"{label}: read {f.relpath} ({report.rows_read:,} rows so far)")
    if batches:
        yield pa.Table.from_batches(batches, schema=schema)


def _replace_in_warehouse(con, feed, key, report, rules, public, pii) -> None:
    lineage = "record_token, source_file, source_row"
    cols = ", ".join(_q(c) for c in public)
    rule_rows = [
        (r.index, r.rule, r.columns[0] if len(r.columns) == 1 else ",".join(r.columns), r.type in FORM_RULES)
        for r in rules
    ]
    con.execute("CREATE TEMP TABLE rule_names (rule_index INTEGER, rule VARCHAR, column_name VARCHAR, form BOOLEAN)")
    con.executemany("INSERT INTO rule_names VALUES (?, ?, ?, ?)", rule_rows)
    # every delivered column a rule reads (a derived column's sources included)
    read_by = [(r.index, src) for r in rules for c in r.columns for src in source_columns(feed, c)]
    con.execute("CREATE TEMP TABLE rule_columns (rule_index INTEGER, column_name VARCHAR)")
    con.executemany("INSERT INTO rule_columns VALUES (?, ?)", read_by or [(-1, "")])
    # per quarantined row: the columns any failing rule read (their values are in doubt),
    # and whether the layout is in doubt (two or more columns off their form); see the
    # module docstring
    con.execute(
        "CREATE TEMP TABLE withheld AS SELECT f.source_file, f.source_row, list(DISTINCT c.column_name) AS columns, "
        f"count(DISTINCT n.column_name) FILTER (WHERE n.form) >= {LAYOUT_DOUBT_COLUMNS} AS layout_in_doubt "
        "FROM failures f JOIN rule_names n USING (rule_index) LEFT JOIN rule_columns c USING (rule_index) "
        "GROUP BY f.source_file, f.source_row"
    )
    kept = ", ".join(
        f"CASE WHEN w.layout_in_doubt OR list_contains(w.columns, '{c}') THEN NULL ELSE i.{_q(c)} END AS {_q(c)}"
        for c in public
    )
    con.execute("BEGIN TRANSACTION")
    con.execute(f"DELETE FROM wh.raw.{feed} WHERE partition_key = ?", [key])
    con.execute(
        f"INSERT INTO wh.raw.{feed} SELECT ?, ?::UUID, {lineage}, {cols} FROM incoming i "
        "WHERE NOT EXISTS (SELECT 1 FROM quarantined q WHERE q.source_file = i.source_file "
        "AND q.source_row = i.source_row)",
        [key, report.batch_id],
    )
    con.execute(f"DELETE FROM wh.raw.{feed}_quarantine WHERE partition_key = ?", [key])
    con.execute(
        f"INSERT INTO wh.raw.{feed}_quarantine SELECT ?, ?::UUID, i.record_token, i.source_file, i.source_row, "
        f"{kept} FROM incoming i "
        "SEMI JOIN quarantined q ON q.source_file = i.source_file AND q.source_row = i.source_row "
        "LEFT JOIN withheld w ON w.source_file = i.source_file AND w.source_row = i.source_row",
        [key, report.batch_id],
    )
    con.execute("DELETE FROM wh.ingest.quarantine_reasons WHERE feed = ? AND partition_key = ?", [feed, key])
    con.execute(
        "INSERT INTO wh.ingest.quarantine_reasons "
        "SELECT ?, ?, ?::UUID, i.record_token, f.source_file, f.source_row, f.rule_index, n.rule, n.column_name, "
        "NULL "  # the value: in the vault's copy of the row only
        "FROM failures f JOIN rule_names n USING (rule_index) "
        "JOIN incoming i ON i.source_file = f.source_file AND i.source_row = f.source_row",
        [feed, key, report.batch_id],
    )
    con.execute(
        "INSERT INTO wh.ingest.partition_loads VALUES (?, ?, ?::UUID, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            feed,
            key,
            report.batch_id,
            json.dumps(report.files, sort_keys=True),
            report.rows_read,
            report.rows_loaded,
            report.rows_quarantined,
            report.change,
            report.previous_batch_id,
            report.suite_sha,
            json.dumps(report.failures_by_rule, sort_keys=True),
            report.validation_file,
        ],
    )
    con.execute("COMMIT")


def _verify_accounting(con, feed, key, report) -> None:
    loaded = con.execute(f"SELECT count(*) FROM wh.raw.{feed} WHERE partition_key = ?", [key]).fetchone()[0]
    quarantined = con.execute(
        f"SELECT count(*) FROM wh.raw.{feed}_quarantine WHERE partition_key = ?", [key]
    ).fetchone()[0]
    identities = con.execute(
        f"SELECT count(*) FROM vault.landing.{feed}_identity WHERE partition_key = ?", [key]
    ).fetchone()[0]
    if (loaded, quarantined, identities) != (report.rows_loaded, report.rows_quarantined, report.rows_read):
        raise LandingError(
            f"{feed} {key}: row accounting failed: read {report.rows_read}, warehouse has {loaded} loaded + "
            f"{quarantined} quarantined, vault has {identities}"
        )


def _counts_from_ledger(con, report: PartitionReport) -> PartitionReport:
    row = con.execute(
        "SELECT rows_read, rows_loaded, rows_quarantined, suite_sha, failures_by_rule, validation_file "
        "FROM wh.ingest.partition_loads WHERE batch_id = ?::UUID",
        [report.previous_batch_id],
    ).fetchone()
    report.rows_read, report.rows_loaded, report.rows_quarantined, report.suite_sha = row[:4]
    report.failures_by_rule = json.loads(row[4])
    report.validation_file = row[5]
    report.batch_id = report.previous_batch_id
    return report


def _write_validation(results_dir: Path, report: PartitionReport, rules, by_rule) -> str:
    """The partition's validation result as a file: per expectation, how many rows
    failed. Values are never written here (they may be PII)."""
    out = results_dir / report.feed / report.partition_key / f"{report.batch_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "feed": report.feed,
        "partition_key": report.partition_key,
        "batch_id": report.batch_id,
        "files": report.files,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "suite_sha256": report.suite_sha,
        "success": report.rows_quarantined == 0,
        "results": [
            {
                "expectation": r.index + 1,
                "type": r.type,
                "scope": r.scope,
                "rule": r.rule,
                "columns": r.columns,
                "unexpected_count": int(by_rule.get(r.index, 0)),
                "success": not by_rule.get(r.index),
            }
            for r in rules
        ],
    }
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)
    return str(out)


__all__ = ["PartitionReport", "ingest_partition"]
