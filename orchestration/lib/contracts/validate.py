"""Great Expectations re-checks the suite on chunks of staged rows.

The rows arrive with their derived columns (contracts.derived) from DuckDB as
Arrow batches; GX validates each as a pandas batch and reports failing rows by
`source_row`. The SQL engine (contracts.sql) decides quarantine for every row;
this engine's results must agree with it on every chunk it checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache

import pyarrow as pa

from orchestration.lib.contracts.data_docs import counts_only
from orchestration.lib.contracts.suites import Rule, SuiteError, gx_suite, load_rules


@dataclass
class GxResult:
    failures: set[tuple[str, int, int]] = field(default_factory=set)  # (source_file, source_row, rule index)
    rows: int = 0
    statistics: dict = field(default_factory=dict)
    validations: list[dict] = field(default_factory=list)  # each chunk's GX result, counts only (data_docs)


@cache
def _batch_definition(feed: str):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas(f"sleds_{feed}")
    return source.add_dataframe_asset(f"{feed}_chunk").add_batch_definition_whole_dataframe("chunk")


class GxChecker:
    """Runs the row-scope part of a feed's suite in GX, chunk by chunk."""

    def __init__(self, feed: str, rules: tuple[Rule, ...] | None = None):
        self.feed = feed
        self.rules = rules if rules is not None else load_rules(feed)
        self.suite = gx_suite(feed, self.rules)
        self.result = GxResult()

    def check(self, batch: pa.Table | pa.RecordBatch) -> set[tuple[str, int, int]]:
        """Failing (source_file, source_row, rule index) in this chunk."""
        if batch.num_rows == 0:
            return set()
        df = batch.to_pandas()
        for name in df.columns:
            if pa.types.is_string(batch.schema.field(name).type) or pa.types.is_large_string(
                batch.schema.field(name).type
            ):
                df[name] = df[name].astype(object)  # GX's string metrics expect object columns
        df["_gx_row"] = range(len(df))
        gx_batch = _batch_definition(self.feed).get_batch(batch_parameters={"dataframe": df})
        validation = gx_batch.validate(
            self.suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["_gx_row"],
                "return_unexpected_index_query": False,
                "partial_unexpected_count": 0,
            },
        )
        files = df["source_file"].tolist()
        rows = df["source_row"].tolist()
        found: set[tuple[str, int, int]] = set()
        for r in validation.results:
            index = r.expectation_config.meta["index"]
            if r.exception_info and r.exception_info.get("raised_exception"):
                raise SuiteError(
                    f"{self.feed} suite expectation #{index + 1} ({r.expectation_config.type}) could not run "
                    f"in Great Expectations: {r.exception_info.get('exception_message')}"
                )
            stats = self.result.statistics.setdefault(index, {"evaluated": 0, "unexpected": 0})
            res = r.result or {}
            stats["evaluated"] += int(res.get("element_count") or 0)
            for hit in res.get("unexpected_index_list") or []:
                i = int(hit["_gx_row"])
                found.add((files[i], int(rows[i]), index))
            stats["unexpected"] += len(res.get("unexpected_index_list") or [])
        self.result.validations.append(counts_only(validation.to_json_dict()))
        self.result.rows += batch.num_rows
        self.result.failures |= found
        return found
