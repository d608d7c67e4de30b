"""Write the built release tables out of the warehouse into per-audience folders.

- SLEDS release: `RELEASES/sleds/` (sleds_release.duckdb, parquet/<table>.parquet,
  manifest.json) from schema `release_sleds`.
- Institution data marts: `RELEASES/institutions/<code>/` holding only that
  institution's rows of schema `release_institution`; institutions whose agreement is
  not active get no mart (and lose an earlier one).

Each release is written to a staging folder, verified, then swapped in whole, so a
failed export never leaves a half-written release where a reader could take it. Rows are
written sorted, so equal data gives equal Parquet bytes; a staged release whose content
equals the one out there is discarded and the published folder stays byte for byte
(orchestration/lib/releases/content.py)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.governance.data_dictionary import write_data_dictionary
from orchestration.lib.releases.content import Settled, check_duckdb_matches_parquet, content_sha256, settle
from orchestration.lib.storage import RELEASE_INSTITUTION as INSTITUTION_SCHEMA
from orchestration.lib.storage import RELEASE_SLEDS as SLEDS_SCHEMA
from orchestration.lib.storage import (
    StagedFolder,
    attach,
    stage_release_folder,
    warehouse_attached,
)


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
    content_sha256: str = ""  # of the data, not of when it was written (releases/content.py)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}  # _dictionary: staging only
        d["folder"] = str(self.folder)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ReleaseManifest:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "folder": Path(known["folder"])})


@dataclass
class ExportedRelease:
    """A release as it stands after an export: its manifest, whether the folder out there
    was kept because its content is the same, and what changed when it was replaced."""

    manifest: ReleaseManifest
    unchanged: bool
    changes: dict = field(default_factory=dict)

    @classmethod
    def of(cls, settled: Settled) -> ExportedRelease:
        return cls(ReleaseManifest.from_dict(settled.manifest), settled.unchanged, settled.changes)


def code_version() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(paths.REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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
    """Create folder/<release>.duckdb and parquet/<table>.parquet from the SELECTs, rows
    sorted on every column (equal data, equal Parquet bytes), then check the database
    holds exactly the Parquet rows (the database file itself is not byte-deterministic)."""
    (folder / "parquet").mkdir()
    attach(con, folder / f"{manifest.release}.duckdb", "rel", read_only=False)
    try:
        for table, (sql, params) in selects.items():
            con.execute(f"CREATE TABLE rel.main.{table} AS SELECT * FROM ({sql}) ORDER BY ALL", params)
            manifest.tables[table] = con.execute(f"SELECT count(*) FROM rel.main.{table}").fetchall()[0][0]
            target = folder / "parquet" / f"{table}.parquet"
            con.execute(f"COPY (SELECT * FROM rel.main.{table} ORDER BY ALL) TO '{target}' (FORMAT parquet)")
        check_duckdb_matches_parquet(con, "rel", folder)
    finally:
        con.execute("DETACH rel")


def _with_files(manifest: ReleaseManifest):
    """The manifest's content once storage has hashed the release's files (the writer left
    the data dictionary it wrote on the manifest, as `_dictionary`)."""

    def content(files: dict[str, str]) -> dict:
        manifest.files = files
        manifest.content_sha256 = content_sha256(manifest.as_dict(), files, getattr(manifest, "_dictionary", None))
        return manifest.as_dict()

    return content


def export_sleds_release(
    warehouse: Path, releases: Path, *, run_id: str, as_of: dt.date, clauses: list[str]
) -> ExportedRelease:
    manifest = ReleaseManifest(
        "sleds_release", "sleds", releases / "sleds", clauses=clauses, as_of=str(as_of), run_id=run_id,
        code_version=code_version(), created_at=dt.datetime.now(dt.UTC).isoformat(),
    )  # fmt: skip

    def write(folder: Path) -> None:
        with warehouse_attached(warehouse, read_only=True) as con:
            tables = _tables(con, SLEDS_SCHEMA)
            if not tables:
                raise ReleaseError("the warehouse has no release_sleds tables: run the marts (dbt) first")
            _write(con, folder, {t: (f"SELECT * FROM wh.{SLEDS_SCHEMA}.{t}", []) for t in tables}, manifest)
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
        # researchers get the column definitions with the data (from the dbt docs), and the
        # manifest's audience, clauses and row counts: the manifest itself is written later
        manifest._dictionary = write_data_dictionary(folder, SLEDS_SCHEMA, release=manifest.as_dict())

    return ExportedRelease.of(settle(stage_release_folder(releases / "sleds", write, _with_files(manifest))))


def export_institution_marts(
    warehouse: Path, releases: Path, *, run_id: str, as_of: dt.date, clauses: list[str]
) -> tuple[list[ExportedRelease], dict[str, str]]:
    """One mart per institution with an active agreement; returns (the marts as they stand,
    skipped institution -> reason). Every mart is written and verified before any is
    swapped in; a mart whose content is unchanged keeps its published folder."""
    manifests: list[ReleaseManifest] = []
    staged: list[StagedFolder] = []
    skipped: dict[str, str] = {}
    root = releases / "institutions"
    try:
        with warehouse_attached(warehouse, read_only=True) as con:
            tables = _tables(con, INSTITUTION_SCHEMA)
            statuses = dict(con.execute("SELECT institution_code, status FROM wh.governance.agreements").fetchall())
            present = sorted(
                {
                    r[0]
                    for t in tables
                    for r in con.execute(
                        f"SELECT DISTINCT institution_code FROM wh.{INSTITUTION_SCHEMA}.{t}"
                    ).fetchall()
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
                staged.append(
                    stage_release_folder(
                        root / code,
                        _institution_writer(con, code, tables, manifest),
                        _with_files(manifest),
                        staging_parent=releases,  # not under institutions/, where readers list the marts
                    )
                )
                manifests.append(manifest)
    except BaseException:
        for folder in staged:
            folder.discard()
        raise
    root.mkdir(parents=True, exist_ok=True)
    exported = []
    for i, folder in enumerate(staged):
        try:
            exported.append(ExportedRelease.of(settle(folder)))
        except BaseException:
            for rest in staged[i + 1 :]:
                rest.discard()
            raise
    # an institution no longer entitled loses its earlier mart
    published = {m.audience.split(":", 1)[1] for m in manifests}
    for old in root.iterdir():
        if old.is_dir() and old.name not in published:
            shutil.rmtree(old)
    return exported, skipped


def _institution_writer(con, code: str, tables: list[str], manifest: ReleaseManifest):
    def write(folder: Path) -> None:
        selects = {t: (f"SELECT * FROM wh.{INSTITUTION_SCHEMA}.{t} WHERE institution_code = ?", [code]) for t in tables}
        _write(con, folder, selects, manifest)
        # verify before publishing: an institution sees its own students only
        attach(con, folder / "institution_mart.duckdb", "chk", read_only=True)
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
        manifest._dictionary = write_data_dictionary(folder, INSTITUTION_SCHEMA, release=manifest.as_dict())

    return write
