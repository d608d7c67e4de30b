"""Releases wait for quality: a failed re-check or reconciliation holds back every release
and publication that holds the feed's records, in the same run.

On a copy of the built tiny warehouse: a loaded K-12 record that lost its identity (a real
data fault: the record is in raw.msds, its vault row and research ID are not) fails the
reconciliation; then the GX re-check of the awards finds a row the SQL engine did not. Each
build exits 1 with one line naming the failed check and the releases it held back, and
every release folder, the public folder and the disclosure log stay byte for byte as they
were. With the fault gone, a rebuild writes and discloses nothing new either."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs import quality
from orchestration.defs.ingest import recheck_check_key
from orchestration.lib import paths
from orchestration.lib.governance.disclosure_log import disclosure_log_path, verify_chain
from tests.conftest import copy_home
from tests.test_release_content import _release_folders

RELEASES = [quality.SLEDS_RELEASE, quality.INSTITUTION_MARTS, quality.PUBLIC_SUMMARIES]
LOST_TOKEN = "0" * 32  # a record token no load ever gives (tokens are random hex)


def _upstream_steps(plan, step_key: str) -> set[str]:
    step = plan.get_step_by_key(step_key)
    return {h.step_key for i in step.step_inputs for h in i.get_step_output_handle_dependencies()}


def _all_upstream_steps(plan, step_key: str) -> set[str]:
    seen, todo = set(), [step_key]
    while todo:
        for up in _upstream_steps(plan, todo.pop()) - seen:
            seen.add(up)
            todo.append(up)
    return seen


def test_every_release_step_waits_for_the_blocking_checks_of_its_feeds():
    from dagster._core.execution.api import create_execution_plan

    from orchestration.definitions import defs

    plan = create_execution_plan(defs.resolve_job_def("marts"))
    graph = defs.resolve_asset_graph()
    for release in RELEASES:
        waits_for = _upstream_steps(plan, "__".join(release.path))
        for feed in quality.RELEASE_FEEDS[release]:
            # the raw asset's re-check gates everything built from the feed, the releases through the models
            assert f"{feed}_contract_recheck" in _all_upstream_steps(plan, "__".join(release.path)), (release, feed)
            assert f"{feed}_contract_recheck" in _upstream_steps(plan, "sleds_dbt_models"), feed
            assert f"{feed}_records_reach_the_models" in waits_for, (release, feed)
            for key in (
                recheck_check_key(feed),
                dg.AssetCheckKey(quality.reconciled_key(feed), quality.RECONCILED),
            ):
                assert graph.get_check_spec(key).blocking, key
    # the institution marts hold postsecondary records only: a K-12 fault does not hold them back
    assert "msds_records_reach_the_models" not in _upstream_steps(plan, "release__institution_marts")


def _lose_an_identity(warehouse: Path) -> None:
    """A K-12 record in the warehouse whose vault row (and so research ID) is gone."""
    con = duckdb.connect(str(warehouse))
    con.execute(
        "INSERT INTO raw.msds SELECT * REPLACE (? AS record_token, source_row + 1000000 AS source_row) "
        "FROM raw.msds ORDER BY source_file, source_row LIMIT 1",
        [LOST_TOKEN],
    )
    con.close()


def _restore(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    con.execute("DELETE FROM raw.msds WHERE record_token = ?", [LOST_TOKEN])
    con.close()


def _engines_disagree_on(feed: str):
    """recheck_feed as it is, except that GX also fails one row of `feed` the SQL engine passed
    (the engines are built to agree, so no data makes them differ: this stands in for a bug)."""
    real = quality.recheck_feed

    def recheck(name, warehouse, vault):
        report = real(name, warehouse, vault)
        if name == feed:
            report.only_gx = [("ps_awards_2020.csv", 7, 0)]
        return report

    return recheck


def _blocked(lines: list[str], check: str) -> str:
    (line,) = [x for x in lines if x.strip().startswith("failed:") and f"releases blocked by check {check}:" in x]
    return line


@pytest.mark.integration
def test_a_failed_quality_check_writes_and_discloses_nothing(tiny_warehouse, tiny_feeds, tmp_path, monkeypatch):
    from orchestration import runner

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    landing = tiny_feeds / "landing"
    folders, logged = _release_folders(paths.releases_dir()), disclosure_log_path().read_bytes()

    def unchanged() -> bool:
        return _release_folders(paths.releases_dir()) == folders and disclosure_log_path().read_bytes() == logged

    # the reconciliation: a K-12 record that reaches no model holds back what holds K-12 records
    _lose_an_identity(paths.warehouse_path())
    lines: list[str] = []
    lost = runner.build(landing, emit=lines.append)
    assert not lost.success and lost.exit_code == 1, lines[-20:]
    line = _blocked(lines, "intermediate/int_msds__records:loaded_records_reach_the_models")
    assert "1 without a research ID" in line
    assert "release/sleds_release" in line and "publish/public_summaries" in line
    assert "release/institution_marts" not in line, "the institution marts hold no K-12 record"
    assert not {"release/sleds_release", "publish/public_summaries"} & set(lost.materialized)
    assert not any("release written" in x for x in lines), [x for x in lines if "release" in x]
    assert unchanged()

    # the GX re-check: engines that disagree on the awards hold back every release
    _restore(paths.warehouse_path())
    with monkeypatch.context() as patch:
        patch.setattr(quality, "recheck_feed", _engines_disagree_on("ps_awards"))
        lines = []
        disagreed = runner.build(landing, emit=lines.append)
    assert not disagreed.success and disagreed.exit_code == 1, lines[-20:]
    line = _blocked(lines, "raw/ps_awards:engines_agree")
    assert all(r.to_user_string() in line for r in RELEASES), line
    assert "only GX: [('ps_awards_2020.csv', 7, 0)]" in line
    assert not {r.to_user_string() for r in RELEASES} & set(disagreed.materialized)
    assert unchanged()

    # the fault gone: the releases out there are still the ones the data make, so nothing new
    lines = []
    fixed = runner.build(landing, emit=lines.append)
    assert fixed.success, lines[-20:]
    assert any("release unchanged: sleds_release" in x for x in lines)
    assert unchanged() and verify_chain().ok
    assert runner.build(landing, emit=lines.append).message.startswith("nothing to do")
