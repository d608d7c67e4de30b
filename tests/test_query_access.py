"""Researcher access: `sleds query` against a release only, `sleds extract` with
project-scoped IDs, data dictionaries shipped with releases."""

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.cli import main
from orchestration.lib.governance.query_access import (
    QueryRefused,
    Release,
    check_sql,
    open_release,
    resolve_release,
)
from tests.conftest import copy_home

INTERNAL = ["raw", "ingest", "identity", "derived", "staging", "intermediate", "marts", "governance"]


def build_releases(home):
    """A built SLEDS_HOME with its SLEDS release and institution marts, as the build's
    release assets wrote them (the tiny warehouse is built by the real jobs)."""
    assert (home / "releases" / "sleds" / "manifest.json").exists(), "the build wrote no SLEDS release"
    assert any((home / "releases" / "institutions").iterdir()), "the build wrote no institution mart"
    return home


@pytest.fixture(scope="module")
def released(tiny_warehouse, tmp_path_factory):
    return build_releases(copy_home(tiny_warehouse, tmp_path_factory.mktemp("released") / "home"))


@pytest.fixture()
def home(released, monkeypatch):
    monkeypatch.setenv("SLEDS_HOME", str(released))
    monkeypatch.setenv("SLEDS_USER", "researcher.r")
    return released


