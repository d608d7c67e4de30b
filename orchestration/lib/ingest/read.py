"""Reading landing files as text batches, in file order, with exact row numbers.

A file that cannot be read (not UTF-8, wrong delimiter, a missing or unexpected
column, ragged or truncated rows, empty, a Parquet column that is not text)
raises LandingError naming the file and the problem; the caller loads nothing
of that partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.lib.ingest.landing import LandingError, LandingFile

BATCH_ROWS = 100_000


def read_batches(f: LandingFile, columns: list[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Yield batches of `source_row` (1-based data row) plus every column as text."""
    offset = 0
    try:
        if f.path.stat().st_size == 0:
            raise LandingError(f"{f.relpath}: the file is empty (no header row)")
        if f.fmt == "parquet":
            batches = _parquet_batches(f, columns, batch_rows)
        else:
            batches = _csv_batches(f, columns)
        for batch in batches:
            n = batch.num_rows
            arrays = [batch.column(batch.schema.get_field_index(c)) for c in columns]
            rows = pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
            offset += n
            yield pa.RecordBatch.from_arrays([rows, *arrays], names=["source_row", *columns])
    except LandingError:
        raise
    except UnicodeDecodeError as exc:
        raise LandingError(f"{f.relpath}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (pa.ArrowInvalid, OSError) as exc:
        message = _without_row_text(str(exc).splitlines()[0])
        if "invalid UTF8" in message or "Invalid UTF8" in message:
            message = f"not UTF-8 text ({message})"
        raise LandingError(f"{f.relpath}: cannot be read after data row {offset}: {message}") from exc


def _without_row_text(message: str) -> str:
    """pyarrow quotes the offending row in parse errors ("Expected 33 columns, got 4:
    <row>"); the row may hold names or SSNs, and this message reaches logs and the
    terminal, so only the diagnosis is kept."""
    match = re.search(r"Expected \d+ columns, got \d+", message)
    if match:
        return f"CSV parse error: {match.group(0)} (a ragged or truncated row)"
    return message.split(": ", 2)[0] if "parse error" in message else message


def _csv_batches(f: LandingFile, columns: list[str]):
    with f.path.open("rb") as handle:
        head = handle.read(4096)
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if any(b < 0x20 and b != 0x09 for b in first_line):
        raise LandingError(f"{f.relpath}: the header has control characters: not a CSV text file")
    if b"," not in first_line and (b";" in first_line or b"\t" in first_line or b"|" in first_line):
        sep = next(s for s in (b";", b"\t", b"|") if s in first_line)
        raise LandingError(
            f"{f.relpath}: the header is separated by {sep!r}, not commas (docs/feeds.md: comma-separated)"
        )
    reader = pacsv.open_csv(
        f.path,
        read_options=pacsv.ReadOptions(block_size=16 << 20, encoding="utf8"),
        parse_options=pacsv.ParseOptions(delimiter=",", quote_char='"', newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    check_header(f, reader.schema.names, columns)
    return reader


def _parquet_batches(f: LandingFile, columns: list[str], batch_rows: int):
    pf = pq.ParquetFile(f.path)
    schema = pf.schema_arrow
    check_header(f, schema.names, columns)
    not_text = [
        f"{n} ({schema.field(n).type})"
        for n in columns
        if not (pa.types.is_string(schema.field(n).type) or pa.types.is_large_string(schema.field(n).type))
    ]
    if not_text:
        raise LandingError(
            f"{f.relpath}: Parquet columns must be UTF-8 text (docs/feeds.md); these are not: {', '.join(not_text)}"
        )
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        yield pa.RecordBatch.from_arrays(
            [batch.column(i).cast(pa.string()) for i in range(batch.num_columns)], names=columns
        )


def check_header(f: LandingFile, header: list[str], columns: list[str]) -> None:
    if header == columns:
        return
    missing = [c for c in columns if c not in header]
    extra = [c for c in header if c not in columns]
    if not missing and not extra:
        raise LandingError(f"{f.relpath}: the columns are in a different order from docs/feeds.md")
    if header and header[0].startswith("\ufeff"):
        raise LandingError(f"{f.relpath}: the file starts with a byte-order mark; save it as UTF-8 without BOM")
    # a header cell that is not a column-like name may be a record's value (a file without
    # its header row): it is counted, never quoted, since errors reach logs and a record holds PII
    named = [c for c in extra if re.fullmatch(r"[a-z][a-z0-9_]{0,63}", c)]
    if len(named) < len(extra):
        raise LandingError(
            f"{f.relpath}: {len(extra) - len(named)} header cell(s) are not column names (is the header row "
            f"missing?); the {f.feed} layout is in docs/feeds.md (missing {len(missing)} of {len(columns)} columns)"
        )
    raise LandingError(
        f"{f.relpath}: columns differ from the {f.feed} layout in docs/feeds.md (missing {missing}, unexpected {extra})"
    )
