"""The suite files run unchanged in stock Great Expectations (no product loader), and
each build leaves GX's own validation results and Data Docs, counts only."""

import datetime as dt
import json
import re

import great_expectations as gx
import pytest

from orchestration.lib.contracts.data_docs import COUNT_KEYS
from orchestration.lib.contracts.derived import derived_select
from orchestration.lib.contracts.suites import suite_path
from orchestration.lib.reference import FEEDS, feed_layout
from tests.conftest import open_vault

# a column of each feed with a code set, and a code outside it
BAD_CODE = {
    "msds": ("grade", "99"),
    "assessment": ("subject", "XX"),
    "ps_enrollment": ("term_type", "X"),
    "ps_awards": ("award_type", "ZZ"),
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def clean_batches(tiny_warehouse, tmp_path_factory):
    """Per feed, the loaded rows of its largest file as ingest validates them: delivered
    columns (the vault's put back) plus the derived columns (docs/ingest.md)."""
    scratch = tmp_path_factory.mktemp("stock-gx")
    vault = open_vault(tiny_warehouse, scratch)
    vault.close()
    vault_file = tiny_warehouse / "vault" / "vault.duckdb"
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{tiny_warehouse / 'warehouse.duckdb'}' AS wh (READ_ONLY)")
    con.execute(f"ATTACH '{vault_file if vault_file.exists() else scratch / 'vault.duckdb'}' AS v (READ_ONLY)")
    batches = {}
    for feed in FEEDS:
        layout = feed_layout(feed)
        cols = ", ".join(
            [f"r.{_q(c.name)}" for c in layout if not c.pii] + [f"i.{_q(c.name)}" for c in layout if c.pii]
        )
        (biggest,) = con.execute(
            f"SELECT source_file FROM wh.raw.{feed} GROUP BY ALL ORDER BY count(*) DESC, source_file LIMIT 1"
        ).fetchone()
        con.execute(
            f"""CREATE TEMP TABLE rows_{feed} AS SELECT r.source_file, r.source_row, {cols}
            FROM wh.raw.{feed} r JOIN v.landing.{feed}_identity i USING (record_token)
            WHERE r.source_file = ? ORDER BY r.source_row""",
            [biggest],
        )
        batches[feed] = con.execute(f"SELECT {derived_select(feed)} FROM rows_{feed} ORDER BY source_row").df()
    con.close()
    return batches


def _validate(feed: str, df):
    """The suite file as any GX 1.x user loads it, run on `df`."""
    doc = json.loads(suite_path(feed).read_text())
    ctx = gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"], meta=doc.get("meta"))
    batch = (
        ctx.data_sources.add_pandas("steward")
        .add_dataframe_asset(feed)
        .add_batch_definition_whole_dataframe("b")
        .get_batch(batch_parameters={"dataframe": df})
    )
    return batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["source_row"]}
    )


@pytest.mark.parametrize("feed", FEEDS)
def test_each_suite_file_passes_a_clean_batch_in_stock_gx(clean_batches, feed):
    df = clean_batches[feed]
    assert len(df) >= 3  # the largest file of the tiny set: enough for one row to fail among passing ones
    result = _validate(feed, df)
    raised = [r.expectation_config.type for r in result.results if r.exception_info.get("raised_exception")]
    assert not raised, raised
    failed = [
        (r.expectation_config.meta.get("rule"), r.result.get("unexpected_count"))
        for r in result.results
        if not r.success
    ]
    assert failed == [], failed
    assert result.statistics["evaluated_expectations"] == len(json.loads(suite_path(feed).read_text())["expectations"])


@pytest.mark.parametrize("feed", FEEDS)
def test_one_bad_code_fails_exactly_that_row_and_rule_in_stock_gx(clean_batches, feed):
    column, code = BAD_CODE[feed]
    df = clean_batches[feed].copy()
    victim = int(df["source_row"].iloc[len(df) // 2])
    df.loc[df["source_row"] == victim, column] = code
    failed = [r for r in _validate(feed, df).results if not r.success]
    assert [(r.expectation_config.type, r.expectation_config.kwargs["column"]) for r in failed] == [
        ("expect_column_values_to_be_in_set", column)
    ]
    assert [hit["source_row"] for hit in failed[0].result["unexpected_index_list"]] == [victim]


def test_the_build_leaves_gx_results_and_data_docs_with_counts_only(tiny_warehouse, clean_batches):
    docs = tiny_warehouse / "reports" / "data_docs"
    assert (docs / "index.html").exists()
    stored = sorted((tiny_warehouse / "reports" / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert {p.parts[-4] for p in stored} == {f"{feed}_ingest" for feed in FEEDS}
    for path in stored:
        result = json.loads(path.read_text())
        assert result["meta"]["sleds"]["rows_checked"] > 0
        for r in result["results"]:
            assert set(r["result"]) <= {*COUNT_KEYS, "missing_percent", "unexpected_percent",
                                        "unexpected_percent_total", "unexpected_percent_nonmissing"}  # fmt: skip
    # no delivered PII value in anything GX wrote (results, suites, the site's pages)
    written = "\n".join(p.read_text(errors="replace") for p in (tiny_warehouse / "reports").rglob("*")
                        if p.is_file() and p.suffix in (".json", ".html"))  # fmt: skip

    # as whole values: a 5-digit zip code is also a substring of some random id GX writes
    # (an expectation id "55465abc-..." made this test flaky), which is no leak
    def whole(value: str) -> bool:
        return (
            value in written and re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", written) is not None
        )

    for feed in FEEDS:
        for column in (c.name for c in feed_layout(feed) if c.pii):
            values = {str(v) for v in clean_batches[feed][column].dropna() if len(str(v)) >= 5}
            leaked = sorted(v for v in values if whole(v))
            assert not leaked, (feed, column, leaked[:3])


def test_the_data_docs_keep_the_latest_validations_of_each_suite(tiny_warehouse, tmp_path, monkeypatch):
    """GX keeps every validation result; each build that loads a feed adds one, so only the
    KEEP_VALIDATIONS latest stay, in the store and on the site alike."""
    from orchestration.lib.contracts import data_docs

    stored = sorted((tiny_warehouse / "reports" / "gx" / "uncommitted" / "validations" / "msds_ingest").rglob("*.json"))
    result = json.loads(stored[-1].read_text())
    reports, docs = tmp_path / "reports", tmp_path / "reports" / "data_docs"
    monkeypatch.setattr(data_docs, "KEEP_VALIDATIONS", 2)
    for day in (1, 2, 3):
        at = dt.datetime(2026, 12, day, 9, tzinfo=dt.UTC)
        data_docs.publish("msds", result, f"run-{day}", reports, docs, now=at)
    kept = sorted(
        p.parent.name for p in (reports / "gx" / "uncommitted" / "validations" / "msds_ingest").rglob("*.json")
    )
    pages = sorted(p.parent.name for p in (docs / "validations" / "msds_ingest").rglob("*.html"))
    assert [k[:8] for k in kept] == [p[:8] for p in pages] == ["20261202", "20261203"]
    assert not (reports / "gx" / "uncommitted" / "validations" / "msds_ingest" / "run-1").exists()
    index = (docs / "index.html").read_text()
    assert "run-1" not in index and "run-2" in index and "run-3" in index
