"""The landing folder is read as it is, and what is not loaded is said: symbolic links
are not followed, hidden and half-written files are left, a misspelt feed folder is
named, an unreadable feed folder stops the build, and partitions whose files are gone
are reported."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from orchestration.lib.ingest.landing import LandingError, discover, survey
from orchestration.lib.ingest.plan import plan, removed_partitions
from tests.conftest import copy_home


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


def test_partitions_whose_files_are_gone_are_reported_and_stay(tiny_warehouse, tiny_feeds, tmp_path, monkeypatch):
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
