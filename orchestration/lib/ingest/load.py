"""Load feed files: PII columns to the vault, everything else to the warehouse.

Each row gets a random record token (not derived from any identifier) that
joins the two halves; only the identity stage may open the vault. Every column
is loaded as text, exactly as received, with its source file and row number;
typing and validation are the staging models' and the ingest contracts' job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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


def read_batches(f: LandingFile, columns: list[str], batch_rows: int = 250_000) -> Iterator[pa.RecordBatch]:
    """Stream a feed file as text batches with `source_row` (1-based data row).

    pyarrow reads in file order, so row numbers are exact (DuckDB's parallel CSV
    scan does not promise an order). Memory stays bounded by the batch size.
    """
    offset = 0
    try:
        if f.fmt == "parquet":
            pf = pq.ParquetFile(f.path)
            header = pf.schema_arrow.names
            _check_header(f, header, columns)
            batches = pf.iter_batches(batch_size=batch_rows, columns=columns)
        else:
            reader = pacsv.open_csv(
                f.path,
                read_options=pacsv.ReadOptions(block_size=32 << 20, encoding="utf8"),
                parse_options=pacsv.ParseOptions(delimiter=",", quote_char='"'),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns},
                    strings_can_be_null=True,
                    null_values=[""],
                ),
            )
            _check_header(f, reader.schema.names, columns)
            batches = reader
        for batch in batches:
            n = batch.num_rows
            arrays = [batch.column(c).cast(pa.string()) for c in columns]
            rows = pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
            offset += n
            yield pa.RecordBatch.from_arrays([rows, *arrays], names=["source_row", *columns])
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise LandingError(f"{f.relpath}: cannot be read after data row {offset}: {exc}") from exc


def _check_header(f: LandingFile, header: list[str], columns: list[str]) -> None:
    if header != columns:
        missing = [c for c in columns if c not in header]
        extra = [c for c in header if c not in columns]
        raise LandingError(
            f"{f.relpath}: columns differ from the {f.feed} layout in docs/feeds.md "
            f"(missing {missing}, unexpected {extra})"
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
        select = ", ".join(_quote(c) for c in names)
        for i, f in enumerate(files, 1):
            for batch in read_batches(f, names):
                con.register("batch", batch)
                con.execute(
                    f"INSERT INTO incoming SELECT gen_random_uuid(), ?, source_row, {select} FROM batch",
                    [f.relpath],
                )
                con.unregister("batch")
                total += batch.num_rows
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
