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
    for setting in ("SLEDS_ACCESS_FILE", "SLEDS_QUERY_TIMEOUT_S", "SLEDS_QUERY_MEMORY_LIMIT"):
        monkeypatch.delenv(setting, raising=False)  # no access file: the owner of the home holds every role
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


# ------------------------------------------------------------ the parser-based guard

# every escape attempt the old keyword guard refused, and more: all must stay refused
ESCAPES = {
    "attach 'x.duckdb' as v": "ATTACH",
    "detach sleds_release": "DETACH",
    "/* hidden */ attach 'x' as v": "ATTACH",
    "select 1; attach 'x' as v": "ATTACH",
    "copy rel_sleds__ps_awards to 'out.csv'": "COPY",
    "copy (select 1) to 'x.parquet'": "COPY",
    "export database 'out'": "EXPORT",
    "import database 'in'": "PRAGMA",
    "install httpfs": "INSTALL",
    "load httpfs": "LOAD",
    "update extensions": "UPDATE",
    "pragma version": "PRAGMA",
    "set enable_external_access = true": "SET statements",
    "reset lock_configuration": "SET",
    "use memory": "USE",
    "checkpoint": "CALL",
    "call pragma_version()": "CALL",
    "explain select 1": "EXPLAIN",
    "explain analyze select 1": "EXPLAIN",
    "create table t as select 1": "CREATE statements",
    "create macro m() as 1": "CREATE",
    "with a as (select 1) insert into t select 1": "INSERT",
    "prepare p as select 1": "PREPARE",
    "pivot rel_sleds__ps_awards on award_group using count(*)": "PIVOT",
    "select 1; select 2": "one statement",
    "select * from read_parquet('releases/sleds/parquet/rel_sleds__ps_awards.parquet')": "read_parquet()",
    "select * from read_csv_auto('x')": "read_csv_auto()",
    "select * from read_text('/etc/passwd')": "read_text()",
    "from glob('*')": "glob()",
    "from sniff_csv('x.csv')": "sniff_csv()",
    "from query('select 1')": "query()",
    "from query_table('rel_sleds__ps_awards')": "query_table()",
    "from duckdb_secrets()": "duckdb_secrets()",
    "from duckdb_settings()": "duckdb_settings()",
    "from duckdb_databases()": "duckdb_databases()",
    "from checkpoint()": "checkpoint()",
    "from json_execute_serialized_sql('x')": "json_execute_serialized_sql()",
    "from system.main.read_csv('x')": "read_csv()",
    "select getenv('HOME')": "getenv()",
    "select system.main.getenv('HOME')": "getenv()",
    "select current_setting('temp_directory')": "current_setting()",
    "select * from 'rel.parquet'": "file path",
    "from '/etc/passwd'": "file path",
    'select * from "../warehouse.duckdb"': "file path",
    "select * from rel_sleds__ps_awards natural join 'other.csv'": "file path",
    "select * from 'https://example.org/x'": "file path",
    "select * from vault.landing.msds_identity": "vault",
    'select * from "VAULT".landing.ps_awards_identity': "vault",
    "describe vault.landing.msds_identity": "vault",
    "select * from warehouse.staging.stg_ps__awards": "warehouse",
    "select * from staging.stg_ps__awards": "internal schema",
    "show tables from staging": "internal schema",
    "select * from rel_sleds__ps_awards where research_id in (select research_id from identity.links)": "identity",
    "select * from not_a_release_table": "not a table of this release",
    "select * from system.main.duckdb_settings": "not a table",
    "select * from temp.main.t": "not a table",
    "show databases": "SHOW DATABASES",
    # a CTE is a name only where it is in scope: outside, the same name is a table again
    "select * from (with t as (select 1) select * from t), t": "not a table",
    "with a as (select * from b), b as (select 1) select * from a": "not a table",
    "select 1 +": "does not parse",
}

