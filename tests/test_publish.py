"""Publishing on the tiny data set: every cell has a status (its reason in the governance area), the audit passes
against the earlier publication, nothing is written when the audit fails, and the
institution rules of the agreements hold in the public tables."""

import datetime as dt
import hashlib
import json

import duckdb
import pandas as pd
import pytest

from orchestration.lib.agreements.registry import load_registry
from orchestration.lib.governance.publications import publications_dir, record_for
from orchestration.lib.publish import release as release_mod
from orchestration.lib.publish.release import PublicationBlocked, publish
from orchestration.lib.publish.summaries import build_summary_tables, table_specs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tables(tiny_warehouse):
    con = duckdb.connect(str(tiny_warehouse / "warehouse.duckdb"), read_only=True)
    try:
        return build_summary_tables(con)
    finally:
        con.close()


def test_every_configured_table_is_built_with_all_categories_for_every_unit(tables):
    assert {t.table_id for t in tables} == set(table_specs())
    for t in tables:
        per_unit = t.cells[t.cells["grouping"] != "all"].groupby("unit_id")["category"].nunique()
        assert per_unit.nunique() == 1, f"{t.table_id}: units list different categories (a missing row says zero)"


def test_institutions_named_only_with_permission(tables):
    registry = {a.institution_code: a for a in load_registry().agreements}
    for t in tables:
        inst = t.cells[t.cells["level"] == "institution"]["unit_id"].str.removeprefix("INST:").unique()
        for code in inst:
            a = registry[code]
            if t.table_id.startswith("wioa"):
                continue  # WIOA ETPL summaries at cell size 3 are a listed permission (9(c)(iii))
            assert a.permit_institution_identification, f"{t.table_id} names {code} without permission"
            if "gender_identity" in t.table_id:
                assert a.permit_gender_identity_institution_level, f"{t.table_id}: gender identity for {code}"


def test_publication_audited_against_the_previous_one_and_fully_labelled(tables, tmp_path):
    public = tmp_path / "public"
    first = publish(tables, public, run_id="run-one", as_of=dt.date(2026, 1, 1))
    assert first.audit["passed"] and first.audit["disclosed"] == 0
    manifest = json.loads((public / "manifest.json").read_text())
    for rel, sha in manifest["files"].items():
        assert hashlib.sha256((public / rel).read_bytes()).hexdigest() == sha
    cells = pd.concat(pd.read_parquet(public / "tables" / f"{t}.parquet") for t in manifest["tables"])
    assert len(cells) == sum(len(t.cells) for t in tables)
    assert cells["status"].isin(["published", "suppressed", "recoded"]).all()
    assert "reason" not in cells.columns and "rule_id" not in cells.columns
    assert (cells.loc[cells["status"] == "suppressed", "display"] == "*").all()
    assert not (public / "audit.parquet").exists() and not (public / "history").exists()
    governance = publications_dir(public)
    (run,) = [p for p in governance.iterdir() if p.name != "history"]
    labelled = pd.read_parquet(run / "cells.parquet")
    assert len(labelled) == len(cells) and labelled["reason"].notna().all() and (labelled["reason"] != "").all()
    audit = pd.read_parquet(run / "audit.parquet")
    assert len(audit) > 0 and not audit["disclosed"].any()
    assert "true_value" not in audit.columns, "the audit file must not carry the confidential values"
    assert record_for(public)["audit"] == first.audit
    # the second publication is audited with the first one's cells as what a reader already knows
    second = publish(tables[1:], public, run_id="run-two", as_of=dt.date(2026, 2, 1))
    assert second.audit["prior_publications"] == 1 and second.audit["passed"]
    # its disclosure names what changed against the folder it replaced: the table withdrawn
    dropped = tables[0].table_id
    assert second.changes["tables"][dropped] == {"rows_added": 0, "rows_removed": first.tables[dropped]}
    assert second.changes["previous_content_sha256"] == first.manifest["content_sha256"]
    assert len(list((governance / "history").glob("*.parquet"))) == 2


