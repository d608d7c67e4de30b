"""The public folder as a reader gets it: every file, every column, and what each tells.

The audit's input is the folder that will be published, not the engine's output. This
module is the reader model: it names every file and column a public folder may hold and
states what a reader learns from it. Anything it does not know (an extra file, an extra
column, a manifest key, a status that says more than the display) refuses the release:
the audit fails closed. What passes is read into one frame of published cells, exactly
what `audit_release` bounds.

    view = read_public_folder(staging)          # raises FolderRefused
    result = audit_folder(staging, prior_releases=[...], tables=tables)

What a reader is assumed to know beyond the folder: the policies' thresholds
(seeds/suppression_policies.csv, public), the population relations between tables
(seeds/publish_relations.csv, public) and every earlier publication. Out of scope: what a
reader knows from outside (a neighbour's own record is the insider mode of the audit).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from orchestration.lib.disclosure.audit.reader import SUPPRESSED, AuditError, read_count, read_percent
from orchestration.lib.reference import read_seed

# table column -> what a reader learns from it
TABLE_COLUMNS: dict[str, str] = {
    "table_id": "which table the row belongs to; equals the file name",
    "population": "which students the table counts: tables of one population share students, and "
    "seeds/publish_relations.csv relates populations (subset, equality)",
    "policy": "the suppression policy; its thresholds are public (seeds/suppression_policies.csv)",
    "measure": "count or rate",
    "outcome": "what a rate's numerator counts: rate tables of one population and outcome share numerators",
    "level": "the level of the unit (state, district, school, sector, institution)",
    "unit_id": "the unit",
    "parent_unit_id": "the unit it belongs to: a parent's group is the sum of its children's",
    "grouping": "the subgroup family: a unit's categories of one grouping sum to its 'all' group",
    "category": "the subgroup within the family",
    "children_complete": "whether all of the parent's children are listed (else children sum to at most it)",
    "partitions_total": "whether the grouping's categories sum to the total (else to at most it)",
    "display": "the value: a whole count, a whole percentage, a coded percentage range, or '*' (hidden)",
    "n_display": "the group size behind the value: a whole count or '*'; blank where the policy shows no "
    "counts behind percentages; equal to display in count tables",
    "status": "published, recoded or suppressed: a function of display (checked), nothing more",
}
UNDESCRIBED = "Suppressed summary table (docs/suppression.md)."  # the dictionary's text for a table without a seed row
BOOLEAN_COLUMNS = ("children_complete", "partitions_total")
MEASURES = ("count", "rate")

# manifest key -> what it tells (each is checked against the tables or the public seeds)
MANIFEST_KEYS: dict[str, str] = {
    "release": "the release's name",
    "audience": "public",
    "folder": "where the folder was written",
    "tables": "rows per table (checked against the files)",
    "descriptions": "each table's description (checked against seeds/publish_tables.csv)",
    "policies": "each table's policy (checked against the tables)",
    "populations": "each table's population (checked against the tables)",
    "policy_version": "hash of the public policy seeds",
    "clauses": "the agreement clauses the release is made under",
    "files": "SHA-256 of every other file (checked)",
    "as_of": "the agreements' as-of date",
    "run_id": "the build run",
    "code_version": "the code's version",
    "created_at": "when the release was made",
    "content_sha256": "SHA-256 of the files and fields above (public content only: a reader can recompute it)",
}
DICTIONARY_KEYS = ("release", "audience", "schema", "generated_at", "source", "tables")
DICTIONARY_TABLE_KEYS = ("description", "columns", "rows")
FIXED_FILES = ("manifest.json", "data_dictionary.json", "data_dictionary.md")
_TABLE_FILE = re.compile(r"^tables/(?P<id>[a-z0-9_]+)\.(?P<ext>csv|parquet)$")
# canonical spellings only: a leading zero, a space or a second marker would be a channel of its own
_NUM = r"(?:0|[1-9]\d{0,2})"
_COUNT = re.compile(r"^(?:0|[1-9]\d*)$")
_WHOLE_PERCENT = re.compile(rf"^{_NUM}%$")
_PERCENT = re.compile(rf"^(?:{_NUM}|<={_NUM}|>={_NUM}|{_NUM}-{_NUM})%$")


def table_specs() -> dict[str, dict]:
    """The published tables' seed rows (their descriptions are public text)."""
    return {row["table_id"]: row for row in read_seed("publish_tables")}


class FolderRefused(AuditError):
    """The folder holds something the reader model does not account for: nothing may be published."""


@dataclass
class PublicView:
    """What a reader reads from a public folder."""

    cells: pd.DataFrame  # every row of every table, the table columns as strings (booleans as bool)
    manifest: dict
    files: list[str]


def status_of(display: str) -> str:
    """The only status a display admits."""
    if display == SUPPRESSED:
        return "suppressed"
    if _COUNT.match(display) or _WHOLE_PERCENT.match(display):
        return "published"
    return "recoded"