# harmless SQL the keyword guard refused, and shapes every query tool allows
HARMLESS = [
    "select avg(cumulative_debt) as load from rel_sleds__ps_awards",
    "select 1 as vault_count",
    "select 1 as warehouse",
    "select award_group as copy, count(*) as export from rel_sleds__ps_awards group by 1",
    "select count(*) as attach from rel_sleds__ps_awards where award_group <> 'vault/warehouse.duckdb'",
    "select 'read_parquet(x)' as text, 'staging.x' as other",
    "show tables",
    "show all tables",
    "describe rel_sleds__ps_awards",
    "show rel_sleds__ps_awards",
    "summarize select award_group from rel_sleds__ps_awards",
    "from rel_sleds__ps_awards limit 1",
    "from 'rel_sleds__ps_awards' limit 1",
    "select * from sleds_release.main.rel_sleds__ps_awards limit 1",
    "select * from main.rel_sleds__ps_awards limit 1",
    "select table_name from information_schema.tables",
    "select column_name from information_schema.columns where table_name = 'rel_sleds__ps_awards'",
    "with awards as (select * from rel_sleds__ps_awards), n as (select count(*) as n from awards) select n from n",
    "with recursive r as (select 1 as i union all select i + 1 from r where i < 3) select * from r",
    "select * from (values (1, 'a'), (2, 'b')) as v(n, s)",
    "select * from range(3) as r(i), unnest([1, 2]) as u(j)",
    "select * from generate_series(1, 3)",
    "select x from (select award_group as x from rel_sleds__ps_awards) where x in (select award_group from "
    "rel_sleds__ps_awards)",
    "select list_transform([1, 2], lambda x: x + 1) as l, {'a': 1}.a as s",
    "select award_group, count(*) filter (where gender_identity_a is null) from rel_sleds__ps_awards group by all",
    "select * from rel_sleds__ps_awards pivot (count(*) for award_group in ('x', 'y')) limit 1",
]


@pytest.fixture(scope="module")
def release_catalog_of_sleds(released):
    from orchestration.lib.governance.query_access import release_catalog

    con = open_release(resolve_release("sleds", released))
    try:
        return release_catalog(con)
    finally:
        con.close()


@pytest.mark.parametrize("sql", list(ESCAPES))
def test_every_escape_attempt_is_refused_by_the_parser_guard(sql, release_catalog_of_sleds):
    with pytest.raises(QueryRefused) as refused:
        check_sql(sql, release_catalog_of_sleds)
    assert ESCAPES[sql] in str(refused.value) and str(refused.value).startswith("refused"), str(refused.value)


@pytest.mark.parametrize("sql", HARMLESS)
def test_harmless_sql_is_not_refused_and_runs(sql, home):
    from orchestration.lib.governance.query_access import run_query

    check_sql(sql, None)  # the shape alone passes too
    run_query(sql, resolve_release("sleds"))  # checked against the release's own tables, then run


def test_false_refusals_of_the_keyword_guard_now_run_through_the_cli(home, capsys):
    code, out, err = _query(capsys, "select 1 as vault_count, 2 as load", "--format", "csv")
    assert code == 0 and out.splitlines() == ['"vault_count","load"', "1,2"], err


def _activity_entries(home):
    from orchestration.lib.governance.activity_log import read_activity

    return read_activity(home)


def test_every_query_start_is_logged_with_an_id_its_end_carries(home, capsys):
    before = len(_activity_entries(home))
    assert _query(capsys, "select 1 as n")[0] == 0
    assert _query(capsys, "select * from staging.stg_ps__awards")[0] == 2
    assert _query(capsys, "select * from rel_sleds__ps_awards where award_group = 1 + 'x'")[0] == 1
    entries = _activity_entries(home)[before:]
    started = [e for e in entries if e["action"] == "query_started"]
    ended = [e for e in entries if e["action"] != "query_started"]
    assert len(started) == 3 and len(ended) == 3
    assert [e["detail"]["query_id"] for e in started] == [e["detail"]["query_id"] for e in ended]
    assert len({e["detail"]["query_id"] for e in started}) == 3
    assert [(e["action"], e["detail"]["outcome"]) for e in ended] == [
        ("query", "ok"), ("query_refused", "refused"), ("query_failed", "error")]  # fmt: skip
    assert started[0]["detail"]["sql"] == "select 1 as n" and ended[0]["detail"]["rows"] == 1