def test_nothing_is_written_when_the_audit_finds_a_disclosure(tables, tmp_path, monkeypatch):
    real = release_mod.run_suppression

    def primary_only(tabs, **kwargs):
        return real(tabs, complementary="none", audit=False, **kwargs)

    monkeypatch.setattr(release_mod, "run_suppression", primary_only)
    public = tmp_path / "public"
    with pytest.raises(PublicationBlocked, match="disclosed"):
        publish(tables, public, run_id="naive", as_of=dt.date(2026, 1, 1))
    assert not public.exists()
    assert not list(tmp_path.glob(".staging-public-*"))


def test_the_same_inputs_publish_nothing_new_and_changed_inputs_publish_again(tables, tmp_path):
    public = tmp_path / "public"
    first = publish(tables, public, run_id="run-one", as_of=dt.date(2026, 1, 1))
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = publish(tables, public, run_id="run-two", as_of=dt.date(2026, 1, 1))
    assert again.unchanged and again.manifest == first.manifest and again.audit == first.audit
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # not a byte written: folder, record and history as they were
    # new inputs (a later as-of day) that give the very same folder: suppressed and audited
    # again, but the folder, its record and the history stay; the new inputs now lead to it
    later = publish(tables, public, run_id="run-three", as_of=dt.date(2026, 3, 1))
    assert later.unchanged and later.manifest == first.manifest
    written = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    (noted,) = set(written) - set(before)
    assert noted.name == "also_from_inputs.json" and {k: v for k, v in written.items() if k != noted} == before
    assert release_mod._unchanged(public, publications_dir(public), release_mod.input_fingerprint(
        tables, dt.date(2026, 3, 1))) is not None  # fmt: skip
    # a tampered folder is not "unchanged": it would be published again (and audited)
    inputs = release_mod.input_fingerprint(tables, dt.date(2026, 1, 1))
    assert release_mod._unchanged(public, publications_dir(public), inputs) is not None
    (public / "tables" / f"{tables[0].table_id}.csv").write_text("tampered")
    assert release_mod._unchanged(public, publications_dir(public), inputs) is None
    # changed inputs (here one table fewer) are a new publication, audited against both earlier ones
    fourth = publish(tables[1:], public, run_id="run-four", as_of=dt.date(2026, 1, 1))
    assert not fourth.unchanged and fourth.audit["prior_publications"] == 1


def test_a_correction_under_published_counts_stops_the_publication_with_what_changed(tables, tmp_path):
    """One student's gender corrected after publication: F one fewer and M one more in her
    school, district and the state. Publishing 36 next to the 37 out there would single her
    out, and the audit cannot read the two as the same records: refused, folder unchanged."""
    import dataclasses

    public = tmp_path / "public"
    publish(tables, public, run_id="before", as_of=dt.date(2026, 1, 1))
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    table = next(t for t in tables if t.table_id == "k12_enrollment_by_gender")
    cells = table.cells.copy()
    by_unit = cells.drop_duplicates("unit_id").set_index("unit_id")["parent_unit_id"]
    school = cells[(cells["level"] == "school") & (cells["category"] == "F") & (cells["n"] >= 1)].iloc[0]["unit_id"]
    chain = [school]
    while isinstance(by_unit.get(chain[-1]), str):
        chain.append(by_unit[chain[-1]])
    assert len(chain) == 3, chain  # school, district, state
    for category, step in (("F", -1), ("M", 1)):
        hit = cells["unit_id"].isin(chain) & (cells["grouping"] == "gender") & (cells["category"] == category)
        cells.loc[hit, "n"] += step
    corrected = [dataclasses.replace(table, cells=cells) if t is table else t for t in tables]
    with pytest.raises(PublicationBlocked, match=r"k12_enrollment_by_gender would change: the records under them"):
        publish(corrected, public, run_id="after", as_of=dt.date(2026, 1, 1))
    assert {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
