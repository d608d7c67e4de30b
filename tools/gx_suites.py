"""Render every value-in-set rule's `value_set` in expectations/<feed>.json from
seeds/code_sets.csv (the rule names its code set in `meta.code_set`), so the suite
files run unchanged in stock Great Expectations while a code is still added once, in
the seed.

Run `python -m tools.gx_suites` (or `make suites`) after changing a code set;
`--check` only reports the stale files (tests/test_contracts.py does the same).
"""

from __future__ import annotations

import argparse
import json
import sys

from orchestration.lib.contracts.suites import rendered_suite, suite_path, suite_text
from orchestration.lib.reference import FEEDS


def stale_suites() -> dict[str, str]:
    """feed -> the text its suite file should hold, for every file that differs."""
    out = {}
    for feed in FEEDS:
        path = suite_path(feed)
        current = path.read_text(encoding="utf-8")
        wanted = suite_text(rendered_suite(json.loads(current), path.name))
        if wanted != current:
            out[feed] = wanted
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the suites that are not rendered")
    args = parser.parse_args(argv)
    stale = stale_suites()
    for feed, text in stale.items():
        if args.check:
            print(f"{suite_path(feed)} is stale: run python -m tools.gx_suites")
        else:
            suite_path(feed).write_text(text, encoding="utf-8")
            print(f"rendered {suite_path(feed)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
