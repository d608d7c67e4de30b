"""The landing folder is read as it is, and what is not loaded is said: symbolic links
are not followed, hidden and half-written files are left, a misspelt feed folder is
named, an unreadable feed folder stops the build, and partitions whose files are gone
are reported, and retracted with `--prune`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from orchestration.lib.ingest.landing import LandingError, discover, survey
from orchestration.lib.ingest.plan import plan, removed_partitions
from tests.conftest import copy_home, open_vault


@pytest.fixture()
def landing(tiny_feeds, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_feeds / "landing", tmp_path / "landing"))


def test_what_no_feed_loads_is_listed_with_its_reason(landing, tmp_path):
    year = sorted((landing / "msds").iterdir())[0]
    outside = tmp_path / "outside.csv"
    outside.write_text("anything at all\n")
    (year / f"msds_spring_{year.name}.csv").unlink(missing_ok=True)
    os.symlink(outside, year / f"msds_spring_{year.name}.csv")  # a link out of the landing folder
    os.symlink(tmp_path, landing / "ps_awards" / "elsewhere")
    (year / ".DS_Store").write_bytes(b"\0")
    (year / f"msds_eoy_{year.name}.csv.partial").write_text("half")
    (landing / "msd").mkdir()  # a misspelt feed folder
    (landing / "msd" / f"msds_fall_{year.name}.csv").write_text("x")
    (landing / "README.txt").write_text("notes")
    found = {(s.path, s.why.split(" (")[0].split(",")[0]) for s in survey(landing)}
    rel = year.relative_to(landing).as_posix()
    assert found == {
        (f"{rel}/msds_spring_{year.name}.csv", "a symbolic link"),
        ("ps_awards/elsewhere", "a symbolic link"),
        (f"{rel}/.DS_Store", "hidden"),
        (f"{rel}/msds_eoy_{year.name}.csv.partial", "still being written"),
        ("msd", "not a feed folder"),
        ("README.txt", "not a feed folder"),
    }
    # a link named like a delivery would leave its partition short: the build stops instead
    with pytest.raises(LandingError, match=f"msds_spring_{year.name}.csv .a symbolic link"):
        discover(landing, "msds")
    (year / f"msds_spring_{year.name}.csv").unlink()
    loaded = {f.relpath for f in discover(landing, "msds")}
    assert loaded and not any(".partial" in f or ".DS_Store" in f for f in loaded)


def test_an_unreadable_feed_folder_stops_the_build_and_says_which(landing, monkeypatch, sleds_home):
    from orchestration import runner

    locked = sorted((landing / "ps_enrollment").iterdir())[0]
    real_scandir = os.scandir

    def scandir(path):  # root reads every folder, so the refusal is simulated
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(LandingError, match=f"{locked.name}.*Permission denied.*nothing was loaded"):
        discover(landing, "ps_enrollment")
    result = runner.build(landing, emit=lambda line: None)
    assert result.exit_code == 2 and "cannot be loaded" in result.message
    assert not (sleds_home / "warehouse.duckdb").exists()


def test_partitions_whose_files_are_gone_stay_until_pruned_and_prune_retracts_them_everywhere(
    tiny_warehouse, tiny_feeds, tmp_path, monkeypatch
):
    from orchestration import runner

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    landing = Path(shutil.copytree(tiny_feeds / "landing", tmp_path / "landing"))
    gone = sorted((landing / "ps_awards").iterdir())[-1]
    shutil.rmtree(gone)
    planned = plan(landing, home / "warehouse.duckdb")
    removed = removed_partitions(planned, home / "warehouse.duckdb")
    assert removed and all(feed == "ps_awards" for feed, _ in removed)
    lines: list[str] = []
    result = runner.build(landing, emit=lines.append)
    assert result.success  # nothing new to load; the removed partitions stay
    assert any("its files are gone: it stays in the warehouse" in line for line in lines), lines
    report = json.loads((home / "reports" / "landing.json").read_text())
    assert [(r["feed"], r["partition"]) for r in report["removed_partitions"]] == removed
    assert any("`sleds build --prune` retracts it" in line for line in lines)

    # --prune: the steward withdraws the delivery; its records leave the warehouse, the vault
    # and everything built from them, in the same build, and the retraction is logged
    import dagster as dg
    import duckdb

    from orchestration.lib.governance.activity_log import read_activity
    from orchestration.runner import instance

    def rows(con, table: str) -> int:
        keys = [k for _, k in removed]
        return con.execute(f"select count(*) from {table} where list_contains(?, partition_key)", [keys]).fetchone()[0]

    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    loaded = rows(wh, "raw.ps_awards") + rows(wh, "raw.ps_awards_quarantine")
    tokens = {t for (t,) in wh.execute("select record_token from raw.ps_awards").fetchall()}
    researchers_saw = wh.execute("select count(*) from release_sleds.rel_sleds__ps_awards").fetchone()[0]
    wh.close()
    assert loaded > 0
    # a landing folder holding none of a feed's files is more likely a wrong folder than a withdrawal
    bare = Path(shutil.copytree(landing, tmp_path / "bare"))
    shutil.rmtree(bare / "ps_awards")
    refused = runner.build(bare, prune=True, emit=lambda line: None)
    assert refused.exit_code == 2 and "would retract every partition of ps_awards" in refused.message
    # nor while a run (one started in the UI) may be writing
    ui_run = instance(home).add_run(dg.DagsterRun(job_name="marts", status=dg.DagsterRunStatus.STARTED))
    busy = runner.build(landing, prune=True, emit=lambda line: None)
    assert not busy.success and "--prune: nothing retracted while run" in busy.message
    instance(home).report_run_failed(ui_run, message="ended for the test")
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    assert rows(wh, "raw.ps_awards") + rows(wh, "raw.ps_awards_quarantine") == loaded, "nothing was retracted"
    wh.close()
    lines = []
    pruned = runner.build(landing, prune=True, emit=lines.append)
    assert pruned.success, "\n".join(lines[-30:])
    for feed, key in removed:
        assert any(line.startswith(f"retracted {feed} {key}: ") for line in lines), lines
    assert any("downstream due: new, changed or retracted partitions of ps_awards" in line for line in lines)
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    for table in ("raw.ps_awards", "raw.ps_awards_quarantine", "ingest.quarantine_reasons"):
        assert rows(wh, table) == 0, table
    latest = wh.execute(
        "select partition_key, arg_max(change, loaded_at) from ingest.partition_loads where feed = 'ps_awards' "
        "group by all having arg_max(change, loaded_at) = 'retracted' order by 1"
    ).fetchall()
    remaining = {t for (t,) in wh.execute("select record_token from raw.ps_awards").fetchall()}
    linked = {t for (t,) in wh.execute("select record_token from identity.record_research_ids").fetchall()}
    released = wh.execute("select count(*) from release_sleds.rel_sleds__ps_awards").fetchone()[0]
    wh.close()
    assert [k for k, _ in latest] == sorted(k for _, k in removed)
    assert not (tokens - remaining) & linked, "a retracted record still has a research ID"
    assert released < researchers_saw, "the SLEDS release was rebuilt without the retracted awards"
    vault = open_vault(home, tmp_path / "vault")
    for table in ("landing.ps_awards_identity", "landing.ps_awards_quarantine"):
        assert rows(vault, table) == 0, f"PII of a retracted partition left in the vault ({table})"
    vault.close()
    assert not set(removed) & {("ps_awards", k) for k in instance(home).get_dynamic_partitions("ps_awards_partitions")}
    entries = [e for e in read_activity(home) if e["action"] == "partition_retracted"]
    assert [(e["detail"]["feed"], e["detail"]["partition"]) for e in entries] == removed
    # retracted once: the next build neither reports the partitions nor retracts them again
    lines = []
    again = runner.build(landing, prune=True, emit=lines.append)
    assert again.success and again.message.startswith("nothing to do"), lines[-10:]
    assert not any("its files are gone" in line or line.startswith("retracted") for line in lines)
    # the delivery comes back: it loads again as a change of that partition
    shutil.copytree(tiny_feeds / "landing" / "ps_awards" / gone.name, gone)
    back = plan(landing, home / "warehouse.duckdb")
    assert {p.reason for p in back if (p.feed, p.key) in set(removed)} == {"changed"}
