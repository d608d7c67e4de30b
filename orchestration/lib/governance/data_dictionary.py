"""The data dictionary shipped with each release: every table and column of the release
with its type and the description written next to the dbt model (dbt docs), as
`data_dictionary.json` and `data_dictionary.md` in the release folder.

`write_data_dictionary(release_folder, schema, release=...)` takes the dbt schema the
release was built from (`release_sleds`, `release_institution`) or `public` (the
suppressed summary tables, whose columns are fixed by the publish stage), and the facts of
the release's manifest: its audience, the agreement clauses it falls under and each
table's rows. A release's manifest is written after its files are hashed, the dictionary
among them, so the writer hands those facts over; without them they are read from the
folder's manifest.json if there is one (an extract writes it first), else left out."""

import datetime as dt
import json
from functools import cache
from pathlib import Path

from orchestration.lib.templating import text_environment

_SEE = "See docs/suppression.md."
PUBLIC_COLUMNS = {
    "table_id": ("varchar", "The summary table (seeds/publish_tables.csv)."),
    "population": ("varchar", "The population the table counts."),
    "policy": ("varchar", "The suppression policy applied (seeds/publish_tables.csv)."),
    "measure": ("varchar", "count or rate."),
    "outcome": ("varchar", "The outcome a rate is of, if any."),
    "level": ("varchar", "Level of the cell (state, district, school, institution, ...)."),
    "unit_id": ("varchar", "The unit at that level."),
    "parent_unit_id": ("varchar", "The unit the cell's unit belongs to."),
    "grouping": ("varchar", "The subgroup family."),
    "category": ("varchar", "The subgroup within the family."),
    "children_complete": ("boolean", _SEE),
    "partitions_total": ("boolean", _SEE),
    "status": ("varchar", "published, recoded or suppressed: follows from display alone."),
    "display": ("varchar", "What is shown: a count, a whole percentage, a percentage range, or * when suppressed."),
    "n_display": ("varchar", "The group size behind a percentage (a count or *; blank where the policy shows none)."),
}


def _publish_descriptions() -> dict[str, str]:
    import csv

    from orchestration.lib import paths

    seed = paths.SEEDS_DIR / "publish_tables.csv"
    if not seed.exists():
        return {}
    with seed.open(newline="", encoding="utf-8") as handle:
        return {row["table_id"]: row.get("description", "") for row in csv.DictReader(handle)}


def _models(schema: str, manifest_path: Path | None) -> dict[str, dict]:
    if manifest_path is None:
        from orchestration.lib.dbt_prepare import ensure_manifest

        manifest_path = ensure_manifest()
    manifest = json.loads(Path(manifest_path).read_text())
    out = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["schema"] == schema:
            out[node["name"]] = {
                "description": node.get("description", ""),
                "columns": [
                    {"name": c["name"], "data_type": c.get("data_type") or "", "description": c.get("description", "")}
                    for c in node["columns"].values()
                ],
            }
    return out


def _clauses(ids: list[str]) -> list[dict[str, str]]:
    """The clauses a release falls under, each with its title (seeds/agreement_clauses.csv)."""
    from orchestration.lib.agreements.policy import policy

    known = policy().clauses
    return [{"clause": c, "title": known[c].title if c in known else ""} for c in ids]


def build_data_dictionary(
    release_folder: Path, schema: str, manifest_path: Path | None = None, release: dict | None = None
) -> dict:
    """The dictionary of the release in `release_folder`; `release` is its manifest's facts
    (release, audience, clauses, tables -> rows), else the folder's manifest.json."""
    folder = Path(release_folder)
    release_manifest = dict(release or {})
    if release is None and (folder / "manifest.json").exists():
        release_manifest = json.loads((folder / "manifest.json").read_text())
    rows = release_manifest.get("tables", {})
    if schema == "public":
        tables = {}
        described = _publish_descriptions()
        for name in sorted(rows) or sorted(p.stem for p in (folder / "tables").glob("*.parquet")):
            tables[name] = {
                "description": described.get(name, "Suppressed summary table (docs/suppression.md)."),
                "columns": [{"name": c, "data_type": t, "description": d} for c, (t, d) in PUBLIC_COLUMNS.items()],
            }
    else:
        models = _models(schema, manifest_path)
        wanted = sorted(rows) if rows else sorted(models)
        tables = {name: models[name] for name in wanted if name in models}
    for name, table in tables.items():
        table["rows"] = rows.get(name)
    dictionary = {
        "release": release_manifest.get("release", folder.name),
        "audience": release_manifest.get("audience", ""),
        "schema": schema,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": "dbt model descriptions (dbt_project/models/**/*.yml)" if schema != "public" else "publish stage",
        "tables": tables,
    }
    if "clauses" in release_manifest:  # absent, the key is too: the public folder's reader model lists its keys
        dictionary["clauses"] = _clauses(list(release_manifest["clauses"]))
    return dictionary


def _one_line_cell(text: str) -> str:
    """A description inside a markdown table row: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


@cache
def _markdown_template():
    env = text_environment("orchestration.lib.governance")
    env.filters["cell"] = _one_line_cell
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env.get_template("data_dictionary.md.j2")


def render_markdown(dictionary: dict) -> str:
    return _markdown_template().render(dictionary)


def write_data_dictionary(
    release_folder: Path, schema: str, manifest_path: Path | None = None, release: dict | None = None
) -> dict:
    """Write data_dictionary.json and data_dictionary.md into the release folder; returns
    the dictionary. Call it before the release's file hashes are taken, so both files
    are listed in its manifest, with `release` the manifest's facts as they will be
    written (build_data_dictionary)."""
    folder = Path(release_folder)
    dictionary = build_data_dictionary(folder, schema, manifest_path, release)
    (folder / "data_dictionary.json").write_text(json.dumps(dictionary, indent=2))
    (folder / "data_dictionary.md").write_text(render_markdown(dictionary))
    return dictionary