# ------------------------------------------------------------------------ limits


def test_a_runaway_query_is_stopped_at_the_time_limit_and_logged(home, capsys, monkeypatch):
    import time

    monkeypatch.setenv("SLEDS_QUERY_TIMEOUT_S", "1")
    before = len(_activity_entries(home))
    began = time.monotonic()
    code, out, err = _query(capsys, "select count(*) from range(1000000000) a, range(1000000000) b")
    assert time.monotonic() - began < 10
    assert code == 3 and out == ""
    assert "ran longer than the 1 s limit (SLEDS_QUERY_TIMEOUT_S); it was stopped" in err
    entries = _activity_entries(home)[before:]
    assert [e["action"] for e in entries] == ["query_started", "query_failed"]
    assert entries[1]["detail"]["outcome"] == "timeout"
    assert entries[0]["detail"]["query_id"] == entries[1]["detail"]["query_id"]


def test_the_memory_cap_stops_a_query_with_a_message_naming_the_setting(home, capsys, monkeypatch):
    monkeypatch.setenv("SLEDS_QUERY_MEMORY_LIMIT", "40MB")
    code, out, err = _query(capsys, "select list(i) from range(100000000) r(i)")
    assert code == 1 and out == ""
    assert "more memory than the 40MB limit (SLEDS_QUERY_MEMORY_LIMIT)" in err, err
    last = _activity_entries(home)[-1]
    assert last["action"] == "query_failed" and last["detail"]["outcome"] == "error"


def test_limits_are_settings_and_apply_to_the_warehouse_too(home, monkeypatch):
    from orchestration.lib.governance.query_access import LimitsError, QueryLimits, query_limits

    monkeypatch.delenv("SLEDS_QUERY_TIMEOUT_S", raising=False)
    monkeypatch.delenv("SLEDS_QUERY_MEMORY_LIMIT", raising=False)
    assert query_limits() == QueryLimits(300.0, "2GB")
    assert query_limits({"query_timeout_s": 20, "query_memory_limit": "1GB"}) == QueryLimits(20.0, "1GB")
    monkeypatch.setenv("SLEDS_QUERY_TIMEOUT_S", "5")
    assert query_limits({"query_timeout_s": 20}).timeout_s == 5.0
    for name, value in (("SLEDS_QUERY_TIMEOUT_S", "0"), ("SLEDS_QUERY_TIMEOUT_S", "soon"),
                        ("SLEDS_QUERY_MEMORY_LIMIT", "lots")):  # fmt: skip
        monkeypatch.setenv(name, value)
        with pytest.raises(LimitsError, match=name):
            query_limits()
        monkeypatch.delenv(name)
    for release in (Release("warehouse", home / "warehouse.duckdb"), resolve_release("sleds")):
        con = open_release(release, QueryLimits(1, "100MB"))
        try:
            assert con.execute("select current_setting('memory_limit')").fetchall()[0][0] == "95.3 MiB"
            with pytest.raises(duckdb.Error):  # locked: no query lifts it
                con.execute("set memory_limit = '8GB'")
        finally:
            con.close()


def test_a_query_too_deep_to_walk_is_refused_with_a_message_not_a_traceback():
    deep = "select * from " + "(select * from " * 1000 + "rel_sleds__ps_awards" + ") x" * 1000
    with pytest.raises(QueryRefused, match="nested too deeply"):
        check_sql(deep)
