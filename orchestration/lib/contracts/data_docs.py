"""The GX re-check's results in Great Expectations' own format, and its Data Docs.

Each build's re-check (contracts.recheck) validates a sample of every feed with the
suite file; what GX found is kept as a GX validation result in a file data context
under SLEDS_HOME/reports/gx, and the Data Docs site is rebuilt at
SLEDS_HOME/reports/data_docs/index.html, so a steward browses the suites and every
build's results with the tool they know.

The sample holds the vault's columns (names, SSNs, birthdates), and GX results quote
failing values (`partial_unexpected_list`, `unexpected_list`, index lists) and
fingerprint the data. So only counts leave this module: every result is cut down to
the keys in COUNT_KEYS (an allow-list: a key GX adds in a later version is dropped,
not written), and the chunks of one feed are summed into one result.
"""

from __future__ import annotations

import copy
import datetime as dt
import fcntl
import json
import logging
import shutil
from contextlib import contextmanager
from pathlib import Path

from orchestration.lib.contracts.suites import suite_path

COUNT_KEYS = ("element_count", "missing_count", "unexpected_count")
# the run's own facts GX keeps in a result's meta; batch_markers (load time, a
# fingerprint of the data) and anything else are dropped
META_KEYS = ("great_expectations_version", "active_batch_definition")


def counts_only(validation: dict) -> dict:
    """A GX suite validation result (to_json_dict()) with values and fingerprints removed."""
    out = {k: copy.deepcopy(validation.get(k)) for k in ("success", "suite_name", "suite_parameters", "statistics")}
    out["meta"] = {k: copy.deepcopy(validation["meta"][k]) for k in META_KEYS if k in validation.get("meta", {})}
    out["results"] = []
    for r in validation.get("results", []):
        result = r.get("result") or {}
        kept = {k: int(result[k]) for k in COUNT_KEYS if result.get(k) is not None}
        out["results"].append(
            {
                "success": r["success"],
                "expectation_config": copy.deepcopy(r["expectation_config"]),
                "result": kept,
                "meta": {},
                "exception_info": {
                    "raised_exception": bool((r.get("exception_info") or {}).get("raised_exception")),
                    "exception_traceback": None,  # a traceback can quote a value
                    "exception_message": None,
                },
            }
        )
    return out


def _percents(result: dict) -> dict:
    n, missing, bad = (result.get(k, 0) for k in COUNT_KEYS)
    present = n - missing
    return {
        **result,
        "missing_percent": 100.0 * missing / n if n else None,
        "unexpected_percent": 100.0 * bad / present if present else None,
        "unexpected_percent_total": 100.0 * bad / n if n else None,
        "unexpected_percent_nonmissing": 100.0 * bad / present if present else None,
    }


def merged(chunks: list[dict], facts: dict) -> dict:
    """One result for the feed from the counts-only results of its chunks (same suite, same order)."""
    if not chunks:
        raise ValueError("no GX results to merge")
    out = copy.deepcopy(chunks[0])
    for i, r in enumerate(out["results"]):
        parts = [c["results"][i] for c in chunks]
        r["success"] = all(p["success"] for p in parts)
        r["result"] = _percents({k: sum(p["result"].get(k, 0) for p in parts) for k in COUNT_KEYS})
        r["exception_info"]["raised_exception"] = any(p["exception_info"]["raised_exception"] for p in parts)
    good = sum(r["success"] for r in out["results"])
    total = len(out["results"])
    out["success"] = good == total
    out["statistics"] = {
        "evaluated_expectations": total,
        "successful_expectations": good,
        "unsuccessful_expectations": total - good,
        "success_percent": 100.0 * good / total if total else None,
    }
    out["meta"]["sleds"] = facts
    return out


@contextmanager
def _locked(folder: Path):
    # the feeds' re-checks may run side by side; GX's stores are plain files
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _context(reports: Path, docs: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="file", project_root_dir=str(reports))
    sites = ctx.variables.data_docs_sites or {}
    site = sites.get("local_site") or {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    site["store_backend"] = {"class_name": "TupleFilesystemStoreBackend", "base_directory": f"{docs}/"}
    site["show_how_to_buttons"] = False
    ctx.variables.data_docs_sites = {"local_site": site}
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ctx.variables.save()
    return ctx


# validation results kept per suite (GX keeps every one): each build that loads a feed adds
# one, and the ingest ledger holds every load's failures by rule anyway
KEEP_VALIDATIONS = 30


def _prune(reports: Path, docs: Path, suite: str, keep: int) -> list[str]:
    """Remove all but the `keep` latest validation results of `suite` from GX's store and
    their pages from the site (validations/<suite>/<run>/<UTC time>/...); returns the times removed."""
    store = reports / "gx" / "uncommitted" / "validations" / suite
    runs = sorted(store.glob("*/*"), key=lambda folder: folder.name) if store.exists() else []
    removed = []
    for folder in runs[: max(0, len(runs) - keep)]:
        run, at = folder.parent.name, folder.name
        for base in (store, docs / "validations" / suite):
            shutil.rmtree(base / run / at, ignore_errors=True)
            if (base / run).is_dir() and not any((base / run).iterdir()):
                (base / run).rmdir()
        removed.append(at)
    return removed


def publish(feed: str, result: dict, run_name: str, reports: Path, docs: Path, now: dt.datetime | None = None) -> Path:
    """Store `result` (counts only, see merged) as a GX validation result of the feed's suite,
    keep the KEEP_VALIDATIONS latest, and rebuild the Data Docs site; returns its index.html."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    doc = json.loads(suite_path(feed).read_text(encoding="utf-8"))
    with _locked(reports / "gx"):
        ctx = _context(reports, docs)
        ctx.suites.add_or_update(
            gx.ExpectationSuite(name=result["suite_name"], expectations=doc["expectations"], meta=doc.get("meta"))
        )
        run_time = now or dt.datetime.now(dt.UTC)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result["suite_name"]),
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
            batch_identifier=f"{feed}_recheck_sample",
        )
        ctx.validation_results_store.set(key, ExpectationSuiteValidationResultSchema().load(result))
        _prune(reports, docs, result["suite_name"], KEEP_VALIDATIONS)
        ctx.build_data_docs()
    return docs / "index.html"
