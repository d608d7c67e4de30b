"""Releases are content-addressed: the same data is written and disclosed once.

Unit tests on orchestration/lib/releases/content.py, then the release stage on a copy of
the built tiny warehouse: exporting twice leaves every release folder and the disclosure
log byte for byte as they were; a changed table is one new entry naming its rows."""

from pathlib import Path

import duckdb
import pytest

from orchestration.lib import paths, storage
from orchestration.lib.agreements.policy import clauses_for
from orchestration.lib.governance.activity_log import read_activity
from orchestration.lib.governance.disclosure_log import disclosure_log_path, read_disclosures, verify_chain
from orchestration.lib.releases.content import (
    ContentMismatch,
    check_duckdb_matches_parquet,
    content_sha256,
    settle,
    table_changes,
)
from orchestration.lib.releases.stage import release_institution_marts, release_sleds
from tests.conftest import copy_home
from tests.test_agreements import edit


def _folder(root: Path, rows: dict[str, list[tuple[int, str]]]) -> Path:
    (root / "parquet").mkdir(parents=True)
    con = duckdb.connect()
    for table, values in rows.items():
        con.execute(f"CREATE TABLE {table} (n INTEGER, s VARCHAR)")
        if values:
            con.executemany(f"INSERT INTO {table} VALUES (?, ?)", values)
        target = root / "parquet" / f"{table}.parquet"
        con.execute(f"COPY (SELECT * FROM {table} ORDER BY ALL) TO '{target}' (FORMAT parquet)")
    con.close()
    return root


def test_table_changes_counts_rows_added_and_removed_as_multisets(tmp_path):
    old = _folder(tmp_path / "old", {"a": [(1, "x"), (2, "y"), (2, "y")], "gone": [(1, "z")], "same": [(5, "q")]})
    new = _folder(
        tmp_path / "new", {"a": [(2, "y"), (3, "w"), (4, "v")], "fresh": [(1, "z"), (2, "z")], "same": [(5, "q")]}
    )
    assert table_changes(old, new) == {
        "a": {"rows_added": 2, "rows_removed": 2},  # (1,x) and one (2,y) out; (3,w), (4,v) in
        "fresh": {"rows_added": 2, "rows_removed": 0},
        "gone": {"rows_added": 0, "rows_removed": 1},
    }
    assert table_changes(None, new)["same"] == {"rows_added": 1, "rows_removed": 0}


def test_sorted_parquet_of_equal_data_has_equal_bytes_whatever_the_order_and_threads(tmp_path):
    hashes = set()
    for n, (threads, order) in enumerate([(1, "ASC"), (2, "DESC"), (2, "ASC")]):
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        rows = "SELECT i % 977 AS n, md5(i::VARCHAR) AS s FROM range(300000) r(i)"
        con.execute(f"CREATE TABLE t AS {rows} ORDER BY i {order}")
        target = tmp_path / f"{n}.parquet"
        con.execute(f"COPY (SELECT * FROM t ORDER BY ALL) TO '{target}' (FORMAT parquet)")
        con.close()
        hashes.add(storage.sha256_file(target))
    assert len(hashes) == 1


def test_content_hash_is_of_the_data_not_of_the_run():
    files = {"parquet/a.parquet": "1" * 64, "sleds_release.duckdb": "2" * 64, "data_dictionary.md": "3" * 64}
    manifest = {"release": "r", "audience": "x", "tables": {"a": 3}, "agreements": [], "clauses": ["7"],
                "run_id": "one", "created_at": "2026-01-01", "as_of": "2026-01-01"}  # fmt: skip
    dictionary = {"release": "r", "generated_at": "2026-01-01T00:00:00", "tables": {"a": {"rows": 3}}}
    base = content_sha256(manifest, files, dictionary)
    later = {**manifest, "run_id": "two", "created_at": "2027-01-01", "as_of": "2027-01-01"}
    rewritten = {**files, "sleds_release.duckdb": "4" * 64, "data_dictionary.md": "5" * 64}
    assert content_sha256(later, rewritten, {**dictionary, "generated_at": "2027-01-01T00:00:00"}) == base
    assert content_sha256(manifest, {**files, "parquet/a.parquet": "6" * 64}, dictionary) != base
    assert content_sha256({**manifest, "tables": {"a": 4}}, files, dictionary) != base
    assert content_sha256(manifest, files, {**dictionary, "tables": {"a": {"rows": 4}}}) != base


