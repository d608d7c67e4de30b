"""Writes feed files in the documented layout and the ground truth beside them.

Every feed column is text on the wire (docs/feeds.md gives each column's logical
type); ingest parses and types them. Files are written to a temporary name and
renamed, so a killed run never leaves a half-written feed in the landing folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.lib.reference import column_names

_GROUND_TRUTH_SCHEMA = pa.schema(
    [
        ("feed", pa.string()),
        ("file", pa.string()),
        ("row_number", pa.int32()),  # 1-based data row (line number - 1 in CSV)
        ("person_id", pa.int64()),
        ("defect", pa.string()),  # non-null where a bad record was injected on purpose
    ]
)


class FeedWriter:
    def __init__(self, out: Path, fmt: str = "csv", inject_bad_records: bool = False) -> None:
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"unknown format {fmt!r}: use csv or parquet")
        self.landing = out / "landing"
        self.truth_dir = out / "ground_truth"
        self.fmt = fmt
        self.inject_bad_records = inject_bad_records
        self.rows_written: dict[str, int] = {}
        self.files_written: dict[str, int] = {}
        self._truth: dict[str, pq.ParquetWriter] = {}

    def write(
        self,
        feed: str,
        relpath: str,
        columns: dict[str, pa.Array],
        person_id: np.ndarray,
        defect: list[str | None] | None = None,
    ) -> None:
        names = column_names(feed)
        missing = set(names) - set(columns)
        extra = set(columns) - set(names)
        if missing or extra:
            raise ValueError(f"{feed} writer: missing columns {sorted(missing)}, extra {sorted(extra)}")
        table = pa.table({n: _as_text(columns[n]) for n in names})
        path = self.landing / f"{relpath}.{self.fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        if self.fmt == "csv":
            with open(tmp, "wb") as sink:
                sink.write((",".join(names) + "\n").encode())
                pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        else:
            pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        self.rows_written[feed] = self.rows_written.get(feed, 0) + table.num_rows
        self.files_written[feed] = self.files_written.get(feed, 0) + 1
        self._record_truth(feed, path.relative_to(self.landing).as_posix(), person_id, defect)

    def _record_truth(self, feed, file, person_id, defect) -> None:
        writer = self._truth.get(feed)
        if writer is None:
            self.truth_dir.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(self.truth_dir / f"{feed}.parquet", _GROUND_TRUTH_SCHEMA)
            self._truth[feed] = writer
        n = len(person_id)
        batch = pa.RecordBatch.from_arrays(
            [
                pa.repeat(pa.scalar(feed), n),
                pa.repeat(pa.scalar(file), n),
                pa.array(np.arange(1, n + 1, dtype=np.int32)),
                pa.array(person_id, pa.int64()),
                pa.array(defect, pa.string()) if defect is not None else pa.nulls(n, pa.string()),
            ],
            schema=_GROUND_TRUTH_SCHEMA,
        )
        writer.write_batch(batch)

    def close(self) -> None:
        for writer in self._truth.values():
            writer.close()
        self._truth.clear()


def _as_text(values) -> pa.Array:
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    if pa.types.is_string(arr.type):
        return arr
    return arr.cast(pa.string())
