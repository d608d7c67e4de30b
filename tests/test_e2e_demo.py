"""End to end: what `make demo` does, in a fresh SLEDS_HOME, through the CLI."""

import json
import subprocess

import duckdb
import pytest

from orchestration.lib.reference import FEEDS
from tests.conftest import subprocess_env, venv_bin
from tests.test_folder_attacker import attack_folder

pytestmark = pytest.mark.e2e


def run(args, env, timeout=900):
    return subprocess.run([venv_bin("sleds"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_demo_generates_builds_and_answers_queries(tmp_path):
    home = tmp_path / "home"
    env = subprocess_env(SLEDS_HOME=str(home))
    env.pop("SLEDS_LANDING", None)
    gen = run(["generate", "--scale", "demo", "--seed", "42", "--out", str(home / "demo")], env)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    build = run(["build"], env)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    out = build.stdout
    assert "marts succeeded" in out
    for feed in FEEDS:
        assert f"ingest {feed}:" in out  # one run per feed ...
    assert "partition 2021-22_fall:" in out and "quarantined (new)" in out  # ... a progress line per partition
    assert "materialized staging/stg_msds__records" in out
    for feed in FEEDS:  # each raw asset's blocking re-check
        assert f"checked      raw/{feed}:engines_agree passed" in out
    assert "make ui" in out and "sleds query" in out  # where to look next
    # the re-checks left Great Expectations' own Data Docs, a page per feed's latest validation
    docs = home / "reports" / "data_docs"
    assert (docs / "index.html").exists()
    for feed in FEEDS:
        assert list((docs / "validations" / f"{feed}_ingest").rglob("*.html")), feed
    summary = json.loads((home / "demo" / "generation.json").read_text())
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    for feed, model in (("msds", "stg_msds__records"), ("ps_awards", "stg_ps__awards")):
        loaded = wh.execute(f"select count(*) from staging.{model}").fetchone()[0]
        quarantined = wh.execute(f"select count(*) from raw.{feed}_quarantine").fetchone()[0]
        assert quarantined > 0 and loaded + quarantined == summary["rows"][feed]
    # every dbt asset's latest materialization (seeds and staging views too) carries its row
    # count under Dagster's standard key, equal to the rows the warehouse holds, and dbt's timing
    from orchestration.defs.marts import ROW_COUNT, sleds_dbt_models
    from orchestration.lib.dbt_prepare import ensure_manifest
    from orchestration.runner import instance

    nodes = json.loads(ensure_manifest().read_text())["nodes"]
    dagster = instance(home)
    for key in sleds_dbt_models.keys:
        event = dagster.get_latest_materialization_event(key)
        assert event is not None, f"{key.to_user_string()} was never materialized"
        metadata = event.asset_materialization.metadata
        assert ROW_COUNT in metadata and "dbt/execution_seconds" in metadata, key.to_user_string()
        node = nodes[metadata["unique_id"].value]
        rows = wh.execute(f'select count(*) from "{node["schema"]}"."{node["alias"]}"').fetchone()[0]
        assert metadata[ROW_COUNT].value == rows, key.to_user_string()
    # the build left the vault sealed: no plain DuckDB file of it, nothing for others to read
    assert (home / "vault" / "vault.duckdb.sealed").exists() and not (home / "vault" / "vault.duckdb").exists()
    assert (home / "vault").stat().st_mode & 0o077 == 0
    wh.close()
    q = run(
        [
            "query",
            "--warehouse",
            "select (select count(*) from staging.stg_ps__enrollment) + "
            "(select count(*) from raw.ps_enrollment_quarantine) as n",
            "--format",
            "csv",
        ],
        env,
    )
    assert q.returncode == 0 and q.stdout.splitlines()[-1] == str(summary["rows"]["ps_enrollment"])

    # a second build finds nothing new to load and leaves every warehouse table identical
    def fingerprint():
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            return {
                t: con.execute(f"select count(*), sum(hash(x)) from {t} x").fetchone()
                for t in (
                    "raw.msds",
                    "raw.msds_quarantine",
                    "raw.ps_enrollment",
                    "raw.ps_awards",
                    "ingest.quarantine_reasons",
                    "ingest.partition_loads",
                )
            }
        finally:
            con.close()

    def released():  # every release folder's bytes and the disclosure log's
        files = sorted(p for p in (home / "releases").rglob("*") if p.is_file())
        log = home / "governance" / "disclosure_log.jsonl"
        return {p.relative_to(home).as_posix(): p.read_bytes() for p in [*files, log]}

    before, shipped = fingerprint(), released()
    again = run(["build"], env)
    assert again.returncode == 0 and "0 to load" in again.stdout
    # ... has nothing to do (no Dagster run), and writes and discloses nothing again
    assert "nothing to do" in again.stdout and "materialized" not in again.stdout
    assert fingerprint() == before and released() == shipped
    # the query command cannot reach the vault
    vault = home / "vault" / "vault.duckdb"
    for args in (["query"], ["query", "--warehouse"]):
        sneaky = run([*args, f"attach '{vault}' as v; select count(*) from v.landing.msds_identity"], env)
        assert sneaky.returncode == 2 and "vault" in sneaky.stderr
    # researchers query the SLEDS release; every release, mart and publication is in the disclosure log
    rel = run(["query", "select count(*) from rel_sleds__pathways", "--format", "csv"], env)
    assert rel.returncode == 0 and int(rel.stdout.splitlines()[-1]) > 0
    assert (home / "releases" / "public" / "manifest.json").exists()
    # an exact integer attacker reading the demo's public folder (its only knowledge) recovers
    # no hidden cell: every component of up to 40 targets whole, 40 drawn in each larger one
    found, checked = attack_folder(home / "releases" / "public", sample=40)
    assert checked > 300 and found == [], found[:10]
    verify = run(["audit", "--verify"], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