def test_a_database_that_differs_from_its_parquet_is_refused(tmp_path):
    folder = _folder(tmp_path / "rel", {"a": [(1, "x"), (2, "y")]})
    con = duckdb.connect()
    storage.attach(con, folder / "r.duckdb", "r", read_only=False)
    con.execute(f"CREATE TABLE r.main.a AS SELECT * FROM read_parquet('{folder / 'parquet' / 'a.parquet'}')")
    check_duckdb_matches_parquet(con, "r", folder)
    con.execute("UPDATE r.main.a SET s = 'changed' WHERE n = 2")
    with pytest.raises(ContentMismatch, match="differs"):
        check_duckdb_matches_parquet(con, "r", folder)
    con.execute("CREATE TABLE r.main.extra (n INTEGER)")
    with pytest.raises(ContentMismatch, match="Parquet files"):
        check_duckdb_matches_parquet(con, "r", folder)
    con.close()


def test_settle_keeps_a_tampered_folder_out_of_the_comparison(tmp_path):
    """An edited folder is not the release the recipient has: it is replaced, not kept."""
    final = tmp_path / "rel"

    def staged(rows):
        def write(folder):
            _folder(folder, {"a": rows})

        def content(files):
            return {"release": "r", "tables": {"a": len(rows)}, "files": files,
                    "content_sha256": content_sha256({"tables": {"a": len(rows)}}, files, None)}  # fmt: skip

        return storage.stage_release_folder(final, write, content)

    first = settle(staged([(1, "x")]))
    assert not first.unchanged and first.changes["tables"] == {"a": {"rows_added": 1, "rows_removed": 0}}
    assert settle(staged([(1, "x")])).unchanged
    (final / "parquet" / "a.parquet").write_bytes(b"not what was released")
    again = settle(staged([(1, "x")]))
    assert not again.unchanged and again.changes["previous_content_sha256"] is None
    assert not list(tmp_path.glob(".staging-*")), "no staging folder is left behind"


# ------------------------------------------------------------ the release stage


@pytest.fixture()
def home(tiny_warehouse, tmp_path, monkeypatch):
    h = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(h))
    return h


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.integration
def test_exporting_the_same_releases_again_writes_and_discloses_nothing(home):
    releases, log = paths.releases_dir(), disclosure_log_path()
    before = (_snapshot(releases / "sleds"), _snapshot(releases / "institutions"), log.read_bytes())
    assert before[1], "the tiny build wrote institution marts"
    sleds = release_sleds(run_id="second-run", clauses=clauses_for("sleds"))
    marts = release_institution_marts(run_id="second-run", clauses=clauses_for("institution_mart"))
    assert sleds.unchanged and sleds.manifest.run_id != "second-run"
    assert len(marts.unchanged) == len(marts.manifests) > 0
    assert (_snapshot(releases / "sleds"), _snapshot(releases / "institutions"), log.read_bytes()) == before
    said = [a for a in read_activity() if a["action"] == "release_unchanged"]
    assert len(said) == 1 + len(marts.manifests)
    assert {a["detail"]["seq"] for a in said} <= {e["seq"] for e in read_disclosures()}


