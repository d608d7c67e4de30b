"""Measure ingest + validation throughput on chosen partitions (no Dagster).

    python -m tools.measure_ingest LANDING HOME FEED:PARTITION [FEED:PARTITION ...]

e.g. after `sleds generate --scale state --out /data/state`:

    /usr/bin/time -v python -m tools.measure_ingest /data/state/landing /tmp/measure \\
        msds:2021-22_fall msds:2021-22_eoy ps_enrollment:FY2022_FA ps_awards:FY2022

Prints rows per second per partition and overall, peak memory, and the Great
Expectations re-check of the first feed. The full benchmark harness is `make bench`.
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from pathlib import Path

from orchestration.lib.contracts.recheck import recheck_feed
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.load import ingest_partition
from orchestration.lib.ingest.partitions import group_by_partition


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    landing, home = Path(argv[0]), Path(argv[1])
    shutil.rmtree(home, ignore_errors=True)
    warehouse, vault = home / "warehouse.duckdb", home / "vault" / "vault.duckdb"
    picks = [tuple(a.split(":", 1)) for a in argv[2:]]
    total, began = 0, time.monotonic()
    for feed, key in picks:
        files = group_by_partition(discover(landing, feed))[key]
        t = time.monotonic()
        r = ingest_partition(feed, key, files, warehouse, vault, home / "validation")
        dt = time.monotonic() - t
        total += r.rows_read
        print(
            f"{feed} {key}: {r.rows_read:,} rows, {r.rows_quarantined:,} quarantined, "
            f"{dt:.1f}s, {r.rows_read / dt:,.0f} rows/s",
            flush=True,
        )
    dt = time.monotonic() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total:,} rows in {dt:.1f}s = {total / dt:,.0f} rows/s; peak RSS {peak:,.0f} MB")
    t = time.monotonic()
    check = recheck_feed(picks[0][0], warehouse, vault)
    print(f"GX re-check {picks[0][0]}: {check.rows_checked:,} rows in {time.monotonic() - t:.1f}s, agree={check.agree}")
    return 0 if check.agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