def _query(capsys, *argv):
    code = main(["query", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_release_is_the_sleds_release(home, capsys):
    code, out, _ = _query(capsys, "select table_name from information_schema.tables order by 1", "--format", "csv")
    assert code == 0
    tables = out.splitlines()[1:]
    assert tables and all(t.strip('"').startswith("rel_sleds__") for t in tables)
    code, out, _ = _query(capsys, "select count(*) as n from rel_sleds__ps_enrollment", "--format", "csv")
    assert code == 0 and int(out.splitlines()[-1]) > 0
    code, out, _ = _query(capsys, "show tables")
    assert code == 0 and "rel_sleds__ps_awards" in out


def test_refuses_the_vault(home, capsys):
    vault = home / "vault" / "vault.duckdb"
    for sql in (
        f"attach '{vault}' as v; select count(*) from v.landing.msds_identity",
        f"select * from '{vault}'",
        "select * from vault.landing.msds_identity",
        'select * from "VAULT".landing.ps_awards_identity',
    ):
        code, out, err = _query(capsys, sql)
        assert code == 2 and out == "", sql
        assert "refused" in err and "vault" in err, (sql, err)
    entries = [json.loads(line) for line in (home / "governance" / "activity_log.jsonl").read_text().splitlines()]
    refused = [e for e in entries if e["action"] == "query_refused"]
    assert refused and refused[-1]["user"] == "researcher.r" and "vault" in refused[-1]["detail"]["reason"]


@pytest.mark.parametrize("schema", INTERNAL)
def test_refuses_internal_schemas(home, capsys, schema):
    for sql in (f"select * from {schema}.anything", f'select count(*) from "{schema}" . "anything"'):
        code, _, err = _query(capsys, sql)
        assert code == 2 and f"'{schema}' is an internal schema" in err, (sql, err)


def test_refuses_the_warehouse_files_and_writes(home, capsys):
    wh = home / "warehouse.duckdb"
    cases = {
        f"select * from '{wh}'": "warehouse",
        f"attach '{home}/x.duckdb' as w": "ATTACH",
        "select * from read_parquet('releases/sleds/parquet/rel_sleds__ps_awards.parquet')": "read_parquet()",
        "select * from read_csv_auto('x')": "read_csv_auto()",
        "copy rel_sleds__ps_awards to 'out.csv'": "COPY",
        "select * from 'rel.parquet'": "file path",
        "install httpfs": "INSTALL",
        "select 1; select 2": "one statement",
        "set enable_external_access = true": "SET statements",
        "create table t as select 1": "CREATE statements",
    }
    for sql, expected in cases.items():
        code, _, err = _query(capsys, sql)
        assert code == 2 and expected in err, (sql, err)


def test_string_values_and_columns_named_like_words_still_work(home, capsys):
    code, out, err = _query(
        capsys,
        "select count(*) from rel_sleds__ps_awards where award_group <> 'raw.text' and gender_identity_a is null "
        "-- a comment naming nothing",
        "--format", "csv",
    )  # fmt: skip
    assert code == 0, err


def test_engine_refuses_even_without_the_sql_check(home):
    """Defence in depth: the connection itself cannot reach any file."""
    con = open_release(resolve_release("sleds"))
    try:
        for sql in (f"attach '{home / 'vault' / 'vault.duckdb'}' as v", f"select * from '{home / 'warehouse.duckdb'}'",
                    "set enable_external_access = true"):  # fmt: skip
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        names = {r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()}
        assert names <= {"sleds_release", "system", "temp"}
    finally:
        con.close()


def test_institution_mart_and_public(home, capsys, tmp_path):
    marts = sorted(p.name for p in (home / "releases" / "institutions").iterdir())
    assert marts
    code, out, _ = _query(
        capsys, "select distinct institution_code from rel_institution__ps_enrollment", "--release",
        f"institution:{marts[0]}", "--format", "csv",
    )  # fmt: skip
    assert code == 0 and [v.strip('"') for v in out.split()[1:]] == [marts[0]]
    code, _, err = _query(capsys, "select 1", "--release", "institution:../../vault")
    assert code == 2 and "not an institution code" in err
    # public: the summary tables, loaded into memory, then no file access
    public = tmp_path / "home"
    (public / "releases" / "public" / "tables").mkdir(parents=True)
    pq.write_table(pa.table({"table_id": ["t1"], "display": ["12"]}), public / "releases/public/tables/t1.parquet")
    with pytest.raises(QueryRefused, match="not available"):
        resolve_release("public", tmp_path / "nothing built")  # a home with no public tables
    con = open_release(resolve_release("public", public))
    try:
        assert con.execute("select display from t1").fetchall() == [("12",)]
        with pytest.raises(duckdb.Error):
            con.execute(f"select * from '{public}/releases/public/tables/t1.parquet'")
    finally:
        con.close()


def test_warehouse_mode_for_engineers_still_refuses_the_vault(home, capsys):
    code, out, _ = _query(capsys, "select count(*) from staging.stg_ps__awards", "--warehouse", "--format", "csv")
    assert code == 0 and int(out.splitlines()[-1]) > 0
    code, _, err = _query(capsys, "select * from vault.landing.msds_identity", "--warehouse")
    assert code == 2 and "vault" in err
    with pytest.raises(QueryRefused):
        check_sql(f"attach '{home}/vault/vault.duckdb'", internal=True)
    assert isinstance(resolve_release("sleds"), Release)


def test_extract_with_project_ids_is_logged(home, capsys, tmp_path, monkeypatch):
    from orchestration.lib.governance.disclosure_log import disclosures_by_institution, verify_chain
    from orchestration.lib.identity.project_ids import project_research_id

    key = "ab" * 32
    monkeypatch.setenv("SLEDS_PROJECT_KEY_P_COLLEGE", key)
    out = tmp_path / "extract"
    code = main(["extract", "--project", "p-college", "--tables", "rel_sleds__ps_awards,rel_sleds__ps_enrollment",
                 "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["audience"] == "project:p-college" and set(manifest["tables"]) == {
        "rel_sleds__ps_awards", "rel_sleds__ps_enrollment"}  # fmt: skip
    awards = pq.read_table(out / "parquet" / "rel_sleds__ps_awards.parquet")
    assert "research_id" not in awards.column_names and awards.column_names[0] == "project_id"
    rel = duckdb.connect(str(home / "releases" / "sleds" / "sleds_release.duckdb"), read_only=True)
    try:
        rids = sorted(r[0] for r in rel.execute("select research_id from rel_sleds__ps_awards").fetchall())
    finally:
        rel.close()
    pids = awards.column("project_id").to_pylist()
    assert sorted(pids) == sorted(project_research_id(r, bytes.fromhex(key)) for r in rids)
    assert not set(pids) & set(rids) and awards.num_rows == manifest["tables"]["rel_sleds__ps_awards"]
    import hashlib

    for rel_path, digest in manifest["files"].items():
        assert hashlib.sha256((out / rel_path).read_bytes()).hexdigest() == digest
    dictionary = json.loads((out / "data_dictionary.json").read_text())
    cols = [c["name"] for c in dictionary["tables"]["rel_sleds__ps_awards"]["columns"]]
    assert cols[0] == "project_id" and "cumulative_debt" in cols
    # recorded as a disclosure, per institution, and the chain verifies
    assert verify_chain(home).ok
    entries = [json.loads(x) for x in (home / "governance" / "disclosure_log.jsonl").read_text().splitlines()]
    assert entries[-1]["kind"] == "extract" and entries[-1]["recipient"] == "project:p-college"
    assert entries[-1]["files"] == manifest["files"] and entries[-1]["institutions"]
    record = disclosures_by_institution(home)
    assert any(r["recipient"] == "project:p-college" for rs in record.values() for r in rs)
    assert "changes" not in entries[-1] and entries[-1]["content_sha256"] == manifest["content_sha256"]
    # the same extract again: a new copy handed over (a new entry), marked as a re-send of the first
    again = tmp_path / "extract-again"
    assert main(["extract", "--project", "p-college", "--tables", "rel_sleds__ps_awards,rel_sleds__ps_enrollment",
                 "--out", str(again)]) == 0  # fmt: skip
    resent = [json.loads(x) for x in (home / "governance" / "disclosure_log.jsonl").read_text().splitlines()][-1]
    assert resent["changes"] == {"resend_of": entries[-1]["seq"]}
    assert resent["content_sha256"] == manifest["content_sha256"]
    # the data files are byte for byte the same; only the dictionary's generation time may differ
    data_files = {k: v for k, v in manifest["files"].items() if not k.startswith("data_dictionary.")}
    assert {k: v for k, v in resent["files"].items() if k in data_files} == data_files
    # never written over; a project without a key gets a clear message
    assert main(["extract", "--project", "p-college", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().out
    assert main(["extract", "--project", "nokey", "--out", str(tmp_path / "x")]) == 2
    assert "no key for project 'nokey'" in capsys.readouterr().out


def test_data_dictionary_describes_every_release_column(home, tmp_path):
    import shutil

    from orchestration.lib.governance.data_dictionary import write_data_dictionary

    folder = tmp_path / "sleds"
    shutil.copytree(home / "releases" / "sleds", folder)
    dictionary = write_data_dictionary(folder, "release_sleds")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(dictionary["tables"]) == set(manifest["tables"])
    con = duckdb.connect(str(folder / "sleds_release.duckdb"), read_only=True)
    try:
        for table, entry in dictionary["tables"].items():
            actual = [r[0] for r in con.execute(f"describe {table}").fetchall()]
            assert [c["name"] for c in entry["columns"]] == actual
            assert all(c["description"].strip() for c in entry["columns"]), table
            assert entry["rows"] == manifest["tables"][table]
    finally:
        con.close()
    md = (folder / "data_dictionary.md").read_text()
    assert "## `rel_sleds__ps_awards`" in md and "| `cumulative_debt` |" in md
