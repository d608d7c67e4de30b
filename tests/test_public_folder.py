"""The public folder is audited as published: a reader model names every file and column,
and anything else (an audit/bounds file, a reason-code or rule-id column, an unknown file
or column, a status that says more than the display) refuses the release before it is
swapped in. The engine's own release passes; its diagnostics go to the governance area."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil

import pandas as pd
import pytest

from orchestration.lib.disclosure.audit.folder import TABLE_COLUMNS, FolderRefused, audit_folder, read_public_folder
from orchestration.lib.governance.publications import publications_dir, record_for
from orchestration.lib.publish import release as release_mod
from orchestration.lib.publish.release import PublicationBlocked, publish
from tests.disclosure_cases import SCHOOLS, district


def small_tables():
    return [district("k12_enrollment_by_race", SCHOOLS)]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    public = root / "releases" / "public"
    public.parent.mkdir(parents=True)
    pub = publish(small_tables(), public, run_id="run-one", as_of=dt.date(2026, 1, 1))
    return public, pub


def staged_copy(public, tmp_path):
    """A copy of the published folder, standing in for a staged one."""
    staged = tmp_path / "staged"
    shutil.copytree(public, staged)
    return staged


def rehash(folder):
    """Keep the manifest's SHA-256s right, so the refusal is for what was planted, not a stale hash."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def plant_column(folder, name, values):
    for path in (folder / "tables").glob("*.parquet"):
        frame = pd.read_parquet(path)
        frame[name] = values(frame)
        frame.to_parquet(path, index=False)
        frame.to_csv(path.with_suffix(".csv"), index=False)
    rehash(folder)


def test_the_engines_release_passes_and_ships_only_what_the_reader_model_knows(published):
    public, pub = published
    assert pub.audit["passed"] and pub.audit["disclosed"] == 0
    assert sorted(str(p.relative_to(public)) for p in public.rglob("*") if p.is_file()) == [
        "data_dictionary.json", "data_dictionary.md", "manifest.json",
        "tables/k12_enrollment_by_race.csv", "tables/k12_enrollment_by_race.parquet",
    ]  # fmt: skip
    frame = pd.read_parquet(public / "tables" / "k12_enrollment_by_race.parquet")
    assert set(frame.columns) == set(TABLE_COLUMNS)
    assert set(frame.loc[frame["status"] == "suppressed", "display"]) == {"*"}
    manifest = json.loads((public / "manifest.json").read_text())
    assert "suppression" not in manifest and "audit" not in manifest
    view, result = audit_folder(public)
    assert result.passed and len(view.cells) == len(frame)


def test_the_engines_diagnostics_are_kept_in_the_governance_area(published):
    public, pub = published
    governance = publications_dir(public)
    assert governance == public.parent.parent / "governance" / "publications"
    record = record_for(public)
    assert record["audit"] == pub.audit and record["suppression"] == pub.suppression
    assert any(k.startswith("PRIMARY") for k in record["suppression"]["k12_enrollment_by_race"])
    (run,) = [p for p in governance.iterdir() if p.name != "history"]
    cells = pd.read_parquet(run / "cells.parquet")
    assert {"reason", "rule_id", "n_reason"} <= set(cells.columns)
    audit = pd.read_parquet(run / "audit.parquet")
    assert {"lower", "upper"} <= set(audit.columns) and "true_value" not in audit.columns
    assert len(list((governance / "history").glob("*.parquet"))) == 1


