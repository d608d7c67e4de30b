"""Measure the identity stage on an ingested SLEDS_HOME (no Dagster).

    /usr/bin/time -v python -m tools.measure_identity HOME [GROUND_TRUTH_DIR] [--retrain]

e.g. after `sleds generate --scale state --out /data/state` and ingesting it into
/tmp/state-home. Prints the run's counts and timings per step, records per minute,
peak memory of this process, and (with a ground-truth folder) the accuracy
headline; writes HOME/reports/linkage_accuracy.json. Counts only, never values.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        print(__doc__)
        return 2
    home = Path(args[0]).resolve()
    os.environ["SLEDS_HOME"] = str(home)
    from orchestration.lib.identity.accuracy import compute_accuracy, headline, write_report
    from orchestration.lib.identity.pipeline import run_identity

    began = time.monotonic()
    report = run_identity(
        home / "warehouse.duckdb", home / "vault" / "vault.duckdb", home, retrain="--retrain" in argv, progress=print
    )
    linkage = time.monotonic() - began
    run = report.as_dict()
    truth = Path(args[1]) if len(args) > 1 else None
    accuracy = compute_accuracy(home / "warehouse.duckdb", home / "vault" / "vault.duckdb", truth)
    write_report(run, accuracy, home / "reports" / "linkage_accuracy.json")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(run, indent=2))
    print(json.dumps(headline(run, accuracy), indent=2))
    print(
        f"linkage: {report.counts['records']:,} records in {linkage:.1f}s = "
        f"{report.counts['records'] / linkage * 60:,.0f} records/min; accuracy report "
        f"{time.monotonic() - began - linkage:.1f}s; peak RSS {peak_mb:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