@pytest.mark.integration
def test_a_changed_table_is_one_new_disclosure_that_names_its_rows(home):
    entries = len(read_disclosures())
    con = duckdb.connect(str(paths.warehouse_path()))
    table = "rel_sleds__k12_accountability_students"
    removed = con.execute(f"SELECT count(*) FROM release_sleds.{table} WHERE computed_grade = '03'").fetchall()[0][0]
    assert removed > 0
    con.execute(f"DELETE FROM release_sleds.{table} WHERE computed_grade = '03'")
    con.close()
    report = release_sleds(run_id="changed", clauses=clauses_for("sleds"))
    marts = release_institution_marts(run_id="changed", clauses=clauses_for("institution_mart"))
    log = read_disclosures()
    assert len(log) == entries + 1, "only the SLEDS release changed; the institution marts did not"
    assert not report.unchanged and report.disclosure == log[-1]
    assert log[-1]["changes"]["tables"] == {table: {"rows_added": 0, "rows_removed": removed}}
    assert log[-1]["changes"]["previous_content_sha256"] == next(
        e["content_sha256"] for e in reversed(log[:-1]) if e["recipient"] == "SLEDS"
    )
    assert len(marts.unchanged) == len(marts.manifests)
    assert verify_chain().ok
    rel = duckdb.connect(str(paths.sleds_release_db()), read_only=True)
    assert rel.execute(f"SELECT count(*) FROM {table} WHERE computed_grade = '03'").fetchall()[0][0] == 0
    rel.close()


# ------------------------------------------------------- builds, end to end (tiny)

K12_RELEASE_TABLES = {"rel_sleds__k12_accountability_students", "rel_sleds__pathways"}


def _release_folders(root: Path) -> dict[str, dict[str, bytes]]:
    """Each release folder out there (the SLEDS release, each institution mart, the public
    folder) and its files' bytes, keyed by the recipient its disclosure entries name."""
    out = {"SLEDS": _snapshot(root / "sleds"), "public": _snapshot(root / "public")}
    for mart in sorted((root / "institutions").iterdir()):
        out[f"institution {mart.name}"] = _snapshot(mart)
    return out


@pytest.mark.integration
def test_builds_in_a_row_disclose_nothing_again_and_a_changed_srm_file_only_what_it_changed(
    tiny_warehouse, tiny_feeds, tmp_path, monkeypatch
):
    import shutil

    from orchestration import runner

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    landing = Path(shutil.copytree(tiny_feeds / "landing", tmp_path / "landing"))
    lines: list[str] = []
    log = disclosure_log_path()
    folders, logged = _release_folders(paths.releases_dir()), log.read_bytes()

    # nothing new: nothing to do, in the time it takes to plan (no Dagster run)
    idle = runner.build(landing, emit=lines.append)
    assert idle.success and idle.message.startswith("nothing to do") and idle.steps == [], lines[-5:]
    # everything reloaded and rebuilt from the same files: every folder and the log byte for byte
    full = runner.build(landing, full=True, emit=lines.append)
    assert full.success, lines[-30:]
    assert "release unchanged: sleds_release" in "\n".join(lines)
    assert _release_folders(paths.releases_dir()) == folders and log.read_bytes() == logged

    # one SRM file changed (every correction in it flips the migrant flag, which the SLEDS
    # release carries and no public table counts): only the releases whose content changed
    # are disclosed again
    srm = sorted(landing.glob("msds/*/msds_srm_*_01.csv"))[-1]
    edit(srm.parent, srm.name, lambda record: record.update(migrant={"Y": "N", "N": "Y"}[record["migrant"]]))
    entries = len(read_disclosures())
    changed = runner.build(landing, emit=lines.append)
    assert changed.success and changed.partitions_loaded == 1, "\n".join(lines[-40:])
    # only what a K-12 file can change was rebuilt: no postsecondary model, check or mart
    assert any("downstream of msds: " in line for line in lines)
    rebuilt = set(changed.materialized)
    assert "marts/fct_k12_accountability_students" in rebuilt and "release/sleds_release" in rebuilt
    assert not {"marts/fct_ps_enrollment", "staging/stg_ps__awards", "release/institution_marts"} & rebuilt, sorted(
        rebuilt
    )
    # the K-12 feed's raw re-check ran again, the postsecondary feeds' did not
    assert "raw/msds:engines_agree" in changed.checked and not any(c.startswith("raw/ps_") for c in changed.checked), (
        changed.checked
    )
    new = read_disclosures()[entries:]
    after = _release_folders(paths.releases_dir())
    differing = {recipient for recipient in folders if after.get(recipient) != folders[recipient]}
    assert {e["recipient"] for e in new} == differing and len(new) == len(differing)
    assert "SLEDS" in differing and "public" not in differing, "the corrections change the K-12 release only"
    assert not any(r.startswith("institution ") for r in differing), "a K-12 file cannot change a college's mart"
    (sleds,) = [e for e in new if e["recipient"] == "SLEDS"]
    assert set(sleds["changes"]["tables"]) <= K12_RELEASE_TABLES and sleds["changes"]["tables"]
    assert verify_chain().ok

    # a correction under published counts (genders swapped): the build stops the publication
    # and says which counts would change; the public folder stays, the SLEDS release is disclosed
    edit(srm.parent, srm.name, lambda rec: rec.update(gender={"F": "M", "M": "F"}.get(rec["gender"], rec["gender"])))
    folders, entries = after, len(read_disclosures())
    corrected = runner.build(landing, emit=lines.append)
    assert not corrected.success and corrected.exit_code == 1
    said = "\n".join(lines)
    assert "published count(s) in k12_enrollment_by_gender" in said and "would change" in said
    now = _release_folders(paths.releases_dir())
    assert now["public"] == folders["public"]
    assert [e["recipient"] for e in read_disclosures()[entries:]] == ["SLEDS"] and now["SLEDS"] != folders["SLEDS"]
    assert verify_chain().ok


