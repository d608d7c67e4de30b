"""The governance area of the public release: what the agency keeps about each publication.

The public folder (releases/public) carries only what a reader may see. The engine's
diagnostics stay here, inside the agency:

  SLEDS_HOME/governance/publications/
    <created>_<run>/cells.parquet   every cell with the engine's reason, rule id and n_reason
    <created>_<run>/audit.parquet   the audit's per-cell intervals (never the true values)
    <created>_<run>/summary.json    per-table suppression counts by reason, the audit result, timings
    history/<created>_<run>.parquet what each publication showed, so the next audit can difference them

The governance report and the publish asset check read summary.json of the publication
the public manifest names (run_id and created_at).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd

TRUTH_COLUMNS = ("true_value",)  # the audit's confidential column never leaves the engine


def publications_dir(public: Path) -> Path:
    """The governance area of a public folder: SLEDS_HOME/governance/publications for
    SLEDS_HOME/releases/public; <dir>/governance/publications for any other <dir>/public."""
    public = Path(public)
    root = public.parent.parent if public.parent.name == "releases" else public.parent
    return root / "governance" / "publications"


def _stamp(created: dt.datetime, run_id: str) -> str:
    return f"{created:%Y%m%dT%H%M%S}_{run_id[:8]}"


def stamp_of(manifest: dict) -> str:
    """The record folder (and history file) name of the publication a manifest describes."""
    return _stamp(dt.datetime.fromisoformat(manifest["created_at"]), manifest["run_id"])


def latest_stamp(governance: Path) -> str | None:
    """The name of the newest publication in the history, or None before the first."""
    history = sorted((Path(governance) / "history").glob("*.parquet"))
    return history[-1].stem if history else None


def prior_publications(public: Path, governance: Path) -> list[pd.DataFrame]:
    """Every earlier publication's cells: the governance history, plus a public folder's
    own history/ as releases before the governance area wrote it (moved here on read)."""
    history = Path(governance) / "history"
    legacy = Path(public) / "history"
    if legacy.is_dir():
        history.mkdir(parents=True, exist_ok=True)
        for old in legacy.glob("*.parquet"):
            if not (history / old.name).exists():
                shutil.copy2(old, history / old.name)
    return [pd.read_parquet(p) for p in sorted(history.glob("*.parquet"))] if history.is_dir() else []


def write_record(
    governance: Path,
    *,
    run_id: str,
    created: dt.datetime,
    cells: pd.DataFrame,
    public_cells: pd.DataFrame,
    audit_cells: pd.DataFrame,
    summary: dict,
) -> Path:
    """Write one publication's record; returns its folder. Call before the public folder is
    swapped in, so a publication never exists without its record."""
    governance = Path(governance)
    folder = governance / _stamp(created, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    cells.to_parquet(folder / "cells.parquet", index=False)
    audit = audit_cells.drop(columns=[c for c in TRUTH_COLUMNS if c in audit_cells.columns])
    audit.astype({c: str for c in audit.columns if audit[c].dtype == object}).to_parquet(
        folder / "audit.parquet", index=False
    )
    (folder / "summary.json").write_text(
        json.dumps({"run_id": run_id, "created_at": created.isoformat(), **summary}, indent=2, default=str)
    )
    history = governance / "history"
    history.mkdir(parents=True, exist_ok=True)
    public_cells.to_parquet(history / f"{_stamp(created, run_id)}.parquet", index=False)
    return folder


ALSO_FROM = "also_from_inputs.json"


def add_inputs(governance: Path, manifest: dict, inputs: str) -> None:
    """Note that `inputs` (publish/release.py input_fingerprint) publish exactly the folder
    `manifest` describes, so the next build with them need not suppress and audit again."""
    path = Path(governance) / stamp_of(manifest) / ALSO_FROM
    seen = json.loads(path.read_text()) if path.exists() else []
    if inputs not in seen:
        path.write_text(json.dumps([*seen, inputs], indent=2))


def inputs_of(record: dict, public: Path, manifest: dict) -> set[str]:
    """Every input fingerprint known to give the publication `manifest` describes."""
    out = {record["inputs"]} if record.get("inputs") else set()
    if manifest.get("run_id") and manifest.get("created_at"):
        path = publications_dir(public) / stamp_of(manifest) / ALSO_FROM
        if path.exists():
            out.update(json.loads(path.read_text()))
    return out


def record_for(public: Path, manifest: dict | None = None) -> dict:
    """summary.json of the publication the public folder's manifest names ({} if none).

    A release published before the governance area existed kept 'suppression' and 'audit'
    in its public manifest: those are returned for it."""
    public = Path(public)
    if manifest is None:
        path = public / "manifest.json"
        if not path.exists():
            return {}
        manifest = json.loads(path.read_text())
    run_id, created = manifest.get("run_id"), manifest.get("created_at")
    if run_id and created:
        path = publications_dir(public) / _stamp(dt.datetime.fromisoformat(created), run_id) / "summary.json"
        if path.exists():
            return json.loads(path.read_text())
    return {k: manifest[k] for k in ("suppression", "audit", "seconds") if k in manifest}
