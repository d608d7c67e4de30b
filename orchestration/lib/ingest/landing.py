"""Finding feed files in a landing folder (layout: docs/feeds.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.reference import FEEDS

# file naming per feed; the folder names the partition, the file name repeats it
_PATTERNS = {
    "msds": re.compile(
        r"^msds/(?P<school_year>\d{4}-\d{2})/msds_(?P<collection>fall|spring|eoy|srm)_(?P=school_year)(?:_(?P<seq>\d{2}))?\.(?P<fmt>csv|parquet)$"
    ),
    "ps_enrollment": re.compile(
        r"^ps_enrollment/FY(?P<fiscal_year>\d{4})/enrollment_(?P<institution>\d{7})_FY(?P=fiscal_year)_(?P<term>SU|FA|WI|SP)\.(?P<fmt>csv|parquet)$"
    ),
    "ps_awards": re.compile(
        r"^ps_awards/FY(?P<fiscal_year>\d{4})/awards_(?P<institution>\d{7})_FY(?P=fiscal_year)\.(?P<fmt>csv|parquet)$"
    ),
}


@dataclass(frozen=True)
class LandingFile:
    feed: str
    path: Path
    relpath: str  # relative to the landing folder, as recorded with every row
    fields: dict

    @property
    def fmt(self) -> str:
        return self.fields["fmt"]


class LandingError(Exception):
    """A landing folder or file that cannot be used; the message says which and why."""


def discover(landing: Path, feed: str) -> list[LandingFile]:
    """Every file of `feed` under `landing`, in a stable order.

    Files whose names do not follow docs/feeds.md are reported, not skipped
    silently: a misnamed file would otherwise never be loaded and nobody would know.
    """
    if feed not in FEEDS:
        raise LandingError(f"unknown feed {feed!r}; feeds are {', '.join(FEEDS)}")
    if not landing.is_dir():
        raise LandingError(f"landing folder {landing} does not exist: run `sleds generate` or set SLEDS_LANDING")
    pattern = _PATTERNS[feed]
    root = landing / feed
    found, misnamed = [], []
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if not path.is_file() or path.name.endswith(".partial") or path.name.startswith("."):
            continue
        rel = path.relative_to(landing).as_posix()
        match = pattern.match(rel)
        if match:
            found.append(LandingFile(feed, path, rel, match.groupdict()))
        else:
            misnamed.append(rel)
    if misnamed:
        raise LandingError(
            f"{len(misnamed)} file(s) under {root} do not follow the {feed} naming in docs/feeds.md, "
            f"e.g. {misnamed[0]!r}"
        )
    return found
