"""Write the built release tables out of the warehouse into per-audience folders.

- SLEDS release: `RELEASES/sleds/` (sleds_release.duckdb, parquet/<table>.parquet,
  manifest.json) from schema `release_sleds`.
- Institution data marts: `RELEASES/institutions/<code>/` holding only that
  institution's rows of schema `release_institution`; institutions whose agreement is
  not active get no mart (and lose an earlier one).

Each release is written to a staging folder, verified, then swapped in whole, so a
failed export never leaves a half-written release where a reader could take it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib import paths
from orchestration.lib.governance.data_dictionary import write_data_dictionary

SLEDS_SCHEMA = "release_sleds"
INSTITUTION_SCHEMA = "release_institution"


class ReleaseError(RuntimeError):
    """A release failed verification and was not published."""


@dataclass
class ReleaseManifest:
    release: str
    audience: str
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    clauses: list[str] = field(default_factory=list)
    agreements: list[str] = field(default_factory=list)
    as_of: str = ""
    run_id: str = ""
    code_version: str = ""
    created_at: str = ""

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["folder"] = str(self.folder)
        return d


def code_version() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(paths.REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tables(con, schema: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'wh' AND table_schema = ? "
            "ORDER BY 1",
            [schema],
        ).fetchall()
    ]


def _write(con, folder: Path, selects: dict[str, tuple[str, list]], manifest: ReleaseManifest) -> None:
    """Create folder/<release>.duckdb and parquet/<table>.parquet from the SELECTs."""
    folder.mkdir(parents=True)
    (folder / "parquet").mkdir()
    db = folder / f"{manifest.release}.duckdb"
    con.execute(f"ATTACH '{db}' AS rel")
    try:
        for table, (sql, params) in selects.items():
            con.execute(f"CREATE TABLE rel.main.{table} AS {sql}", params)
            manifest.tables[table] = con.execute(f"SELECT count(*) FROM rel.main.{table}").fetchall()[0][0]
            con.execute(f"COPY rel.main.{table} TO '{folder / 'parquet' / (table + '.parquet')}' (FORMAT parquet)")
    finally:
        con.execute("DETACH rel")


def _finish(folder: Path, manifest: ReleaseManifest) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        manifest.files[str(path.relative_to(folder))] = _sha256(path)
    (folder / "manifest.json").write_text(json.dumps(manifest.as_dict(), indent=2, default=str))


def _swap_in(staged: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    staged.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def export_sleds_release(
    warehouse: Path, releases: Path, *, run_id: str, as_of: dt.date, clauses: list[str]
) -> ReleaseManifest:
    staging = releases / f".staging-{uuid.uuid4().hex}"
    manifest = ReleaseManifest(
        "sleds_release", "sleds", releases / "sleds", clauses=clauses, as_of=str(as_of), run_id=run_id,
        code_version=code_version(), created_at=dt.datetime.now(dt.UTC).isoformat(),
    )  # fmt: skip
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        tables = _tables(con, SLEDS_SCHEMA)
        if not tables:
            raise ReleaseError("the warehouse has no release_sleds tables: run the marts (dbt) first")
        _write(con, staging / "sleds", {t: (f"SELECT * FROM wh.{SLEDS_SCHEMA}.{t}", []) for t in tables}, manifest)
        manifest.agreements = sorted(
            {
                r[0]
                for t in tables
                if "agreement_id" in [c[0] for c in con.execute(f"DESCRIBE wh.{SLEDS_SCHEMA}.{t}").fetchall()]
                for r in con.execute(
                    f"SELECT DISTINCT agreement_id FROM wh.{SLEDS_SCHEMA}.{t} WHERE agreement_id IS NOT NULL"
                ).fetchall()
            }
        )
    finally:
        con.close()
    # researchers get the column definitions with the data (from the dbt docs)
    write_data_dictionary(staging / "sleds", SLEDS_SCHEMA)
    _finish(staging / "sleds", manifest)
    _swap_in(staging / "sleds", releases / "sleds")
    shutil.rmtree(staging, ignore_errors=True)
    return manifest


def export_institution_marts(
    warehouse: Path, releases: Path, *, run_id: str, as_of: dt.date, clauses: list[str]
) -> tuple[list[ReleaseManifest], dict[str, str]]:
    """One mart per institution with an active agreement; returns (manifests, skipped
    institution -> reason)."""
    manifests: list[ReleaseManifest] = []
    skipped: dict[str, str] = {}
    root = releases / "institutions"
    staging = releases / f".staging-{uuid.uuid4().hex}"
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        tables = _tables(con, INSTITUTION_SCHEMA)
        statuses = dict(con.execute("SELECT institution_code, status FROM wh.governance.agreements").fetchall())
        present = sorted(
            {
                r[0]
                for t in tables
                for r in con.execute(f"SELECT DISTINCT institution_code FROM wh.{INSTITUTION_SCHEMA}.{t}").fetchall()
            }
        )
        for code in present:
            status = statuses.get(code, "missing")
            if status != "active":
                skipped[code] = f"agreement {status}"
                continue
            manifest = ReleaseManifest(
                "institution_mart", f"institution:{code}", root / code, clauses=clauses, as_of=str(as_of),
                run_id=run_id, code_version=code_version(), created_at=dt.datetime.now(dt.UTC).isoformat(),
            )  # fmt: skip
            selects = {
                t: (f"SELECT * FROM wh.{INSTITUTION_SCHEMA}.{t} WHERE institution_code = ?", [code]) for t in tables
            }
            _write(con, staging / code, selects, manifest)
            # verify before publishing: an institution sees its own students only
            con.execute(f"ATTACH '{staging / code / 'institution_mart.duckdb'}' AS chk (READ_ONLY)")
            try:
                for t in tables:
                    others = con.execute(
                        f"SELECT count(*) FROM chk.main.{t} WHERE institution_code IS DISTINCT FROM ?", [code]
                    ).fetchall()[0][0]
                    if others:
                        raise ReleaseError(f"institution mart {code}: {t} holds {others} rows of other institutions")
            finally:
                con.execute("DETACH chk")
            manifest.agreements = [a for a, in con.execute(
                "SELECT agreement_id FROM wh.governance.agreements WHERE institution_code = ?", [code]
            ).fetchall()]  # fmt: skip
            write_data_dictionary(staging / code, INSTITUTION_SCHEMA)
            _finish(staging / code, manifest)
            manifests.append(manifest)
    finally:
        con.close()
    root.mkdir(parents=True, exist_ok=True)
    for manifest in manifests:
        code = manifest.audience.split(":", 1)[1]
        _swap_in(staging / code, root / code)
    # an institution no longer entitled loses its earlier mart
    published = {m.audience.split(":", 1)[1] for m in manifests}
    for old in root.iterdir():
        if old.is_dir() and old.name not in published:
            shutil.rmtree(old)
    shutil.rmtree(staging, ignore_errors=True)
    return manifests, skipped
