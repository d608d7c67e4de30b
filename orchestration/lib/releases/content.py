"""What a release holds, as opposed to when and by which run it was written.

A release folder's *content hash* covers what a reader receives: the data files
(Parquet written sorted: DuckDB's Parquet writer is byte-deterministic for equal sorted
data, whatever the thread count; the public folder's CSV and Parquet), the data
dictionary without its timestamp, and the manifest's descriptive fields (release,
audience, tables and row counts, agreements, clauses, the public tables' descriptions,
policies and populations). It leaves out the run, the time, the code version and the
as-of day: the same data sent again under a later run is not new data. The DuckDB copy of the release is not
byte-deterministic (DuckDB files carry per-write salts and checksums), so it is not
hashed as content; instead it is checked to hold exactly the Parquet tables.

`settle` decides, after a release is staged, whether it replaces the folder out there:
equal content keeps the old folder byte for byte (nothing is written, nothing is
disclosed again); different content is swapped in and described as rows added and
removed per table against the folder it replaces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.storage import MANIFEST_NAME, StagedFolder, hash_folder, sha256_json

# the manifest fields a reader is told (the public folder's descriptions, policies and
# populations too); run, time, code version and as-of day are not content
CONTENT_FIELDS = ("release", "audience", "tables", "agreements", "clauses", "descriptions", "policies", "populations")
VOLATILE_DICTIONARY_KEYS = ("generated_at",)
# not hashed as content: the DuckDB copy (checked against the Parquet instead) and the
# dictionary's files (its content is hashed without the timestamp)
NOT_CONTENT = (".duckdb", "data_dictionary.json", "data_dictionary.md")


class ContentMismatch(RuntimeError):
    """A release's DuckDB file does not hold the same rows as its Parquet files."""


def content_sha256(manifest: dict, files: dict[str, str], dictionary: dict | None) -> str:
    """The content hash of a release (see the module docstring): its manifest's descriptive
    fields, its data files' hashes (not the DuckDB copy) and its data dictionary without
    the timestamp."""
    content = {k: manifest[k] for k in CONTENT_FIELDS if k in manifest}
    content["files"] = {rel: sha for rel, sha in files.items() if not rel.endswith(NOT_CONTENT)}
    if dictionary is not None:
        content["dictionary"] = {k: v for k, v in dictionary.items() if k not in VOLATILE_DICTIONARY_KEYS}
    return sha256_json(content)


def parquet_tables(folder: Path) -> dict[str, Path]:
    """table -> Parquet file of a release folder (parquet/ in releases, tables/ in the public one)."""
    files = sorted((Path(folder) / "parquet").glob("*.parquet")) + sorted((Path(folder) / "tables").glob("*.parquet"))
    return {p.stem: p for p in files}


def check_duckdb_matches_parquet(con: duckdb.DuckDBPyConnection, alias: str, folder: Path) -> None:
    """Every table of the attached release database `alias` has exactly the rows of its
    Parquet file (as a multiset), and there is no table without a file or file without a table."""
    files = parquet_tables(folder)
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ?", [alias]
        ).fetchall()
    }
    if tables != set(files):
        raise ContentMismatch(f"{folder}: tables {sorted(tables)} but Parquet files {sorted(files)}")
    for table, path in files.items():
        differing = con.execute(
            f"SELECT count(*) FROM ((SELECT * FROM {alias}.main.{table} EXCEPT ALL SELECT * FROM read_parquet(?)) "
            f"UNION ALL (SELECT * FROM read_parquet(?) EXCEPT ALL SELECT * FROM {alias}.main.{table}))",
            [str(path), str(path)],
        ).fetchall()[0][0]
        if differing:
            raise ContentMismatch(f"{folder}: {table} differs between the DuckDB file and its Parquet file")


def describe_changes(changes: dict | None) -> str:
    """A disclosure entry's `changes` in words (the build's log, the governance report):
    what differs from the recipient's previous copy, or which entry sent the same content."""
    if not changes:
        return ""
    if "resend_of" in changes:
        return f"same content as #{changes['resend_of']}"
    tables = changes.get("tables") or {}
    if not tables:
        return "first copy" if not changes.get("previous_content_sha256") else "same rows, other files"
    return "; ".join(f"{t}: +{c['rows_added']:,} / -{c['rows_removed']:,} rows" for t, c in sorted(tables.items()))


def table_changes(old: Path | None, new: Path) -> dict[str, dict[str, int]]:
    """Per table, rows in `new` not in `old` and rows in `old` not in `new` (multisets),
    from the two folders' Parquet files; a table only on one side counts all its rows
    (with no `old` folder, every row is added)."""
    before, after = (parquet_tables(old) if old is not None else {}), parquet_tables(new)
    out: dict[str, dict[str, int]] = {}
    con = duckdb.connect()

    def rows(path: Path) -> int:
        return con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchall()[0][0]

    def rows_not_in(path: Path, other: Path) -> int:
        return con.execute(
            "SELECT count(*) FROM (SELECT * FROM read_parquet(?) EXCEPT ALL SELECT * FROM read_parquet(?))",
            [str(path), str(other)],
        ).fetchall()[0][0]

    try:
        for table in sorted(set(before) | set(after)):
            if table not in before:
                out[table] = {"rows_added": rows(after[table]), "rows_removed": 0}
                continue
            if table not in after:
                out[table] = {"rows_added": 0, "rows_removed": rows(before[table])}
                continue
            a, b = after[table], before[table]
            try:
                added, removed = rows_not_in(a, b), rows_not_in(b, a)
            except duckdb.Error:  # the columns changed: every row is new
                added, removed = rows(a), rows(b)
            if added or removed:
                out[table] = {"rows_added": added, "rows_removed": removed}
    finally:
        con.close()
    return out


@dataclass
class Settled:
    """What became of a staged release: the manifest now out there, whether the folder
    was left as it was, and (when replaced) what changed against the folder before."""

    manifest: dict
    unchanged: bool
    changes: dict = field(default_factory=dict)


def published_manifest(folder: Path) -> dict | None:
    """The manifest of the release at `folder` if its files are exactly those the manifest
    lists (an edited or half-removed folder is not trusted as the release out there)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if not isinstance(manifest, dict) or hash_folder(folder) != manifest.get("files"):
        return None
    return manifest


def settle(staged: StagedFolder) -> Settled:
    """Keep the published folder when the staged one has the same content, else swap the
    staged one in; `changes` names the tables whose rows differ from the folder replaced."""
    previous = published_manifest(staged.final)
    content = staged.manifest.get("content_sha256")
    if previous is not None and content and previous.get("content_sha256") == content:
        staged.discard()
        return Settled(previous, unchanged=True)
    changes: dict = {"previous_content_sha256": previous.get("content_sha256") if previous else None}
    changes["tables"] = table_changes(staged.final if previous is not None else None, staged.path)
    try:
        staged.swap_in()
    except BaseException:
        staged.discard()
        raise
    return Settled(staged.manifest, unchanged=False, changes=changes)
