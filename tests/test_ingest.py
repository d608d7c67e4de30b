"""Ingest skeleton on the tiny data set: nothing lost, PII only in the vault,
clear errors for unusable files."""

import shutil

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.generate.run import generate
from orchestration.lib.ingest.landing import LandingError, discover
from orchestration.lib.ingest.load import load_feed
from orchestration.lib.reference import FEEDS, feed_layout

pytestmark = pytest.mark.integration


def test_every_row_lands_once_and_pii_goes_only_to_the_vault(tiny_feeds, sleds_home):
    import json

    summary = json.loads((tiny_feeds / "generation.json").read_text())
    for feed in FEEDS:
        files = discover(tiny_feeds / "landing", feed)
        result = load_feed(feed, files, paths.warehouse_path(), paths.vault_path())
        assert result.rows == summary["rows"][feed]
        assert result.files == summary["files"][feed]
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    for feed in FEEDS:
        pii = {c.name for c in feed_layout(feed) if c.pii}
        wh_cols = {r[0] for r in wh.execute(f"describe raw.{feed}").fetchall()}
        vault_cols = {r[0] for r in vault.execute(f"describe landing.{feed}_identity").fetchall()}
        assert not (pii & wh_cols), f"PII in the warehouse: {pii & wh_cols}"
        assert pii <= vault_cols
        # one vault row per warehouse row, joined by a random token
        n_wh = wh.execute(f"select count(distinct record_token) from raw.{feed}").fetchone()[0]
        n_v = vault.execute(f"select count(distinct record_token) from landing.{feed}_identity").fetchone()[0]
        assert n_wh == n_v == summary["rows"][feed]
    # source rows are exact: row 1 of the first fall file is the first data line
    first = sorted((tiny_feeds / "landing" / "msds").rglob("msds_fall_*.csv"))[0]
    line = first.read_text().splitlines()[1].split(",")
    rel = first.relative_to(tiny_feeds / "landing").as_posix()
    got = vault.execute(
        "select uic from landing.msds_identity where source_file = ? and source_row = 1", [rel]
    ).fetchone()[0]
    assert got == line[3]


def test_reload_replaces_instead_of_duplicating(tiny_feeds, sleds_home):
    files = discover(tiny_feeds / "landing", "ps_awards")
    first = load_feed("ps_awards", files, paths.warehouse_path(), paths.vault_path())
    second = load_feed("ps_awards", files, paths.warehouse_path(), paths.vault_path())
    wh = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    assert wh.execute("select count(*) from raw.ps_awards").fetchone()[0] == first.rows == second.rows


def test_misnamed_file_is_reported_not_skipped(tmp_path):
    landing = tmp_path / "landing"
    (landing / "ps_awards" / "FY2022").mkdir(parents=True)
    (landing / "ps_awards" / "FY2022" / "awards_final.csv").write_text("x\n")
    with pytest.raises(LandingError, match="awards_final.csv"):
        discover(landing, "ps_awards")


def test_missing_column_fails_the_file_with_its_name(tmp_path, sleds_home):
    out = tmp_path / "feeds"
    generate("tiny", 5, out)
    victim = sorted((out / "landing" / "ps_awards").rglob("*.csv"))[0]
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")
    with pytest.raises(LandingError, match=r"missing \['cumulative_debt'\]"):
        load_feed(
            "ps_awards",
            discover(out / "landing", "ps_awards"),
            paths.warehouse_path(),
            paths.vault_path(),
        )


def test_landing_folder_that_does_not_exist_says_how_to_fix_it(tmp_path):
    with pytest.raises(LandingError, match="sleds generate"):
        discover(tmp_path / "nowhere", "msds")


def test_parquet_landing_files_load_like_csv(tmp_path, sleds_home):
    out = tmp_path / "pq"
    generate("tiny", 3, out, fmt="parquet")
    files = discover(out / "landing", "ps_enrollment")
    assert files and all(f.fmt == "parquet" for f in files)
    result = load_feed("ps_enrollment", files, paths.warehouse_path(), paths.vault_path())
    assert result.rows > 0
    shutil.rmtree(out)