@pytest.mark.parametrize(
    "plant, message",
    [
        (lambda f: pd.DataFrame({"lower": [4], "upper": [9]}).to_parquet(f / "audit.parquet"),
         "unknown file 'audit.parquet'"),
        (lambda f: (f / "bounds.csv").write_text("unit_id,lower,upper\nA,1,9\n"), "unknown file 'bounds.csv'"),
        (lambda f: (f / "history").mkdir() or (f / "history" / "x.parquet").write_bytes(b""), "unknown folder history"),
        (lambda f: (f / "tables" / "notes.txt").write_text("hi"), "unknown file 'tables/notes.txt'"),
        (lambda f: plant_column(f, "reason",
                                lambda t: t["status"].map({"suppressed": "PRIMARY_MIN_N"}).fillna("PUBLISHED")),
         r"unknown column\(s\) \['reason'\]"),
        (lambda f: plant_column(f, "rule_id", lambda t: "nces_2011_603.5f"), r"unknown column\(s\) \['rule_id'\]"),
        (lambda f: plant_column(f, "lower", lambda t: 0), r"unknown column\(s\) \['lower'\]"),
        (lambda f: plant_column(f, "note", lambda t: ""), r"unknown column\(s\) \['note'\]"),
    ],
    ids=["audit_file", "bounds_file", "history_folder", "extra_file", "reason_codes", "rule_ids", "bounds_column",
         "unknown_column"],
)  # fmt: skip
def test_each_side_channel_planted_in_the_folder_refuses_the_release(published, tmp_path, plant, message):
    public, _ = published
    staged = staged_copy(public, tmp_path)
    plant(staged)
    with pytest.raises(FolderRefused, match=message):
        audit_folder(staged)


def _rewrite_table(folder, edit):
    for path in (folder / "tables").glob("*.parquet"):
        frame = edit(pd.read_parquet(path))
        frame.to_parquet(path, index=False)
        frame.to_csv(path.with_suffix(".csv"), index=False)
    rehash(folder)


@pytest.mark.parametrize(
    "edit, message",
    [
        # a reason smuggled into the status: a status must follow from the display alone
        (lambda t: t.assign(status=t["status"].replace({"suppressed": "suppressed_primary"})),
         "says more than the display"),
        # a second suppression marker
        (lambda t: t.assign(display=t["display"].where(t["status"] != "suppressed", "**"),
                            n_display=t["n_display"].where(t["status"] != "suppressed", "**")),
         "neither '\\*' nor a value"),
        # a leading zero or a space marks a cell as well as a second marker does
        (lambda t: t.assign(display=t["display"].str.replace(r"^(\d+)$", r"0\1", regex=True),
                            n_display=t["n_display"].str.replace(r"^(\d+)$", r"0\1", regex=True)),
         "one published spelling"),
        # a count table whose n_display differs from its display
        (lambda t: t.assign(n_display="12"), "differs from the count shown"),
    ],
    ids=["status_codes", "second_marker", "leading_zero", "n_display_channel"],
)  # fmt: skip
def test_a_column_that_says_more_than_the_reader_model_refuses_the_release(published, tmp_path, edit, message):
    public, _ = published
    staged = staged_copy(public, tmp_path)
    _rewrite_table(staged, edit)
    with pytest.raises(FolderRefused, match=message):
        read_public_folder(staged)


def test_manifest_keys_and_hashes_are_checked(published, tmp_path):
    public, _ = published
    staged = staged_copy(public, tmp_path)
    manifest = json.loads((staged / "manifest.json").read_text())
    (staged / "manifest.json").write_text(json.dumps(manifest | {"suppression": {"k12_enrollment_by_race": {}}}))
    with pytest.raises(FolderRefused, match=r"unknown key\(s\) \['suppression'\]"):
        read_public_folder(staged)
    (staged / "manifest.json").write_text(json.dumps(manifest))
    (staged / "tables" / "k12_enrollment_by_race.csv").write_text("changed")
    with pytest.raises(FolderRefused):
        read_public_folder(staged)


def test_publish_refuses_a_folder_with_a_side_file_and_writes_nothing(tmp_path, monkeypatch):
    real = release_mod.write_data_dictionary

    def with_side_file(folder, schema):
        real(folder, schema)
        (folder / "audit.parquet").write_bytes(b"intervals")

    monkeypatch.setattr(release_mod, "write_data_dictionary", with_side_file)
    public = tmp_path / "public"
    with pytest.raises(PublicationBlocked, match="reader model refuses: unknown file 'audit.parquet'"):
        publish(small_tables(), public, run_id="leaky", as_of=dt.date(2026, 1, 1))
    assert not public.exists() and not list(tmp_path.glob(".staging-public-*"))
    assert not (tmp_path / "governance").exists()
