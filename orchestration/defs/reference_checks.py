"""Reference data: the check every release of K-12 records waits for.

Check `reference_data_complete` on `intermediate/int_msds__records`: every seed row the
loaded MSDS records need is in the seeds - the collection calendar's row for each school
year and collection they were reported in, and the K-12 directory's row for each building
(their own and their S2E2 score-back building) and district
(orchestration/lib/reference_completeness.py). The models keep a record whose key a seed
lacks (no row dropped, no district filled in from another); this check is what makes the
gap fail the build, with one line per missing row naming the seed file and the row to add.

Blocking, on the same asset as the K-12 reconciliation (quality.release_gates): the SLEDS
release and the public summaries depend on it, so a failure skips them in the same run
(nothing written, nothing disclosed); the institution marts hold no K-12 record and do not
wait. It runs whenever the MSDS models do: after a K-12 load, and in every full rebuild, which
is what an edited seed starts."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.ingest import WAREHOUSE_POOL
from orchestration.defs.quality import blocked_line, reconciled_key
from orchestration.lib import storage
from orchestration.lib.reference_completeness import BUILDINGS, CALENDAR, DISTRICTS, missing_reference

REFERENCE_COMPLETE = "reference_data_complete"
FEED = "msds"
CHECKED = reconciled_key(FEED)  # intermediate/int_msds__records
SEEDS = [dg.AssetKey(["reference", seed]) for seed in (CALENDAR, BUILDINGS, DISTRICTS)]
SHOWN = 8  # problems named in the failure's one line; all are in the check's metadata


def check_key() -> dg.AssetCheckKey:
    return dg.AssetCheckKey(CHECKED, REFERENCE_COMPLETE)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            REFERENCE_COMPLETE,
            asset=CHECKED,
            additional_deps=SEEDS,
            blocking=True,
            description="Every collection calendar row (seeds/msds_collection_calendar.csv) and K-12 directory "
            "row (seeds/k12_buildings.csv, seeds/k12_districts.csv) the loaded MSDS records need is in the seeds; "
            "a missing one fails the build naming the seed row to add, and releases wait.",
        )
    ],
    name=f"{FEED}_reference_data_complete",
    pool=WAREHOUSE_POOL,
)
def msds_reference_data_complete():
    with storage.warehouse() as con:
        problems = missing_reference(con)
    yield dg.AssetCheckResult(
        asset_key=CHECKED,
        check_name=REFERENCE_COMPLETE,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "missing_rows": len(problems),
            "records_affected": sum(p.records for p in problems),
            "problems": dg.MetadataValue.json([p.as_dict() for p in problems]),
        },
    )
    if problems:
        named = "; ".join(p.message() for p in problems[:SHOWN])
        more = f"; and {len(problems) - SHOWN} more (the check's metadata lists them)" if len(problems) > SHOWN else ""
        problem = f"reference data missing for loaded {FEED} records: {named}{more}"
        raise dg.Failure(blocked_line(f"{CHECKED.to_user_string()}:{REFERENCE_COMPLETE}", problem, FEED))


defs = dg.Definitions(asset_checks=[msds_reference_data_complete])