def read_public_folder(folder: Path, policies: dict | None = None) -> PublicView:
    """Read `folder` as a reader would; raise FolderRefused for anything unaccounted for."""
    from orchestration.lib.disclosure.policy import load_policies

    folder = Path(folder)
    policies = policies if policies is not None else load_policies()
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    stray = [p for p in folder.rglob("*") if p.is_dir() and str(p.relative_to(folder)) != "tables"]
    if stray:
        raise FolderRefused(f"folder {folder.name}: unknown folder {stray[0].relative_to(folder)!s}")
    tables: dict[str, set[str]] = {}
    for rel in files:
        match = _TABLE_FILE.match(rel)
        if match:
            tables.setdefault(match["id"], set()).add(match["ext"])
        elif rel not in FIXED_FILES:
            raise FolderRefused(f"unknown file {rel!r}: the reader model does not say what it tells")
    for rel in FIXED_FILES:
        if rel not in files:
            raise FolderRefused(f"the folder lacks {rel}")
    for table_id, exts in sorted(tables.items()):
        if exts != {"csv", "parquet"}:
            raise FolderRefused(f"table {table_id!r} is not shipped as both csv and parquet")
    frames = [_read_table(folder, table_id, policies) for table_id in sorted(tables)]
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TABLE_COLUMNS))
    manifest = _check_manifest(folder, files, cells)
    _check_dictionary(folder, {str(k): int(v) for k, v in cells.groupby("table_id").size().items()})
    return PublicView(cells, manifest, files)


def _read_table(folder: Path, table_id: str, policies: dict) -> pd.DataFrame:
    where = f"tables/{table_id}"
    parquet = pd.read_parquet(folder / "tables" / f"{table_id}.parquet")
    csv = pd.read_csv(folder / "tables" / f"{table_id}.csv", dtype=str, keep_default_na=False)
    for name, frame in (("parquet", parquet), ("csv", csv)):
        unknown = [c for c in frame.columns if c not in TABLE_COLUMNS]
        if unknown:
            raise FolderRefused(f"{where}.{name}: unknown column(s) {unknown}: the reader model does not say "
                                "what they tell")  # fmt: skip
        missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
        if missing:
            raise FolderRefused(f"{where}.{name}: lacks column(s) {missing}")
    cells = parquet[list(TABLE_COLUMNS)].copy()
    for col in BOOLEAN_COLUMNS:
        if not cells[col].map(lambda v: isinstance(v, bool) or str(v) in ("True", "False")).all():
            raise FolderRefused(f"{where}: column {col} holds values other than true/false")
        cells[col] = cells[col].map(lambda v: v if isinstance(v, bool) else str(v) == "True")
    text_cols = [c for c in TABLE_COLUMNS if c not in BOOLEAN_COLUMNS]
    cells[text_cols] = cells[text_cols].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v))
                                            else str(v))  # fmt: skip
    as_csv = csv[list(TABLE_COLUMNS)].reset_index(drop=True)
    as_parquet = cells.astype(str).reset_index(drop=True)
    if len(as_csv) != len(as_parquet) or not (as_csv.values == as_parquet.values).all():
        raise FolderRefused(f"{where}: the csv and the parquet file differ")
    if (cells["table_id"] != table_id).any():
        raise FolderRefused(f"{where}: rows name another table")
    for col in ("population", "policy", "measure", "outcome"):
        if cells[col].nunique() > 1:
            raise FolderRefused(f"{where}: column {col} varies within the table")
    if not set(cells["measure"]) <= set(MEASURES):
        raise FolderRefused(f"{where}: measure is not one of {MEASURES}")
    unknown = set(cells["policy"]) - set(policies)
    if unknown:
        raise FolderRefused(f"{where}: policy {sorted(unknown)} is not a public policy")
    rate = cells["measure"] == "rate"
    for i, (display, n_display, measure, policy) in enumerate(
        zip(cells["display"], cells["n_display"], cells["measure"], cells["policy"], strict=True)
    ):
        cell = f"{where} row {i + 1}"
        if measure == "count":
            _canonical(display, _COUNT, cell)
            if n_display != display:
                raise FolderRefused(f"{cell}: n_display {n_display!r} differs from the count shown")
        else:
            _canonical(display, _PERCENT, cell)
            if policies[policy].counts_with_rates:
                _canonical(n_display, _COUNT, cell)
            elif n_display != "":
                raise FolderRefused(f"{cell}: policy {policy} shows no counts behind percentages, "
                                    f"yet n_display is {n_display!r}")  # fmt: skip
    derived = cells["display"].map(status_of)
    wrong = cells["status"] != derived
    if wrong.any():
        i = int(wrong.to_numpy().nonzero()[0][0])
        raise FolderRefused(f"{where} row {i + 1}: status {cells['status'].iat[i]!r} says more than the display "
                            f"{cells['display'].iat[i]!r} (it admits only {derived.iat[i]!r})")  # fmt: skip
    if rate.any() and not cells.loc[rate, "outcome"].ne("").all():
        raise FolderRefused(f"{where}: a rate table needs an outcome")
    return cells


