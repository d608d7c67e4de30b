"""Load feed files: PII columns to the vault, everything else to the warehouse.

Each row gets a random record token (not derived from any identifier) that
joins the two halves; only the identity stage may open the vault. Every column
is loaded as text, exactly as received, with its source file and row number;
typing and validation are the staging models' and the ingest contracts' job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.ingest.landing import LandingError, LandingFile
from orchestration.lib.reference import feed_layout

LINEAGE_COLUMNS = ("record_token", "source_file", "source_row")


@dataclass
class LoadResult:
    feed: str
    files: int
    rows: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reader(f: LandingFile, columns: list[str]) -> str:
    path = str(f.path).replace("'", "''")
    if f.fmt == "parquet":
        return f"read_parquet('{path}')"
    types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    # header required, every column text; strict mode so a ragged or truncated file
    # fails loudly instead of loading shifted values
    return (
        f"read_csv('{path}', header = true, delim = ',', quote = '\"', columns = {types}, "
        f"strict_mode = true, auto_detect = false, null_padding = false)"
    )


def load_feed(
    feed: str,
    files: list[LandingFile],
    warehouse: Path,
    vault: Path,
    progress: Callable[[str], None] = lambda msg: None,
) -> LoadResult:
    """Replace the feed's raw tables in the warehouse and vault with `files`."""
    layout = feed_layout(feed)
    names = [c.name for c in layout]
    pii = [c.name for c in layout if c.pii]
    public = [c.name for c in layout if not c.pii]
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    vault.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{warehouse}' AS wh")
        con.execute(f"ATTACH '{vault}' AS vault")
        cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {_quote(c)}" for c in names)
        con.execute(
            f"CREATE TEMP TABLE incoming AS SELECT CAST(NULL AS UUID) AS record_token, "
            f"CAST(NULL AS VARCHAR) AS source_file, CAST(NULL AS BIGINT) AS source_row, {cols} LIMIT 0"
        )
        total = 0
        for i, f in enumerate(files, 1):
            try:
                header = [d[0] for d in con.execute(f"SELECT * FROM {_reader(f, names)} LIMIT 0").description]
            except duckdb.Error as exc:
                raise LandingError(f"{f.relpath}: cannot be read: {exc}") from exc
            if header != names:
                missing = [c for c in names if c not in header]
                extra = [c for c in header if c not in names]
                raise LandingError(
                    f"{f.relpath}: columns differ from the {feed} layout (missing {missing}, extra {extra})"
                )
            select = ", ".join(f"CAST({_quote(c)} AS VARCHAR)" for c in names)
            n = con.execute(
                f"INSERT INTO incoming SELECT gen_random_uuid(), ?, row_number() OVER (), {select} "
                f"FROM {_reader(f, names)}",
                [f.relpath],
            ).fetchone()[0]
            total += n
            if i % 50 == 0 or i == len(files):
                progress(f"{feed}: read {i}/{len(files)} files, {total:,} rows")
        lineage = ", ".join(LINEAGE_COLUMNS)
        # the vault first: if a run dies between the two statements, the next full
        # reload replaces both, and the warehouse never refers to a token the vault lacks
        con.execute("CREATE SCHEMA IF NOT EXISTS vault.landing")
        con.execute(
            f"CREATE OR REPLACE TABLE vault.landing.{feed}_identity AS "
            f"SELECT {lineage}, {', '.join(_quote(c) for c in pii)} FROM incoming"
        )
        con.execute("CREATE SCHEMA IF NOT EXISTS wh.raw")
        con.execute(
            f"CREATE OR REPLACE TABLE wh.raw.{feed} AS "
            f"SELECT {lineage}, {', '.join(_quote(c) for c in public)} FROM incoming"
        )
        return LoadResult(feed, len(files), total)
    finally:
        con.close()
