"""A run killed at any point leaves the warehouse on its previous good state, and
the next run completes."""

import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from orchestration.lib.paths import REPO_ROOT

pytestmark = pytest.mark.integration

# the ingest stage exactly as the raw/ps_awards asset runs it (in a child process, so
# a fault point can kill it)
SCRIPT = """
import sys
from pathlib import Path
from orchestration.lib.ingest.stage import ingest_feed
report = ingest_feed("ps_awards", landing=Path(sys.argv[1]), force=True)
sys.exit(1 if report.failed else 0)
"""


def ingest(home, landing, fault=None):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), SLEDS_HOME=str(home))
    env.pop("SLEDS_FAULT_POINT", None)
    if fault:
        env["SLEDS_FAULT_POINT"] = fault
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(landing)], env=env, capture_output=True, text=True, timeout=300
    )


def state(home):
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    vault = duckdb.connect(str(home / "vault" / "vault.duckdb"), read_only=True)
    try:
        rows = wh.execute("select partition_key, count(*) from raw.ps_awards group by 1 order by 1").fetchall()
        tokens = {
            t
            for (t,) in wh.execute(
                "select record_token from raw.ps_awards union all select record_token from raw.ps_awards_quarantine"
            ).fetchall()
        }
        vault_tokens = {t for (t,) in vault.execute("select record_token from landing.ps_awards_identity").fetchall()}
        ledger = wh.execute("select count(*) from ingest.partition_loads").fetchone()[0]
    finally:
        wh.close()
        vault.close()
    return rows, tokens, vault_tokens, ledger


@pytest.mark.parametrize("fault", ["ingest_after_read", "ingest_after_vault_insert", "ingest_after_warehouse_commit"])
def test_killed_ingest_leaves_a_consistent_warehouse_and_the_rerun_completes(tiny_feeds, tmp_path, fault):
    landing = tmp_path / "landing"
    shutil.copytree(tiny_feeds / "landing" / "ps_awards", landing / "ps_awards")
    home = tmp_path / "home"
    assert ingest(home, landing).returncode == 0
    rows_before, tokens_before, vault_before, ledger_before = state(home)
    killed = ingest(home, landing, fault)
    assert killed.returncode == 86, killed.stderr  # died at the fault point
    rows, tokens, vault_tokens, ledger = state(home)
    assert rows == rows_before  # same partitions, same counts: never half written
    assert tokens <= vault_tokens  # every warehouse row still has its identity in the vault
    if fault == "ingest_after_warehouse_commit":
        assert tokens != tokens_before and ledger == ledger_before + 1  # the first partition committed whole
    else:
        assert tokens == tokens_before and ledger == ledger_before
    again = ingest(home, landing)
    assert again.returncode == 0, again.stderr
    rows_after, tokens_after, vault_after, _ = state(home)
    assert rows_after == rows_before
    assert tokens_after == vault_after  # superseded vault rows are cleaned up