def _canonical(text: str, form: re.Pattern, where: str) -> None:
    """`text` is '*' or the one spelling of a value; anything else refuses the folder."""
    if text == SUPPRESSED:
        return
    if not form.match(text):
        raise FolderRefused(f"{where}: {text!r} is neither '*' nor a value in its one published spelling")
    try:
        (read_count if form is _COUNT else read_percent)(text, where)
    except AuditError as bad:
        raise FolderRefused(str(bad)) from None


def _check_manifest(folder: Path, files: list[str], cells: pd.DataFrame) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
    if unknown:
        raise FolderRefused(f"manifest.json: unknown key(s) {unknown}: the reader model does not say what they tell")
    for key in ("release", "audience", "folder", "policy_version", "as_of", "run_id", "code_version", "created_at"):
        if key in manifest and not isinstance(manifest[key], str):
            raise FolderRefused(f"manifest.json: {key} must be a string")
    if "content_sha256" in manifest and not re.fullmatch(r"[0-9a-f]{64}", str(manifest["content_sha256"])):
        raise FolderRefused("manifest.json: content_sha256 must be a SHA-256 (64 hex digits)")
    if manifest.get("audience", "public") != "public":
        raise FolderRefused("manifest.json: audience is not public")
    if not all(isinstance(c, str) for c in manifest.get("clauses", [])):
        raise FolderRefused("manifest.json: clauses must be strings")
    by_table = cells.groupby("table_id")
    rows = {str(k): int(v) for k, v in by_table.size().items()}
    if manifest.get("tables", rows) != rows:
        raise FolderRefused("manifest.json: tables do not match the rows of the table files")
    for key, col in (("policies", "policy"), ("populations", "population")):
        shown = {str(k): str(v) for k, v in by_table[col].first().items()}
        if manifest.get(key, shown) != shown:
            raise FolderRefused(f"manifest.json: {key} do not match the tables")
    specs = table_specs()
    for table_id, text in (manifest.get("descriptions") or {}).items():
        if table_id not in rows or text not in ("", specs.get(table_id, {}).get("description")):
            raise FolderRefused(f"manifest.json: description of {table_id!r} is not the published seed text")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise FolderRefused("manifest.json: files (the SHA-256 of every file) missing")
    others = [f for f in files if f != "manifest.json"]
    if sorted(listed) != others:
        raise FolderRefused(f"manifest.json: files lists {sorted(set(listed) ^ set(others))} wrongly")
    for rel, sha in listed.items():
        if hashlib.sha256((folder / rel).read_bytes()).hexdigest() != sha:
            raise FolderRefused(f"manifest.json: {rel} does not match its SHA-256")
    return manifest


def _check_dictionary(folder: Path, rows: dict[str, int]) -> None:
    tables = sorted(rows)
    from orchestration.lib.governance.data_dictionary import PUBLIC_COLUMNS, render_markdown

    dictionary = json.loads((folder / "data_dictionary.json").read_text())
    if sorted(dictionary) != sorted(DICTIONARY_KEYS) or sorted(dictionary["tables"]) != tables:
        raise FolderRefused("data_dictionary.json: keys or tables other than the reader model's")
    if dictionary["schema"] != "public" or dictionary["source"] != "publish stage":
        raise FolderRefused("data_dictionary.json: not the publish stage's dictionary of the public schema")
    if not all(isinstance(dictionary[k], str) for k in ("release", "audience", "generated_at")):
        raise FolderRefused("data_dictionary.json: release, audience and generated_at must be strings")
    specs = table_specs()
    for name, table in dictionary["tables"].items():
        if sorted(table) != sorted(DICTIONARY_TABLE_KEYS):
            raise FolderRefused(f"data_dictionary.json: {name} has keys other than {DICTIONARY_TABLE_KEYS}")
        if table["rows"] is not None and table["rows"] != rows.get(name):
            raise FolderRefused(f"data_dictionary.json: rows of {name} do not match its table")
        if table["description"] != specs.get(name, {}).get("description", UNDESCRIBED):
            raise FolderRefused(f"data_dictionary.json: description of {name} is not the published seed text")
        columns = [(c["name"], c["data_type"], c["description"]) for c in table["columns"]]
        expected = [(c, t, d) for c, (t, d) in PUBLIC_COLUMNS.items()]
        if sorted(columns) != sorted(expected) or {c[0] for c in columns} != set(TABLE_COLUMNS):
            raise FolderRefused(f"data_dictionary.json: columns of {name} are not the reader model's")
    if (folder / "data_dictionary.md").read_text() != render_markdown(dictionary):
        raise FolderRefused("data_dictionary.md is not the rendering of data_dictionary.json")


def audit_folder(folder: Path, prior_releases=(), tables=None, policies=None, **kwargs):
    """Read `folder` as a reader would (fail closed) and audit what it shows.

    Returns (PublicView, AuditResult). Raises FolderRefused before any audit when the
    folder holds anything the reader model does not account for."""
    from orchestration.lib.disclosure.audit import audit_release

    view = read_public_folder(folder, policies)
    result = audit_release(view.cells, prior_releases=list(prior_releases), tables=tables, policies=policies,
                           **kwargs)  # fmt: skip
    return view, result
