"""Reference data the pipeline is seeded with (the top-level `seeds/` folder).

Code sets, directories, calendars and feed layouts are data a steward edits,
not literals in code; this module is the one place Python reads them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.lib import paths


def read_seed(name: str, seeds_dir: Path | None = None) -> list[dict[str, str]]:
    """Rows of `seeds/<name>.csv` as dicts of strings (codes keep leading zeros)."""
    path = Path(seeds_dir or paths.SEEDS_DIR) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"seed file {path} is missing")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@cache
def code_sets() -> dict[str, dict[str, str]]:
    """code_set -> {code: description}."""
    out: dict[str, dict[str, str]] = {}
    for row in read_seed("code_sets"):
        out.setdefault(row["code_set"], {})[row["code"]] = row["description"]
    return out


def codes(code_set: str) -> list[str]:
    try:
        return list(code_sets()[code_set])
    except KeyError:
        raise KeyError(f"code set {code_set!r} is not in seeds/code_sets.csv") from None


@dataclass(frozen=True)
class FeedColumn:
    feed: str
    position: int
    name: str
    element_name: str
    logical_type: str
    code_set: str
    required: bool
    not_applicable_allowed: bool
    pii: bool
    description: str
    # the element the agreement may withhold that this column carries (agreement_restrictions.csv)
    restricted_element: str = ""


FEEDS = ("msds", "assessment", "ps_enrollment", "ps_awards")

# "Not Applicable" (agreement clause 10(a)(i)): the code an institution sends for a
# starred element it does not collect or does not disclose. Kept distinct from blank
# (unknown) all the way to the marts.
NOT_APPLICABLE = "NA"


def feed_layout(feed: str, seeds_dir: Path | None = None) -> tuple[FeedColumn, ...]:
    seeds_dir = Path(seeds_dir or paths.SEEDS_DIR)
    layout = seeds_dir / "feed_layouts.csv"
    # keyed on the file's state too, so an edited layout is read again
    stamp = (layout.stat().st_mtime_ns, layout.stat().st_size) if layout.exists() else None
    return _feed_layout(feed, seeds_dir, stamp)


@cache
def _feed_layout(feed: str, seeds_dir: Path, _stamp: tuple | None) -> tuple[FeedColumn, ...]:
    rows = [r for r in read_seed("feed_layouts", seeds_dir) if r["feed"] == feed]
    if not rows:
        raise KeyError(f"feed {feed!r} has no layout in seeds/feed_layouts.csv (feeds: {FEEDS})")
    cols = tuple(
        FeedColumn(
            feed=r["feed"],
            position=int(r["position"]),
            name=r["column_name"],
            element_name=r["element_name"],
            logical_type=r["logical_type"],
            code_set=r["code_set"],
            required=r["required"] == "Y",
            not_applicable_allowed=r["not_applicable_allowed"] == "Y",
            pii=r["pii"] == "Y",
            description=r["description"],
            restricted_element=r["restricted_element"].strip(),
        )
        for r in rows
    )
    return tuple(sorted(cols, key=lambda c: c.position))


def column_names(feed: str) -> list[str]:
    return [c.name for c in feed_layout(feed)]
