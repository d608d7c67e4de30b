"""Project extracts: a copy of (some of) the SLEDS release for one approved research
project, with project-scoped IDs in place of research IDs (HMAC-SHA256 with the project's
key, orchestration/lib/identity/project_ids), so two projects' files cannot be joined
with each other or with the release. Each extract is written with its own manifest and
data dictionary and recorded in the disclosure log (kind `extract`). Rows are written
sorted, so the same release and project give the same Parquet bytes and the same
content hash; an extract whose content was already sent to the same recipient is still
a new copy handed over (a new entry), marked `changes.resend_of` with the earlier entry."""

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib import paths, storage
from orchestration.lib.governance.data_dictionary import render_markdown, write_data_dictionary
from orchestration.lib.governance.disclosure_log import append_disclosure, latest_disclosure
from orchestration.lib.identity.project_ids import load_project_key, project_research_id
from orchestration.lib.releases.content import content_sha256

ID_COLUMN = "research_id"
PROJECT_ID_COLUMN = "project_id"


class ExtractError(RuntimeError):
    """The extract was not written; nothing was recorded."""


@dataclass
class ExtractResult:
    folder: Path
    tables: dict[str, int]
    manifest: dict
    disclosure: dict


def _institutions(agreement_ids: set[str], home: Path) -> list[str]:
    """Institutions behind the agreements whose rows are in the extract (registry in the
    warehouse's governance schema, read-only); the agreement IDs if it is unavailable."""
    warehouse = paths.warehouse_path(home)
    if agreement_ids and warehouse.exists():
        with storage.warehouse(warehouse, read_only=True) as con:
            try:
                mapping = dict(
                    con.execute("SELECT agreement_id, institution_code FROM governance.agreements").fetchall()
                )
            except duckdb.Error:
                mapping = {}
        if mapping:
            return sorted({mapping.get(a, a) for a in agreement_ids})
    return sorted(agreement_ids)


def write_extract(
    project: str,
    out: Path,
    *,
    tables: list[str] | None = None,
    home: Path | None = None,
    recipient: str | None = None,
) -> ExtractResult:
    home = Path(home) if home is not None else paths.sleds_home()
    source = paths.sleds_release_dir(home)
    db = paths.sleds_release_db(home)
    if not db.exists():
        raise ExtractError(f"no SLEDS release at {db}: run `sleds build` first")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExtractError(f"{out} exists and is not empty: extracts are never written over")
    key = load_project_key(project)  # ProjectKeyError names where a key was looked for
    source_manifest = json.loads((source / "manifest.json").read_text()) if (source / "manifest.json").exists() else {}
    run_id = str(uuid.uuid4())
    counts: dict[str, int] = {}
    agreements: set[str] = set()

    def write(staging: Path) -> None:
        with storage.release_reader(db) as con:
            available = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'rel' ORDER BY 1"
                ).fetchall()
            ]
            chosen = tables or available
            unknown = sorted(set(chosen) - set(available))
            if unknown:
                raise ExtractError(f"not in the SLEDS release: {', '.join(unknown)} (tables: {', '.join(available)})")
            columns = {t: [r[0] for r in con.execute(f"DESCRIBE rel.main.{t}").fetchall()] for t in chosen}
            ids: set[str] = set()
            for t in chosen:
                if ID_COLUMN in columns[t]:
                    ids.update(
                        r[0]
                        for r in con.execute(f"SELECT DISTINCT {ID_COLUMN} FROM rel.main.{t}").fetchall()
                        if r[0] is not None
                    )
                if "agreement_id" in columns[t]:
                    agreements.update(
                        r[0]
                        for r in con.execute(
                            f"SELECT DISTINCT agreement_id FROM rel.main.{t} WHERE agreement_id IS NOT NULL"
                        ).fetchall()
                    )
            ordered = sorted(ids)
            crosswalk = pa.table({"rid": ordered, "pid": [project_research_id(r, key) for r in ordered]})
            con.register("crosswalk", crosswalk)
            (staging / "parquet").mkdir()
            for t in chosen:
                select = ", ".join(
                    f"x.pid AS {PROJECT_ID_COLUMN}" if c == ID_COLUMN else f't."{c}"' for c in columns[t]
                )
                join = "LEFT JOIN crosswalk AS x ON x.rid = t.research_id" if ID_COLUMN in columns[t] else ""
                target = staging / "parquet" / f"{t}.parquet"
                con.execute(
                    f"COPY (SELECT {select} FROM rel.main.{t} AS t {join} ORDER BY ALL) TO '{target}' (FORMAT parquet)"
                )
                counts[t] = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchall()[0][0]
            con.unregister("crosswalk")
        # the dictionary takes the release's name and row counts from the manifest: a first
        # copy without hashes, replaced once the files are hashed
        (staging / storage.MANIFEST_NAME).write_text(json.dumps(content({}), indent=2))
        dictionary = write_data_dictionary(staging, storage.RELEASE_SLEDS)
        for table in dictionary["tables"].values():  # the extract's ID column is not a research ID
            for col in table["columns"]:
                if col["name"] == ID_COLUMN:
                    col["name"] = PROJECT_ID_COLUMN
                    col["description"] = (
                        f"Project-scoped pseudonymous ID for project {project}: HMAC-SHA256 of the "
                        "research ID with the project's key; differs between projects."
                    )
        (staging / "data_dictionary.json").write_text(json.dumps(dictionary, indent=2))
        (staging / "data_dictionary.md").write_text(render_markdown(dictionary))
        written["dictionary"] = dictionary

    written: dict = {}

    def content(files: dict[str, str]) -> dict:
        manifest = {
            "release": "project_extract",
            "audience": f"project:{project}",
            "folder": str(out),
            "tables": counts,
            "files": files,
            "clauses": list(source_manifest.get("clauses", [])),
            "agreements": sorted(agreements),
            "as_of": source_manifest.get("as_of", ""),
            "run_id": run_id,
            "code_version": source_manifest.get("code_version", ""),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "source_release": {
                "release": source_manifest.get("release", "sleds_release"),
                "run_id": source_manifest.get("run_id", ""),
                "created_at": source_manifest.get("created_at", ""),
            },
            "id_column": f"{PROJECT_ID_COLUMN} = HMAC-SHA256(project key, research_id), project-scoped",
        }
        manifest["content_sha256"] = content_sha256(manifest, files, written.get("dictionary")) if files else ""
        return manifest

    manifest = storage.write_release_folder(out, write, content)
    recipient = recipient or f"project:{project}"
    earlier = latest_disclosure(home, recipient=recipient, content_sha256=manifest["content_sha256"])
    disclosure = append_disclosure(
        kind="extract",
        recipient=recipient,
        release=f"project_extract:{project}",
        manifest=manifest,
        clauses=manifest["clauses"],
        institutions=_institutions(agreements, home),
        run_id=run_id,
        home=home,
        changes={"resend_of": earlier["seq"]} if earlier else None,
    )
    return ExtractResult(out, counts, manifest, disclosure)
