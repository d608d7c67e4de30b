"""The public release: suppress every summary table together, write the folder a reader
will get, audit that folder as a reader reads it (every file, every column; anything
unknown refuses the release) against every earlier publication, and only then swap it in.

Layout (SLEDS_HOME/releases/public/):
  tables/<table_id>.csv, .parquet   what readers get (one row per cell: structure, display, status)
  manifest.json                     tables, policy version, clauses, rows, SHA-256s, run
  data_dictionary.json, .md         the columns
The engine's reasons, rule ids, the audit's intervals and the publication history stay in
the governance area (orchestration/lib/governance/publications.py).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.lib import paths
from orchestration.lib.agreements.policy import clauses_for
from orchestration.lib.disclosure.audit.folder import FolderRefused, audit_folder
from orchestration.lib.disclosure.engine import run_suppression
from orchestration.lib.disclosure.tables import KEY_COLUMNS, SummaryTable
from orchestration.lib.governance import publications
from orchestration.lib.governance.data_dictionary import write_data_dictionary
from orchestration.lib.releases.content import content_sha256, published_manifest, table_changes
from orchestration.lib.releases.export import code_version
from orchestration.lib.storage import StagedFolder, sha256_bytes, stage_release_folder

PUBLIC_CLAUSES = clauses_for("public")  # seeds/policy_scopes.csv
# public columns: the structure, what is shown and one neutral status; never a reason or rule id
PUBLIC_COLUMNS = KEY_COLUMNS + ["status", "display", "n_display"]


class PublicationBlocked(RuntimeError):
    """The audit found a disclosed cell: nothing was written."""


@dataclass
class Publication:
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    suppression: dict[str, dict[str, int]] = field(default_factory=dict)
    audit: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    unchanged: bool = False  # the inputs are the last publication's: nothing was written
    changes: dict = field(default_factory=dict)  # against the folder replaced (releases/content.py)


def input_fingerprint(tables: list[SummaryTable], as_of: dt.date) -> str:
    """What decides a publication's content: every table's cells and settings, the policy
    seeds and models (policy_version), the population relations, the code and the
    agreements' as-of date. Equal fingerprints give the same folder, so it is not written
    (nor disclosed) again. Kept in the governance area only: a hash of the true cells could
    be tested against guesses of a small table."""
    parts = [policy_version(), code_version(), str(as_of), json.dumps(PUBLIC_CLAUSES)]
    parts.append((paths.SEEDS_DIR / "publish_relations.csv").read_text())
    for t in sorted(tables, key=lambda t: t.table_id):
        settings = [t.table_id, t.policy, t.measure, t.other_information, t.population, t.outcome, t.description]
        order = [c for c in ("level", "unit_id", "grouping", "category") if c in t.cells.columns]
        cells = t.cells.sort_values(order, kind="stable") if order else t.cells
        parts += [json.dumps(settings + [t.extra], default=str, sort_keys=True), cells.to_csv(index=False)]
    return sha256_bytes(*(p.encode() for p in parts))


def _unchanged(public: Path, governance: Path, inputs: str) -> Publication | None:
    """The current publication, when it was made from these inputs and its folder is intact."""
    manifest = published_manifest(public)
    if manifest is None:
        return None
    record = publications.record_for(public, manifest)
    if inputs not in publications.inputs_of(record, public, manifest):
        return None
    if publications.latest_stamp(governance) != publications.stamp_of(manifest):
        return None  # the history holds a later publication than this folder's: publish again
    pub = Publication(public, manifest=manifest, unchanged=True)
    pub.tables = {str(k): int(v) for k, v in manifest.get("tables", {}).items()}
    pub.suppression, pub.audit = record.get("suppression", {}), record.get("audit", {})
    return pub


def policy_version() -> str:
    """What decides the published cells: the policy seeds and the dbt models and macros
    that define the tables (models/publish, macros/publish_grid.sql)."""
    names = ("suppression_policies.csv", "suppression_rate_bands.csv", "publish_tables.csv")
    files = [paths.SEEDS_DIR / name for name in names]
    files += sorted((paths.DBT_PROJECT_DIR / "models" / "publish").glob("*"))
    files += [paths.DBT_PROJECT_DIR / "macros" / "publish_grid.sql"]
    return sha256_bytes(*(f.read_bytes() for f in files if f.is_file()))[:16]


def publish(
    tables: list[SummaryTable],
    public: Path,
    *,
    run_id: str,
    as_of: dt.date,
    governance: Path | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> Publication:
    if not tables:
        raise PublicationBlocked("no summary tables to publish (are the marts built?)")
    governance = governance or publications.publications_dir(public)
    inputs = input_fingerprint(tables, as_of)
    same = _unchanged(public, governance, inputs)
    if same is not None:
        return same
    prior = publications.prior_publications(public, governance)
    _refuse_revisions(tables, prior)
    began = time.monotonic()
    log(f"suppressing {len(tables)} tables together against {len(prior)} earlier publication(s)")
    run = run_suppression(tables, prior_releases=prior, progress=log)
    cells = run.cells
    suppressed_at = time.monotonic()
    log(f"suppressed in {suppressed_at - began:.1f}s ({run.iterations} iteration(s)); auditing the folder as a reader "
        "meets it")  # fmt: skip
    created = dt.datetime.now(dt.UTC)
    staged = _stage(public, cells, tables, run_id=run_id, as_of=as_of, created=created)
    try:
        # the independent audit, on the folder as it would be published, with every earlier publication
        # (insider pairs the audit already showed safe while the engine only hid more are not
        # rechecked: hiding more never helps an insider)
        safe = run.audit.insider_safe if run.audit is not None else set()
        _, audit = audit_folder(staged.path, prior_releases=prior, tables=tables, insider_safe=safe)
    except FolderRefused as refused:
        staged.discard()
        raise PublicationBlocked(f"the public folder holds what the audit's reader model refuses: {refused}") from None
    except BaseException:
        staged.discard()
        raise
    audited_at = time.monotonic()
    log(f"audited in {audited_at - suppressed_at:.1f}s: {int(audit.cells['disclosed'].sum())} disclosed cell(s)")
    pub = Publication(public)
    pub.seconds = {"suppression": round(suppressed_at - began, 2), "audit": round(audited_at - suppressed_at, 2)}
    disclosed = int(audit.cells["disclosed"].sum())
    pub.audit = {
        "passed": audit.passed,
        "cells_published": len(cells),
        "cells_checked": len(audit.cells),
        "disclosed": disclosed,
        "prior_publications": len(prior),
        "engine_iterations": run.iterations,
    }
    if not audit.passed:
        staged.discard()
        worst = audit.disclosed.head(5).to_dict("records")
        raise PublicationBlocked(
            f"audit found {disclosed} disclosed cell(s); nothing written. First: {json.dumps(worst, default=str)}"
        )
    for table_id, group in cells.groupby("table_id"):
        pub.tables[table_id] = len(group)
        pub.suppression[table_id] = {str(k): int(v) for k, v in group["reason"].value_counts().items()}

    current = published_manifest(public)
    if (
        current is not None
        and current.get("content_sha256") == staged.manifest["content_sha256"]
        and publications.latest_stamp(governance) == publications.stamp_of(current)
    ):
        # new inputs (code, policy files, as-of day) that publish the very same folder: the one
        # out there stays, no new record or history entry, and these inputs now lead to it
        staged.discard()
        publications.add_inputs(governance, current, inputs)
        same = Publication(public, manifest=current, unchanged=True)
        same.tables, same.suppression, same.audit, same.seconds = pub.tables, pub.suppression, pub.audit, pub.seconds
        return same
    pub.manifest = staged.manifest
    pub.changes = {
        "previous_content_sha256": current.get("content_sha256") if current else None,
        "tables": table_changes(public if current is not None else None, staged.path),
    }
    try:
        summary = {"suppression": pub.suppression, "audit": pub.audit, "seconds": pub.seconds, "inputs": inputs}
        publications.write_record(
            governance, run_id=run_id, created=created, cells=cells, public_cells=cells[PUBLIC_COLUMNS],
            audit_cells=audit.cells, summary=summary,
        )  # fmt: skip
        staged.swap_in()
    except BaseException:
        staged.discard()
        raise
    return pub


def revised_counts(tables: list[SummaryTable], prior: list[pd.DataFrame]) -> pd.DataFrame:
    """Counts an earlier publication showed that the data now put at another value (the
    records under them were corrected since): table, cell, published and current value."""
    key = ["population", "unit_id", "grouping", "category"]
    now = pd.concat(
        [pd.DataFrame({**{c: t.cells[c].astype(str) for c in key[1:]}, "population": t.population,
                       "table_id": t.table_id, "now": pd.to_numeric(t.cells["n"])}) for t in tables],
        ignore_index=True,
    )  # fmt: skip
    out = []
    for frame in prior:
        shown = frame["display"].where(frame["measure"] == "count", frame["n_display"]).astype(str)
        numeric = shown.str.fullmatch(r"\d+")
        was = frame.loc[numeric, key].astype(str).assign(published=shown[numeric].astype("int64"))
        both = now.merge(was.drop_duplicates(key), on=key)
        out.append(both[both["now"] != both["published"]])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=[*key, "table_id", "now", "published"])


def _refuse_revisions(tables: list[SummaryTable], prior: list[pd.DataFrame]) -> None:
    """A published count whose data changed since cannot be published again as revised:
    the audit reads every publication as counts of the same records, and a figure next to
    its revision tells how many records changed in that cell (one corrected record, singled
    out). Stop with what changed instead of an audit that cannot hold. The message gives the
    published figure, never the current one (a corrected count may now be a small cell)."""
    revised = revised_counts(tables, prior)
    if revised.empty:
        return
    first = revised.iloc[0]
    tables_hit = ", ".join(sorted(revised["table_id"].unique()))
    raise PublicationBlocked(
        f"{len(revised)} published count(s) in {tables_hit} would change: the records under them were corrected "
        f"since they were published (first: {first['table_id']} {first['unit_id']} {first['grouping']}="
        f"{first['category']}: published {int(first['published'])}, the data now differ). Publishing revised "
        "figures is not supported: the difference between a figure and its revision can single out the records "
        "that changed. The public folder out there is unchanged; the other releases are built (docs/suppression.md)."
    )


def _stage(
    public: Path, cells: pd.DataFrame, tables: list[SummaryTable], *, run_id: str, as_of: dt.date, created: dt.datetime
) -> StagedFolder:
    """Write the folder as it will be published (tables, data dictionary, manifest) into
    a staging folder beside `public`; the caller audits it, then swaps it in or discards it."""

    written: dict = {}

    def write(staging: Path) -> None:
        (staging / "tables").mkdir()
        for table_id, group in cells.groupby("table_id"):
            out = group[PUBLIC_COLUMNS].reset_index(drop=True)
            out.to_csv(staging / "tables" / f"{table_id}.csv", index=False)
            out.to_parquet(staging / "tables" / f"{table_id}.parquet", index=False)
        written["dictionary"] = write_data_dictionary(staging, "public")

    manifest = {
        "release": "public_summaries",
        "audience": "public",
        "folder": str(public),
        "tables": {str(k): int(v) for k, v in cells.groupby("table_id").size().items()},
        "descriptions": {t.table_id: t.description for t in tables},
        "policies": {t.table_id: t.policy for t in tables},
        "populations": {t.table_id: t.population for t in tables},
        "policy_version": policy_version(),
        "clauses": PUBLIC_CLAUSES,
        "files": {},  # the SHA-256 of every file, set by stage_release_folder
        "as_of": str(as_of),
        "run_id": run_id,
        "code_version": code_version(),
        "created_at": created.isoformat(),
    }

    def content(files: dict[str, str]) -> dict:
        sha = content_sha256(manifest, files, written.get("dictionary"))
        return {**manifest, "files": files, "content_sha256": sha}

    return stage_release_folder(public, write, content)