@pytest.mark.integration
def test_a_registry_edit_rebuilds_what_the_agreements_decide_and_discloses_what_changed(
    tiny_warehouse, tiny_feeds, tmp_path, monkeypatch
):
    from orchestration import runner
    from tests.test_agreements import registry_copy

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    registry = registry_copy(tmp_path / "registry")
    monkeypatch.setenv("SLEDS_AGREEMENTS_DIR", str(registry))  # the same files elsewhere: nothing changed
    lines: list[str] = []
    assert runner.build(tiny_feeds / "landing", emit=lines.append).message.startswith("nothing to do")
    folders, entries = _release_folders(paths.releases_dir()), len(read_disclosures())
    marts = sorted(name.split(" ", 1)[1] for name in folders if name.startswith("institution "))
    # the first institution with a mart withdraws permission to be named in the SLEDS release
    edit(registry, "agreements.csv", lambda r: r.update(permit_institution_identification="N")
         if r["institution_code"] == marts[0] else None)  # fmt: skip
    edited = runner.build(tiny_feeds / "landing", emit=lines.append)
    assert edited.success, "\n".join(lines[-30:])
    assert "downstream due: registry" in lines and any("what the agreements decide:" in line for line in lines)
    # the long steps say what they are doing: identity is not run; the publication's audit rounds are
    working = [line for line in lines if " working " in line]
    assert any("audit round 1: outsider reader: bounding" in line for line in working), working[-10:]
    rebuilt = set(edited.materialized)
    assert {"governance/agreements", "release_sleds/rel_sleds__ps_enrollment", "release/sleds_release"} <= rebuilt
    assert not {"identity/research_ids", "marts/fct_k12_accountability_students",
                "staging/stg_msds__records"} & rebuilt, sorted(rebuilt)  # fmt: skip
    assert not any(c.endswith(":engines_agree") for c in edited.checked), "no feed changed: no re-check"
    new = read_disclosures()[entries:]
    after = _release_folders(paths.releases_dir())
    differing = {recipient for recipient in folders if after.get(recipient) != folders[recipient]}
    assert {e["recipient"] for e in new} == differing and "SLEDS" in differing
    assert verify_chain().ok
